//! An answer of the API as a test sees it.

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Whether this is an answer kept for an `Idempotency-Key`, sent again.
    pub fn replayed(&self) -> bool {
        self.headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    }

    /// Fails the test with the whole reply unless the status is `status`.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected reply: {self:#?}");
        self.body
    }

    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected reply: {self:#?}"
        );
        assert_eq!(self.content_type, "application/problem+json");
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        // The id a client can quote: in the body, and in the header of every function's
        // answer (a replay's body keeps the first request's).
        let quoted = self.body["request_id"].as_str().unwrap_or_default();
        assert!(!quoted.is_empty(), "no request_id: {self:#?}");
        let header = self.header("x-request-id").expect("x-request-id");
        if !self.replayed() {
            assert_eq!(quoted, header);
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// API Gateway's JWT authorizer's own 401, which no function produces.
    #[track_caller]
    pub fn expect_unauthorized(&self) {
        assert_eq!(
            (self.status, &self.body),
            (401, &serde_json::json!({"message": "Unauthorized"})),
            "unexpected reply: {self:#?}"
        );
        assert!(
            self.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer"))
        );
        assert!(self.header("apigw-requestid").is_some());
        assert!(self.header("x-request-id").is_none());
    }
}
