//! Local stand-in for the API Gateway JWT authorizer: HS256 tokens signed with a dev
//! secret, checked for issuer, audience and expiry like the real authorizer would.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use shared::auth::{AuthConfig, KeySource};
use std::collections::HashMap;

pub const ISSUER: &str = "marketplace-local";
pub const AUDIENCE: &str = "marketplace";
pub const DEFAULT_SECRET: &str = "marketplace-local-development-secret";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: i64,
    iat: i64,
}

#[derive(Clone)]
pub struct Auth {
    secret: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth(..)")
    }
}

impl Auth {
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// `MARKETPLACE_LOCAL_JWT_SECRET`, or the documented development default.
    pub fn from_env() -> Self {
        Self::new(
            std::env::var("MARKETPLACE_LOCAL_JWT_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_SECRET.to_owned()),
        )
    }

    /// What the WebSocket API's authorizer accepts locally: these tokens. Production's is
    /// RS256 against the issuer's keys; this HS256 secret exists only in the local stack.
    pub fn socket_config(&self) -> AuthConfig {
        AuthConfig {
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            keys: KeySource::Hs256 {
                secret: self.secret.clone(),
            },
        }
    }

    pub fn mint(&self, user: &str, ttl: chrono::Duration) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            exp: now + ttl.num_seconds(),
            iat: now,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .expect("HS256 signing cannot fail")
    }

    /// The claims of a valid `Authorization: Bearer …` value, as strings, which is how API
    /// Gateway passes JWT claims to a function.
    pub fn verify(&self, authorization: Option<&str>) -> Option<HashMap<String, String>> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &DecodingKey::from_secret(self.secret.as_bytes()),
            &validation,
        )
        .ok()?;
        let claims = data.claims.as_object()?;
        Some(
            claims
                .iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    (k.clone(), v)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies_and_carries_sub() {
        let auth = Auth::new(DEFAULT_SECRET);
        let token = auth.mint("alice", chrono::Duration::hours(1));
        let claims = auth.verify(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["iss"], ISSUER);
    }

    #[test]
    fn wrong_secret_expired_or_missing_tokens_are_refused() {
        let auth = Auth::new(DEFAULT_SECRET);
        let other = Auth::new("another-secret-that-is-long-enough-000");
        let token = other.mint("alice", chrono::Duration::hours(1));
        assert!(auth.verify(Some(&format!("Bearer {token}"))).is_none());
        let expired = auth.mint("alice", chrono::Duration::hours(-1));
        assert!(auth.verify(Some(&format!("Bearer {expired}"))).is_none());
        assert!(auth.verify(None).is_none());
        assert!(auth.verify(Some("Bearer not.a.jwt")).is_none());
        let token = auth.mint("alice", chrono::Duration::hours(1));
        assert!(auth.verify(Some(&token)).is_none(), "scheme is required");
    }
}
