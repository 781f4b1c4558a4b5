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
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
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
    Jwks(Box<Jwks>),
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
    /// one hour keeps this side no more lenient. Should that fetch fail, tokens are refused
    /// with `KeysUnavailable` until one succeeds: old keys are not trusted on.
    pub const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);

    /// Fetches nothing yet: the keys are fetched on the first RS256 token.
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
            KeySource::Jwks => Keys::Jwks(Box::new(Jwks {
                http: OnceLock::new(),
                discovery: format!(
                    "{}/.well-known/openid-configuration",
                    config.issuer.trim_end_matches('/')
                ),
                refetch_interval,
                max_age,
                cache: RwLock::default(),
                last_fetch: tokio::sync::Mutex::default(),
            })),
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
    /// Built on the first fetch: building it reads and parses the system's root
    /// certificates (or `SSL_CERT_FILE`), which only a fetch needs, and a failure to is then
    /// an unavailable key rather than a panic at start.
    http: OnceLock<reqwest::Client>,
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
    #[error("no HTTPS client: {0}")]
    Client(reqwest::Error),
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
        // current; after a failed fetch the token may well be good.
        if last.failed {
            Err(Refused::KeysUnavailable)
        } else {
            Err(invalid(Reason::UnknownKeyId))
        }
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
        let http = match self.http.get() {
            Some(http) => http,
            None => {
                let http = reqwest::Client::builder()
                    .build()
                    .map_err(FetchError::Client)?;
                self.http.get_or_init(|| http)
            }
        };
        Ok(http
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
mod tests;
