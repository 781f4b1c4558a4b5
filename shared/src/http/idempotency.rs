//! The `Idempotency-Key` header at the HTTP edge: which request a key names (its
//! fingerprint), and answers as they are kept and replayed.

use super::ApiError;
use crate::domain::{IdempotencyKey, KeyedRequest, StoredAnswer, UserId};
use http::{HeaderValue, Method, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The keyed request `req` is, when it is a POST sent with an `Idempotency-Key` by `user`.
pub fn keyed_request(req: &Request, user: UserId) -> Result<Option<KeyedRequest>, ApiError> {
    if req.method() != Method::POST {
        return Ok(None);
    }
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .and_then(IdempotencyKey::parse)
        .ok_or_else(|| {
            ApiError::validation(
                "Idempotency-Key",
                format!(
                    "must be 1 to {} printable ASCII characters",
                    IdempotencyKey::MAX_LEN
                ),
            )
        })?;
    Ok(Some(KeyedRequest {
        user_id: user,
        key,
        fingerprint: fingerprint(req),
        mark: ulid::Ulid::generate().to_string(),
    }))
}

/// SHA-256 (hex) of the method, the route, the path parameters and the body, the body as
/// canonical JSON (keys sorted, no whitespace) when it is JSON: the same request sent again
/// with its fields reordered is the same request.
pub fn fingerprint(req: &Request) -> String {
    let route = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let parameters: BTreeMap<&str, Vec<&str>> = req
        .path_parameters_ref()
        .map(|p| {
            p.iter()
                .map(|(k, _)| (k, p.all(k).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let bytes = super::request::body_bytes(req);
    let body = serde_json::from_slice::<Value>(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()));
    // serde_json's maps are sorted, so the encoding of the whole is canonical, and as JSON
    // no part can run into the next.
    let canonical =
        serde_json::to_vec(&(req.method().as_str(), route, parameters, body)).unwrap_or_default();
    Sha256::digest(canonical)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An answer as it is kept.
pub fn stored(response: &Response<Body>) -> StoredAnswer {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let body = match response.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    StoredAnswer {
        status: response.status().as_u16(),
        content_type: header(header::CONTENT_TYPE).unwrap_or_default(),
        location: header(header::LOCATION),
        body,
    }
}

/// A kept answer, sent again: its status, body and `Location`, marked as a replay.
pub fn replay(answer: &StoredAnswer) -> Response<Body> {
    let mut response = kept(answer);
    response.headers_mut().insert(
        IDEMPOTENT_REPLAYED,
        header::HeaderValue::from_static("true"),
    );
    response
}

/// A kept answer as the answer of the request that kept it: its status, body and
/// `Location`, not marked as a replay.
pub fn kept(answer: &StoredAnswer) -> Response<Body> {
    let mut response = Response::builder()
        .status(answer.status)
        .header(header::CONTENT_TYPE, answer.content_type.as_str());
    if let Some(location) = &answer.location {
        response = response.header(header::LOCATION, location.as_str());
    }
    response
        .body(Body::Text(answer.body.clone()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::json;
    use http::StatusCode;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use std::collections::HashMap;

    fn request(body: &str, job_id: &str) -> Request {
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.route_key = Some("POST /jobs/{job_id}/hire".into());
        let mut req = Request::new(Body::Text(body.to_owned()));
        *req.method_mut() = Method::POST;
        req.with_request_context(RequestContext::ApiGatewayV2(context))
            .with_path_parameters(HashMap::from([("job_id".to_owned(), job_id.to_owned())]))
    }

    #[test]
    fn a_fingerprint_ignores_field_order_and_whitespace_but_not_values_or_paths() {
        let a = fingerprint(&request(r#"{"application_id":"A","x":1}"#, "J1"));
        assert_eq!(a.len(), 64);
        assert_eq!(
            a,
            fingerprint(&request(r#"{ "x": 1, "application_id": "A" }"#, "J1"))
        );
        assert_ne!(
            a,
            fingerprint(&request(r#"{"application_id":"B","x":1}"#, "J1"))
        );
        assert_ne!(
            a,
            fingerprint(&request(r#"{"application_id":"A","x":1}"#, "J2"))
        );
    }

    #[test]
    fn a_replay_is_the_kept_answer_marked_as_one() {
        let mut original = json(StatusCode::CREATED, &serde_json::json!({"job_id": "J"}));
        original
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/jobs/J"));
        let again = replay(&stored(&original));
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(again.headers()[header::LOCATION], "/jobs/J");
        assert_eq!(again.headers()[IDEMPOTENT_REPLAYED], "true");
        assert_eq!(again.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(again.body(), original.body());
    }

    #[test]
    fn a_bad_key_is_a_validation_failure_naming_the_header() {
        let mut req = request("{}", "J1");
        req.headers_mut()
            .insert(IDEMPOTENCY_KEY, HeaderValue::from_static(""));
        let user = UserId::parse("alice").unwrap();
        match keyed_request(&req, user.clone()) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, "Idempotency-Key"),
            other => panic!("not refused: {other:?}"),
        }
        req.headers_mut()
            .insert(IDEMPOTENCY_KEY, HeaderValue::from_static("k-1"));
        let keyed = keyed_request(&req, user).unwrap().unwrap();
        assert_eq!(keyed.key.as_str(), "k-1");
    }
}
