//! An identity provider for black-box tests of the WebSocket authorizer: OpenID discovery
//! and a JWKS on 127.0.0.1, as API Gateway's JWT authorizer finds keys, and tokens of every
//! kind the authorizer must accept or refuse.
//!
//! ```ignore
//! let idp = TestIssuer::serve().await;
//! // JWT_ALGORITHM=RS256, JWT_ISSUER=idp.issuer, JWT_AUDIENCE=idp.audience
//! let good = idp.mint("alice", 3600);
//! let foreign = idp.token("alice").signer(Signer::Foreign).mint();
//! let late = idp.token("alice").not_before_in(60).mint();
//! ```

use axum::Json;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

pub const AUDIENCE: &str = "marketplace";
/// Under which the issuer publishes its key.
pub const KID: &str = "test-key-1";
/// Under which [`TestIssuer::rotate`] publishes the next key.
pub const NEXT_KID: &str = "test-key-2";

/// Test-only RSA keys (PKCS#1 DER), made once per test run.
static KEY: LazyLock<Vec<u8>> = LazyLock::new(rsa_key);
static NEXT_KEY: LazyLock<Vec<u8>> = LazyLock::new(rsa_key);
static FOREIGN_KEY: LazyLock<Vec<u8>> = LazyLock::new(rsa_key);

fn rsa_key() -> Vec<u8> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
    key.to_pkcs1_der().expect("DER").as_bytes().to_vec()
}

fn jwk(der: &[u8], kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&EncodingKey::from_rsa_der(der), Algorithm::RS256)
        .expect("the public half of an RSA key");
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk
}

/// How a token is signed.
#[derive(Debug, Clone)]
pub enum Signer {
    /// RS256 with the issuer's published key: the only valid one.
    Issuer,
    /// RS256 with the key [`TestIssuer::rotate`] publishes.
    Next,
    /// RS256 with a key the issuer never published (under the issuer's `kid` unless told).
    Foreign,
    /// HS256 with this secret: the local stack's, or any.
    Hs256(String),
    /// `alg: none`, no signature.
    None,
}

/// Serves until dropped.
pub struct TestIssuer {
    /// `iss` of its tokens, and where its discovery document is: `http://127.0.0.1:PORT`.
    pub issuer: String,
    pub audience: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    jwks_served: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestIssuer {
    pub async fn serve() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port on 127.0.0.1");
        let issuer = format!("http://{}", listener.local_addr().expect("its address"));
        let keys = Arc::new(Mutex::new(vec![jwk(&KEY, KID)]));
        let jwks_served = Arc::new(AtomicUsize::new(0));
        let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json")});
        let (published, served) = (keys.clone(), jwks_served.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { Json(discovery) }),
            )
            .route(
                "/jwks.json",
                get(move || async move {
                    served.fetch_add(1, Ordering::SeqCst);
                    Json(json!({"keys": *published.lock().unwrap()}))
                }),
            );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the issuer serves");
        });
        Self {
            issuer,
            audience: AUDIENCE.to_owned(),
            keys,
            jwks_served,
            server,
        }
    }

    /// The authorizer's settings for this issuer, as `AuthConfig::from_env` reads them.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("JWT_ALGORITHM", "RS256".to_owned()),
            ("JWT_ISSUER", self.issuer.clone()),
            ("JWT_AUDIENCE", self.audience.clone()),
        ]
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_served(&self) -> usize {
        self.jwks_served.load(Ordering::SeqCst)
    }

    /// Publishes the next key under [`NEXT_KID`], the current one staying published, as in
    /// a rotation's grace period; sign with it through [`Signer::Next`].
    pub fn rotate(&self) {
        self.keys.lock().unwrap().push(jwk(&NEXT_KEY, NEXT_KID));
    }

    /// A valid token of `sub`, expiring `exp_from_now_secs` from now (negative: expired).
    pub fn mint(&self, sub: &str, exp_from_now_secs: i64) -> String {
        self.token(sub).expires_in(exp_from_now_secs).mint()
    }

    /// A valid token of `sub` for an hour, to spoil with the builder's methods.
    pub fn token(&self, sub: &str) -> TokenBuilder {
        let now = chrono::Utc::now().timestamp();
        TokenBuilder {
            claims: json!({
                "iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "exp": now + 3600,
            }),
            signer: Signer::Issuer,
            kid: None,
        }
    }
}

pub struct TokenBuilder {
    claims: Value,
    signer: Signer,
    kid: Option<Option<String>>,
}

impl TokenBuilder {
    /// Sets a claim; `Value::Null` removes it (`.claim("sub", Value::Null)`).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        let claims = self.claims.as_object_mut().expect("claims are an object");
        match value.into() {
            Value::Null => claims.remove(name),
            value => claims.insert(name.to_owned(), value),
        };
        self
    }

    pub fn audience(self, audience: impl Into<Value>) -> Self {
        self.claim("aud", audience)
    }

    pub fn issuer(self, issuer: &str) -> Self {
        self.claim("iss", issuer)
    }

    pub fn expires_in(self, secs: i64) -> Self {
        self.claim("exp", chrono::Utc::now().timestamp() + secs)
    }

    pub fn not_before_in(self, secs: i64) -> Self {
        self.claim("nbf", chrono::Utc::now().timestamp() + secs)
    }

    pub fn signer(mut self, signer: Signer) -> Self {
        self.signer = signer;
        self
    }

    /// The header's `kid`; `None` leaves it out. By default, the signer's own.
    pub fn kid(mut self, kid: Option<&str>) -> Self {
        self.kid = Some(kid.map(str::to_owned));
        self
    }

    pub fn mint(self) -> String {
        let (algorithm, key, kid) = match &self.signer {
            Signer::Issuer => (Algorithm::RS256, rsa(&KEY), Some(KID)),
            Signer::Next => (Algorithm::RS256, rsa(&NEXT_KEY), Some(NEXT_KID)),
            Signer::Foreign => (Algorithm::RS256, rsa(&FOREIGN_KEY), Some(KID)),
            Signer::Hs256(secret) => (
                Algorithm::HS256,
                EncodingKey::from_secret(secret.as_bytes()),
                None,
            ),
            Signer::None => {
                let mut header = json!({"alg": "none", "typ": "JWT"});
                if let Some(kid) = self.kid.unwrap_or(Some(KID.to_owned())) {
                    header["kid"] = kid.into();
                }
                let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
                return format!("{}.{}.", encode(&header), encode(&self.claims));
            }
        };
        let mut header = Header::new(algorithm);
        header.kid = self.kid.unwrap_or(kid.map(str::to_owned));
        jsonwebtoken::encode(&header, &self.claims, &key).expect("signing a token")
    }
}

fn rsa(der: &[u8]) -> EncodingKey {
    EncodingKey::from_rsa_der(der)
}

/// The helper against the verifier it is for: each kind of token gets its outcome.
#[tokio::test]
async fn the_test_issuers_tokens_meet_the_authorizers_verdicts() {
    use shared::auth::{AuthConfig, Reason, Refused, Verifier};
    let idp = TestIssuer::serve().await;
    let env = idp.env();
    let config = AuthConfig::from_lookup(|name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .expect("the issuer's settings");
    let verifier = Verifier::with_refetch_interval(config, std::time::Duration::ZERO);
    let invalid = |reason| Err(Refused::Invalid(reason));
    let local = local_gateway::auth::DEFAULT_SECRET.to_owned();

    let verified = verifier.verify(&idp.mint("alice", 60)).await.unwrap();
    assert_eq!(verified.user, "alice");
    let cases = [
        (idp.mint("alice", -1), Reason::Expired),
        (
            idp.token("alice").not_before_in(60).mint(),
            Reason::NotYetValid,
        ),
        (
            idp.token("alice").audience("another-app").mint(),
            Reason::Audience,
        ),
        (
            idp.token("alice")
                .issuer("https://elsewhere.example")
                .mint(),
            Reason::Issuer,
        ),
        (
            idp.token("alice").claim("sub", Value::Null).mint(),
            Reason::MissingClaim,
        ),
        (
            idp.token("alice").signer(Signer::Foreign).mint(),
            Reason::Signature,
        ),
        (
            idp.token("alice").signer(Signer::Next).mint(),
            Reason::UnknownKeyId,
        ),
        (
            idp.token("alice").signer(Signer::Hs256(local)).mint(),
            Reason::Algorithm,
        ),
        (
            idp.token("alice").signer(Signer::None).mint(),
            Reason::Malformed,
        ),
    ];
    for (token, reason) in cases {
        assert_eq!(verifier.verify(&token).await.map(|_| ()), invalid(reason));
    }
    idp.rotate();
    let next = idp.token("alice").signer(Signer::Next).mint();
    assert!(verifier.verify(&next).await.is_ok());
    assert_eq!(idp.jwks_served(), 3, "one fetch, one per unknown kid");
}
