use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const AUDIENCE: &str = "marketplace";
const LOCAL_SECRET: &str = "marketplace-local-development-secret";

/// Test-only RSA keys (PKCS#1 DER), made once per run: generating one takes a while.
static KEY: LazyLock<Vec<u8>> = LazyLock::new(rsa_key);
static OTHER_KEY: LazyLock<Vec<u8>> = LazyLock::new(rsa_key);

fn rsa_key() -> Vec<u8> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    key.to_pkcs1_der().unwrap().as_bytes().to_vec()
}

fn jwk(der: &[u8], kid: &str) -> Value {
    let mut jwk =
        Jwk::from_encoding_key(&EncodingKey::from_rsa_der(der), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    serde_json::to_value(jwk).unwrap()
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn rs256(der: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der)).unwrap()
}

fn hs256(secret: &str, claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

/// Discovery and JWKS on 127.0.0.1, as an identity provider serves them.
struct Issuer {
    url: String,
    keys: Arc<std::sync::Mutex<Vec<Value>>>,
    /// JWKS documents served: one per fetch.
    fetches: Arc<AtomicUsize>,
    /// Answers 503 to everything while set.
    down: Arc<AtomicBool>,
    /// Accepts connections and never answers while set.
    hang: Arc<AtomicBool>,
}

impl Issuer {
    async fn serve(keys: Vec<Value>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = Self {
            url: format!("http://{}", listener.local_addr().unwrap()),
            keys: Arc::new(std::sync::Mutex::new(keys)),
            fetches: Arc::default(),
            down: Arc::default(),
            hang: Arc::default(),
        };
        let (url, keys, fetches, down, hang) = (
            issuer.url.clone(),
            issuer.keys.clone(),
            issuer.fetches.clone(),
            issuer.down.clone(),
            issuer.hang.clone(),
        );
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                if hang.load(Ordering::SeqCst) {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        drop(socket);
                    });
                    continue;
                }
                let request = String::from_utf8_lossy(&request);
                let path = request.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = match path {
                    _ if down.load(Ordering::SeqCst) => ("503 Unavailable", json!({})),
                    "/.well-known/openid-configuration" => (
                        "200 OK",
                        json!({"issuer": url, "jwks_uri": format!("{url}/jwks.json")}),
                    ),
                    "/jwks.json" => {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        ("200 OK", json!({"keys": *keys.lock().unwrap()}))
                    }
                    _ => ("404 Not Found", json!({})),
                };
                let body = body.to_string();
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        issuer
    }

    fn config(&self) -> AuthConfig {
        AuthConfig {
            issuer: self.url.clone(),
            audience: AUDIENCE.to_owned(),
            keys: KeySource::Jwks,
        }
    }

    fn claims(&self) -> Value {
        json!({"iss": self.url, "aud": AUDIENCE, "sub": "alice", "iat": now(), "exp": now() + 600})
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// An issuer publishing `KEY` as `k1`, and a verifier of its tokens.
async fn issuer() -> (Issuer, Verifier) {
    let issuer = Issuer::serve(vec![jwk(&KEY, "k1")]).await;
    let verifier = Verifier::new(issuer.config());
    (issuer, verifier)
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

#[tokio::test]
async fn a_valid_rs256_token_is_accepted_with_its_sub_and_exp() {
    let (issuer, verifier) = issuer().await;
    let exp = now() + 600;
    let token = rs256(
        &KEY,
        Some("k1"),
        &with(issuer.claims(), json!({"exp": exp})),
    );
    let verified = Verified {
        user: "alice".to_owned(),
        expires_at: exp,
    };
    assert_eq!(verifier.verify(&token).await, Ok(verified.clone()));
    assert_eq!(verifier.clone().verify(&token).await, Ok(verified));
    assert_eq!(
        issuer.fetches(),
        1,
        "the keys are cached, clones share them"
    );
}

#[tokio::test]
async fn the_issuers_trailing_slash_is_not_doubled_in_the_discovery_url() {
    let issuer = Issuer::serve(vec![jwk(&KEY, "k1")]).await;
    let iss = format!("{}/", issuer.url);
    let verifier = Verifier::new(AuthConfig {
        issuer: iss.clone(),
        ..issuer.config()
    });
    let token = rs256(
        &KEY,
        Some("k1"),
        &with(issuer.claims(), json!({"iss": iss})),
    );
    assert_eq!(verifier.verify(&token).await.unwrap().user, "alice");
}

#[tokio::test]
async fn time_claims_are_checked_without_leeway() {
    let (issuer, verifier) = issuer().await;
    let cases = [
        (json!({"exp": now() - 1}), Reason::Expired),
        (json!({"exp": now()}), Reason::Expired),
        (json!({"exp": null}), Reason::MissingClaim),
        (json!({"exp": "tomorrow"}), Reason::Malformed),
        (json!({"nbf": now() + 60}), Reason::NotYetValid),
        (json!({"iat": now() + 60}), Reason::IssuedInFuture),
    ];
    for (changes, reason) in cases {
        let token = rs256(&KEY, Some("k1"), &with(issuer.claims(), changes.clone()));
        assert_eq!(
            verifier.verify(&token).await,
            Err(Refused::Invalid(reason)),
            "{changes}"
        );
    }
    let past_nbf = rs256(
        &KEY,
        Some("k1"),
        &with(issuer.claims(), json!({"nbf": now()})),
    );
    assert!(verifier.verify(&past_nbf).await.is_ok());
}

#[tokio::test]
async fn the_audience_is_aud_or_else_client_id() {
    let (issuer, verifier) = issuer().await;
    let cases = [
        (json!({"aud": "another-app"}), Err(Reason::Audience)),
        (json!({"aud": ["another-app", AUDIENCE]}), Ok(())),
        (json!({"aud": []}), Err(Reason::Audience)),
        (json!({"aud": null}), Err(Reason::Audience)),
        (json!({"aud": null, "client_id": AUDIENCE}), Ok(())),
        (
            json!({"aud": null, "client_id": "another-app"}),
            Err(Reason::Audience),
        ),
        // `aud` wins over `client_id`, as in API Gateway.
        (
            json!({"aud": "another-app", "client_id": AUDIENCE}),
            Err(Reason::Audience),
        ),
    ];
    for (changes, outcome) in cases {
        let token = rs256(&KEY, Some("k1"), &with(issuer.claims(), changes.clone()));
        let result = verifier.verify(&token).await.map(|_| ());
        assert_eq!(result, outcome.map_err(Refused::Invalid), "{changes}");
    }
}

#[tokio::test]
async fn the_issuer_and_subject_are_required() {
    let (issuer, verifier) = issuer().await;
    let cases = [
        (json!({"iss": "https://elsewhere.example"}), Reason::Issuer),
        (json!({"iss": format!("{}/", issuer.url)}), Reason::Issuer),
        (json!({"iss": null}), Reason::MissingClaim),
        (json!({"sub": null}), Reason::MissingClaim),
        (json!({"sub": ""}), Reason::MissingClaim),
        (json!({"sub": 42}), Reason::Malformed),
    ];
    for (changes, reason) in cases {
        let token = rs256(&KEY, Some("k1"), &with(issuer.claims(), changes.clone()));
        assert_eq!(
            verifier.verify(&token).await,
            Err(Refused::Invalid(reason)),
            "{changes}"
        );
    }
}

#[tokio::test]
async fn a_foreign_key_under_a_known_kid_fails_the_signature() {
    let (issuer, verifier) = issuer().await;
    let token = rs256(&OTHER_KEY, Some("k1"), &issuer.claims());
    assert_eq!(
        verifier.verify(&token).await,
        Err(Refused::Invalid(Reason::Signature))
    );
    let good = rs256(&KEY, Some("k1"), &issuer.claims());
    let (head, _) = good.rsplit_once('.').unwrap();
    let (_, foreign_signature) = token.rsplit_once('.').unwrap();
    assert_eq!(
        verifier
            .verify(&format!("{head}.{foreign_signature}"))
            .await,
        Err(Refused::Invalid(Reason::Signature))
    );
}

#[tokio::test]
async fn unknown_kids_share_one_bounded_fetch() {
    let (issuer, verifier) = issuer().await;
    let token = rs256(&OTHER_KEY, Some("k9"), &issuer.claims());
    let together = futures::future::join_all((0..10).map(|_| verifier.verify(&token))).await;
    assert!(
        together
            .iter()
            .all(|r| *r == Err(Refused::Invalid(Reason::UnknownKeyId))),
        "{together:?}"
    );
    for _ in 0..5 {
        assert_eq!(
            verifier.verify(&token).await,
            Err(Refused::Invalid(Reason::UnknownKeyId))
        );
    }
    assert_eq!(issuer.fetches(), 1);
    let no_kid = rs256(&KEY, None, &issuer.claims());
    assert_eq!(
        verifier.verify(&no_kid).await,
        Err(Refused::Invalid(Reason::NoKeyId))
    );
    assert_eq!(issuer.fetches(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch() {
    let issuer = Issuer::serve(vec![jwk(&KEY, "k1")]).await;
    let interval = Duration::from_secs(1);
    let verifier = Verifier::with_refetch_interval(issuer.config(), interval);
    let old = rs256(&KEY, Some("k1"), &issuer.claims());
    // Both keys made before the clock starts: making one takes a good part of the interval.
    let new = rs256(&OTHER_KEY, Some("k2"), &issuer.claims());
    assert!(verifier.verify(&old).await.is_ok());

    issuer.keys.lock().unwrap().push(jwk(&OTHER_KEY, "k2"));
    assert_eq!(
        verifier.verify(&new).await,
        Err(Refused::Invalid(Reason::UnknownKeyId)),
        "within the interval the keys are not fetched again"
    );
    assert_eq!(issuer.fetches(), 1);
    tokio::time::sleep(interval).await;
    assert_eq!(verifier.verify(&new).await.unwrap().user, "alice");
    assert!(verifier.verify(&old).await.is_ok());
    assert!(verifier.verify(&new).await.is_ok());
    assert_eq!(issuer.fetches(), 2);
}

#[tokio::test]
async fn a_withdrawn_key_is_refused_once_the_keys_are_old() {
    let issuer = Issuer::serve(vec![jwk(&KEY, "k1"), jwk(&OTHER_KEY, "k2")]).await;
    let max_age = Duration::from_secs(1);
    let verifier = Verifier::build(issuer.config(), Duration::ZERO, max_age);
    let token = rs256(&OTHER_KEY, Some("k2"), &issuer.claims());
    assert!(verifier.verify(&token).await.is_ok());
    issuer.keys.lock().unwrap().pop();
    assert!(verifier.verify(&token).await.is_ok(), "still fresh");
    assert_eq!(issuer.fetches(), 1);
    tokio::time::sleep(max_age).await;
    assert_eq!(
        verifier.verify(&token).await,
        Err(Refused::Invalid(Reason::UnknownKeyId))
    );
    assert_eq!(issuer.fetches(), 2);

    let kept = rs256(&KEY, Some("k1"), &issuer.claims());
    assert!(verifier.verify(&kept).await.is_ok());
    issuer.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(max_age).await;
    assert_eq!(
        verifier.verify(&kept).await,
        Err(Refused::KeysUnavailable),
        "old keys are not trusted on when they cannot be fetched again"
    );
}

#[tokio::test]
async fn keys_that_cannot_be_fetched_refuse_every_token() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let verifier = Verifier::new(AuthConfig {
        issuer: url.clone(),
        audience: AUDIENCE.to_owned(),
        keys: KeySource::Jwks,
    });
    let claims = json!({"iss": url, "aud": AUDIENCE, "sub": "alice", "exp": now() + 600});
    for kid in ["k1", "k2", "k1"] {
        let token = rs256(&KEY, Some(kid), &claims);
        assert_eq!(verifier.verify(&token).await, Err(Refused::KeysUnavailable));
    }
}

#[tokio::test]
async fn keys_unavailable_until_the_issuer_answers_again() {
    let issuer = Issuer::serve(vec![jwk(&KEY, "k1")]).await;
    let interval = Duration::from_secs(1);
    let verifier = Verifier::with_refetch_interval(issuer.config(), interval);
    let token = rs256(&KEY, Some("k1"), &issuer.claims());
    issuer.down.store(true, Ordering::SeqCst);
    assert_eq!(verifier.verify(&token).await, Err(Refused::KeysUnavailable));
    issuer.down.store(false, Ordering::SeqCst);
    assert_eq!(
        verifier.verify(&token).await,
        Err(Refused::KeysUnavailable),
        "no new attempt within the interval"
    );
    tokio::time::sleep(interval).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(issuer.fetches(), 1);
}

#[tokio::test]
async fn a_hanging_issuer_times_out() {
    let issuer = Issuer::serve(vec![jwk(&KEY, "k1")]).await;
    issuer.hang.store(true, Ordering::SeqCst);
    let verifier = Verifier::new(issuer.config());
    let started = Instant::now();
    let token = rs256(&KEY, Some("k1"), &issuer.claims());
    assert_eq!(verifier.verify(&token).await, Err(Refused::KeysUnavailable));
    let took = started.elapsed();
    assert!(
        took >= Verifier::FETCH_TIMEOUT && took < Verifier::FETCH_TIMEOUT * 2,
        "{took:?}"
    );
}

#[tokio::test]
async fn only_rsa_signing_keys_for_rs256_are_used() {
    let mut enc = jwk(&OTHER_KEY, "enc");
    enc["use"] = json!("enc");
    let mut rs512 = jwk(&OTHER_KEY, "rs512");
    rs512["alg"] = json!("RS512");
    let oct = json!({"kty": "oct", "kid": "oct", "k": URL_SAFE_NO_PAD.encode(LOCAL_SECRET)});
    let unreadable = json!({"kty": "RSA", "kid": "bad", "n": 7});
    let issuer = Issuer::serve(vec![enc, rs512, oct, unreadable, jwk(&KEY, "k1")]).await;
    let verifier = Verifier::new(issuer.config());
    assert!(
        verifier
            .verify(&rs256(&KEY, Some("k1"), &issuer.claims()))
            .await
            .is_ok()
    );
    for kid in ["enc", "rs512"] {
        let token = rs256(&OTHER_KEY, Some(kid), &issuer.claims());
        assert_eq!(
            verifier.verify(&token).await,
            Err(Refused::Invalid(Reason::UnknownKeyId)),
            "{kid}"
        );
    }
}

#[tokio::test]
async fn a_jwks_without_a_usable_key_is_unavailable() {
    let mut enc = jwk(&KEY, "k1");
    enc["use"] = json!("enc");
    let issuer = Issuer::serve(vec![enc]).await;
    let verifier = Verifier::new(issuer.config());
    let token = rs256(&KEY, Some("k1"), &issuer.claims());
    assert_eq!(verifier.verify(&token).await, Err(Refused::KeysUnavailable));
    assert_eq!(issuer.fetches(), 1);
}

#[tokio::test]
async fn only_the_configured_algorithm_is_accepted() {
    let (issuer, verifier) = issuer().await;
    // The local stack's secret, and the classic confusion: HMAC keyed by the public key.
    let public = serde_json::to_vec(&jwk(&KEY, "k1")).unwrap();
    let hmac = [
        hs256(LOCAL_SECRET, &issuer.claims()),
        hs256(std::str::from_utf8(&public).unwrap(), &issuer.claims()),
    ];
    for token in hmac {
        assert_eq!(
            verifier.verify(&token).await,
            Err(Refused::Invalid(Reason::Algorithm))
        );
    }
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(issuer.claims().to_string()),
    );
    assert_eq!(
        verifier.verify(&none).await,
        Err(Refused::Invalid(Reason::Malformed))
    );
    assert_eq!(
        issuer.fetches(),
        0,
        "no refused algorithm makes us fetch keys"
    );
}

#[tokio::test]
async fn garbage_is_malformed() {
    let (issuer, verifier) = issuer().await;
    let good = rs256(&KEY, Some("k1"), &issuer.claims());
    let truncated = &good[..good.find('.').unwrap() + 10];
    let spaced = format!(" {good}");
    for garbage in [
        "",
        "abc",
        "a.b.c",
        "...",
        "Bearer x.y.z",
        truncated,
        &spaced,
    ] {
        assert_eq!(
            verifier.verify(garbage).await,
            Err(Refused::Invalid(Reason::Malformed)),
            "{garbage:?}"
        );
    }
    assert_eq!(issuer.fetches(), 0);
}

#[tokio::test]
async fn the_hs256_config_accepts_its_own_tokens_only() {
    let verifier = Verifier::new(AuthConfig {
        issuer: "marketplace-local".to_owned(),
        audience: AUDIENCE.to_owned(),
        keys: KeySource::Hs256 {
            secret: LOCAL_SECRET.to_owned(),
        },
    });
    let exp = now() + 600;
    let claims = json!({"iss": "marketplace-local", "aud": AUDIENCE, "sub": "bob", "exp": exp});
    assert_eq!(
        verifier.verify(&hs256(LOCAL_SECRET, &claims)).await,
        Ok(Verified {
            user: "bob".to_owned(),
            expires_at: exp
        })
    );
    let cases = [
        (hs256("another-secret", &claims), Reason::Signature),
        (rs256(&KEY, Some("k1"), &claims), Reason::Algorithm),
        (
            hs256(
                LOCAL_SECRET,
                &with(claims.clone(), json!({"exp": now() - 1})),
            ),
            Reason::Expired,
        ),
        (
            hs256(LOCAL_SECRET, &with(claims.clone(), json!({"aud": "x"}))),
            Reason::Audience,
        ),
    ];
    for (token, reason) in cases {
        assert_eq!(verifier.verify(&token).await, Err(Refused::Invalid(reason)));
    }
}

fn lookup<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
    |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn the_config_names_its_algorithm() {
    let rs = [
        ("JWT_ISSUER", "https://idp.example"),
        ("JWT_AUDIENCE", "app"),
        ("JWT_ALGORITHM", "RS256"),
    ];
    let config = AuthConfig::from_lookup(lookup(&rs)).unwrap();
    assert!(matches!(config.keys, KeySource::Jwks));
    assert_eq!(
        (config.issuer.as_str(), config.audience.as_str()),
        ("https://idp.example", "app")
    );

    let hs = [
        ("JWT_ISSUER", "marketplace-local"),
        ("JWT_AUDIENCE", "marketplace"),
        ("JWT_ALGORITHM", "HS256"),
        ("JWT_HS256_SECRET", LOCAL_SECRET),
    ];
    let config = AuthConfig::from_lookup(lookup(&hs)).unwrap();
    assert!(matches!(&config.keys, KeySource::Hs256 { secret } if secret == LOCAL_SECRET));
    let shown = format!("{config:?} {:?}", Verifier::new(config.clone()));
    assert!(!shown.contains(LOCAL_SECRET), "{shown}");

    let missing = |vars: &[(&str, &str)]| AuthConfig::from_lookup(lookup(vars)).unwrap_err();
    assert_eq!(missing(&hs[..3]), ConfigError::Missing("JWT_HS256_SECRET"));
    assert_eq!(missing(&rs[..2]), ConfigError::Missing("JWT_ALGORITHM"));
    assert_eq!(missing(&rs[1..]), ConfigError::Missing("JWT_ISSUER"));
    for algorithm in ["rs256", "none", "RS512", "ES256"] {
        let vars = [rs[0], rs[1], ("JWT_ALGORITHM", algorithm)];
        assert_eq!(
            missing(&vars).to_string(),
            "environment variable JWT_ALGORITHM must be RS256 or HS256"
        );
    }
}
