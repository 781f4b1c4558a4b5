//! The JWT check of the WebSocket API's `$connect` authorizer.
//!
//! The HTTP API's routes are guarded by API Gateway's JWT authorizer; a WebSocket API has
//! none, so a Lambda REQUEST authorizer runs this check on the `token` query parameter
//! instead. A client holds one token for both APIs, so this must accept exactly what the
//! JWT authorizer accepts: the same issuer and audience, keys found the same way, the same
//! claims checked. A token the HTTP API would refuse must not open a WebSocket.
//!
//! [`Verifier::verify`] answers [`Verified`] (allow `user`) or [`Refused`], which names a
//! reason for the logs and never carries the token or its claims.

use crate::config::ConfigError;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Which tokens the authorizer accepts, as the HTTP API's JWT authorizer is configured.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The `iss` every token must carry, compared as is; production's keys are discovered
    /// under it.
    pub issuer: String,
    /// An `aud` the token must carry (or, as API Gateway does, its `client_id` when it has
    /// no `aud`: Cognito's access tokens).
    pub audience: String,
    pub keys: KeySource,
}

/// Where the signing keys come from; also pins the one algorithm accepted, whatever a
/// token's header says.
#[derive(Clone)]
pub enum KeySource {
    /// RS256, with the keys the issuer publishes at the `jwks_uri` of its OpenID discovery
    /// document, as API Gateway finds them. Production.
    Jwks,
    /// HS256 with a shared secret, for the local stack alone, which has no identity
    /// provider. Never configured in production: anyone holding the secret mints tokens.
    Hs256 { secret: String },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Jwks => f.write_str("Jwks"),
            Self::Hs256 { .. } => f.write_str("Hs256 { .. }"),
        }
    }
}

impl KeySource {
    fn algorithm(&self) -> Algorithm {
        match self {
            Self::Jwks => Algorithm::RS256,
            Self::Hs256 { .. } => Algorithm::HS256,
        }
    }
}

impl AuthConfig {
    /// `JWT_ISSUER`, `JWT_AUDIENCE`, and `JWT_ALGORITHM`: `RS256` (keys from the issuer) or
    /// `HS256` (with `JWT_HS256_SECRET`). The algorithm has no default, so that a missing
    /// setting cannot quietly leave production on a shared secret.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same settings read through `lookup`, as [`crate::config::Config::from_lookup`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let keys = match var("JWT_ALGORITHM")?.as_str() {
            "RS256" => KeySource::Jwks,
            "HS256" => KeySource::Hs256 {
                secret: var("JWT_HS256_SECRET")?,
            },
            _ => {
                return Err(ConfigError::Invalid {
                    name: "JWT_ALGORITHM",
                    expected: "RS256 or HS256",
                });
            }
        };
        Ok(Self {
            issuer: var("JWT_ISSUER")?,
            audience: var("JWT_AUDIENCE")?,
            keys,
        })
    }
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its `sub`: the caller, as the HTTP API's handlers know them.
    pub user: String,
    /// Its `exp`, in Unix seconds: the connection should not outlive it.
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a token the HTTP API would accept: deny.
    #[error("invalid token: {0}")]
    Invalid(Reason),
    /// The issuer's keys could not be fetched, so no RS256 token can be checked. Refused
    /// rather than let through unchecked; unlike `Invalid`, worth an alarm.
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable,
}

/// Why a token is invalid, for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not a JWT, its header or claims unreadable, or a claim of the wrong type. A header
    /// naming no algorithm jsonwebtoken knows (`alg: none`) ends here too.
    Malformed,
    /// Its header's `alg` is not the configured one.
    Algorithm,
    /// An RS256 token without `kid`: API Gateway finds the key by `kid` alone.
    NoKeyId,
    /// Its `kid` is not among the issuer's keys, even after fetching them again.
    UnknownKeyId,
    Signature,
    /// No `exp`, `iss` or `sub`, or an empty `sub`.
    MissingClaim,
    Expired,
    /// `nbf` in the future.
    NotYetValid,
    /// `iat` in the future.
    IssuedInFuture,
    Issuer,
    Audience,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm not allowed",
            Self::NoKeyId => "no kid",
            Self::UnknownKeyId => "unknown kid",
            Self::Signature => "bad signature",
            Self::MissingClaim => "missing claim",
            Self::Expired => "expired",
            Self::NotYetValid => "not yet valid",
            Self::IssuedInFuture => "issued in the future",
            Self::Issuer => "wrong issuer",
            Self::Audience => "wrong audience",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn invalid(reason: Reason) -> Refused {
    Refused::Invalid(reason)
}

impl From<jsonwebtoken::errors::Error> for Refused {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        invalid(match error.kind() {
            ErrorKind::InvalidSignature => Reason::Signature,
            ErrorKind::ExpiredSignature => Reason::Expired,
            ErrorKind::ImmatureSignature => Reason::NotYetValid,
            ErrorKind::InvalidIssuer => Reason::Issuer,
            ErrorKind::InvalidAudience => Reason::Audience,
            ErrorKind::InvalidAlgorithm => Reason::Algorithm,
            ErrorKind::MissingRequiredClaim(_) => Reason::MissingClaim,
            _ => Reason::Malformed,
        })
    }
}

/// Checks tokens against one [`AuthConfig`], caching the issuer's keys in the process.
/// Cheap to clone: clones share the cache.
#[derive(Clone)]
pub struct Verifier(Arc<Inner>);

struct Inner {
    issuer: String,
    audience: String,
    validation: Validation,
    keys: Keys,
}

enum Keys {
    Secret(Arc<DecodingKey>),
    Jwks(Jwks),
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.0.issuer)
            .field("audience", &self.0.audience)
            .field("algorithm", &self.0.validation.algorithms)
            .finish_non_exhaustive()
    }
}

/// What the checks read from the claims; jsonwebtoken checks `iss`, `aud`, `nbf` and the
/// presence of `exp`, `iss` and `sub` itself (after reading these, hence the options).
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<f64>,
    iat: Option<f64>,
    aud: Option<IgnoredAny>,
    client_id: Option<String>,
}

impl Verifier {
    /// At most one fetch of the issuer's keys per this interval, however many tokens name
    /// an unknown `kid`: such tokens cost anyone nothing to send.
    pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
    /// One fetch (discovery, then JWKS) may take this long; a `$connect` waits for it.
    pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
    /// Keys older than this are fetched again before use, so that a key the issuer has
    /// withdrawn stops opening connections. API Gateway caches keys for up to two hours;
    /// one hour keeps this side no more lenient.
    pub const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);

    /// Fetches nothing yet: the keys are fetched on the first RS256 token.
    ///
    /// Panics, as `reqwest::Client::new` does, if the TLS backend cannot be initialised.
    pub fn new(config: AuthConfig) -> Self {
        Self::with_refetch_interval(config, Self::REFETCH_INTERVAL)
    }

    /// [`Verifier::new`] with another bound on re-fetches, for tests.
    pub fn with_refetch_interval(config: AuthConfig, refetch_interval: Duration) -> Self {
        Self::build(config, refetch_interval, Self::KEYS_MAX_AGE)
    }

    fn build(config: AuthConfig, refetch_interval: Duration, max_age: Duration) -> Self {
        let mut validation = Validation::new(config.keys.algorithm());
        // Zero leeway: API Gateway's JWT authorizer documents no allowance for clock skew,
        // and a token it already refuses as expired must not open a WebSocket. Lambda's
        // clocks are synchronised, so a fresh token is not refused for skew.
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        // `aud` is not required here: a token without it is checked by `client_id` below.
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let keys = match config.keys {
            KeySource::Hs256 { secret } => {
                Keys::Secret(Arc::new(DecodingKey::from_secret(secret.as_bytes())))
            }
            KeySource::Jwks => Keys::Jwks(Jwks {
                http: reqwest::Client::builder()
                    .build()
                    .expect("the TLS backend initialises"),
                discovery: format!(
                    "{}/.well-known/openid-configuration",
                    config.issuer.trim_end_matches('/')
                ),
                refetch_interval,
                max_age,
                cache: RwLock::default(),
                last_fetch: tokio::sync::Mutex::default(),
            }),
        };
        Self(Arc::new(Inner {
            issuer: config.issuer,
            audience: config.audience,
            validation,
            keys,
        }))
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, Refused> {
        let inner = &*self.0;
        let header = jsonwebtoken::decode_header(token)?;
        // Before any key is looked up: a token must not make this side fetch keys, nor pick
        // how its signature is checked (an HS256 token "signed" with the RSA public key).
        if !inner.validation.algorithms.contains(&header.alg) {
            return Err(invalid(Reason::Algorithm));
        }
        let key = match &inner.keys {
            Keys::Secret(key) => Arc::clone(key),
            Keys::Jwks(jwks) => {
                jwks.key(header.kid.as_deref().ok_or(invalid(Reason::NoKeyId))?)
                    .await?
            }
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &inner.validation)?.claims;
        let (Some(user), Some(exp)) = (claims.sub, claims.exp) else {
            return Err(invalid(Reason::MissingClaim));
        };
        let now = jsonwebtoken::get_current_timestamp() as f64;
        // jsonwebtoken lets `exp == now` through; API Gateway wants `exp` after now.
        if exp <= now {
            return Err(invalid(Reason::Expired));
        }
        if claims.iat.is_some_and(|iat| iat > now) {
            return Err(invalid(Reason::IssuedInFuture));
        }
        // API Gateway reads `client_id` only when there is no `aud`; jsonwebtoken has
        // checked `aud` when there is one.
        if claims.aud.is_none() && claims.client_id.as_deref() != Some(inner.audience.as_str()) {
            return Err(invalid(Reason::Audience));
        }
        if user.is_empty() {
            return Err(invalid(Reason::MissingClaim));
        }
        Ok(Verified {
            user,
            expires_at: exp as i64,
        })
    }
}

/// The issuer's RS256 keys by `kid`, fetched on demand.
struct Jwks {
    http: reqwest::Client,
    discovery: String,
    refetch_interval: Duration,
    max_age: Duration,
    cache: RwLock<Cache>,
    /// Held across a fetch, so that verifies missing a key together share one fetch.
    last_fetch: tokio::sync::Mutex<LastFetch>,
}

#[derive(Default)]
struct Cache {
    by_kid: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

#[derive(Default)]
struct LastFetch {
    started: Option<Instant>,
    failed: bool,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("timed out")]
    TimedOut,
    #[error("the JWKS has no RS256 signing key with a kid")]
    NoUsableKey,
}

impl Jwks {
    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, Refused> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut last = self.last_fetch.lock().await;
        // Whoever held the lock may have fetched this key meanwhile.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if last
            .started
            .is_none_or(|at| at.elapsed() >= self.refetch_interval)
        {
            last.started = Some(Instant::now());
            let fetched = tokio::time::timeout(Verifier::FETCH_TIMEOUT, self.fetch())
                .await
                .unwrap_or(Err(FetchError::TimedOut));
            last.failed = fetched.is_err();
            match fetched {
                Ok(by_kid) => {
                    *self.cache.write().unwrap_or_else(PoisonError::into_inner) = Cache {
                        by_kid,
                        fetched_at: Some(Instant::now()),
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, discovery = %self.discovery, "fetching the issuer's keys failed");
                }
            }
            if let Some(key) = self.cached(kid) {
                return Ok(key);
            }
        }
        // An unknown `kid` is the token's fault only if the keys it was looked up in are
        // current; otherwise the token may well be good, and refusing it is an outage.
        if last.failed || !self.fresh() {
            Err(Refused::KeysUnavailable)
        } else {
            Err(invalid(Reason::UnknownKeyId))
        }
    }

    fn fresh(&self) -> bool {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.max_age)
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        let fresh = cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.max_age);
        fresh.then(|| cache.by_kid.get(kid).cloned()).flatten()
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, FetchError> {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        #[derive(Deserialize)]
        struct Set {
            // Each key read on its own: one the library cannot read must not hide the rest.
            keys: Vec<serde_json::Value>,
        }
        let discovery: Discovery = self.get(&self.discovery).await?;
        let set: Set = self.get(&discovery.jwks_uri).await?;
        let by_kid: HashMap<_, _> = set
            .keys
            .into_iter()
            .filter_map(|jwk| usable(serde_json::from_value(jwk).ok()?))
            .collect();
        if by_kid.is_empty() {
            return Err(FetchError::NoUsableKey);
        }
        Ok(by_kid)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        Ok(self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

/// An RSA key the issuer means for RS256 signatures: what API Gateway can use.
fn usable(jwk: Jwk) -> Option<(String, Arc<DecodingKey>)> {
    let signing = matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    );
    let rs256 = matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256));
    if !signing || !rs256 || !matches!(jwk.algorithm, AlgorithmParameters::RSA(_)) {
        return None;
    }
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some((jwk.common.key_id?, Arc::new(key)))
}

#[cfg(test)]
mod tests {
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
}
