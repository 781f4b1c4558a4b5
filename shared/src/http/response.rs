use super::cursor::Cursor;
use super::{ApiError, Problem};
use http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{Value, json};

pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .unwrap_or_default()
}

pub fn created(location: String, value: &impl Serialize) -> Response<Body> {
    let mut response = json(StatusCode::CREATED, value);
    if let Ok(location) = location.parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `{"items": [...], "next_cursor": ...}`, `next_cursor` null on the last page.
pub fn list<T: Serialize>(items: &[T], next: Option<Cursor>) -> Response<Body> {
    json(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": next.map(|c| c.0) }),
    )
}

/// The RFC 9457 problem document for `error`, with the id of the request it answers, the
/// one a client can quote.
pub fn problem(error: &ApiError, instance: &str, request_id: &str) -> Response<Body> {
    let Problem {
        status,
        code,
        title,
        detail,
        members,
    } = error.problem();
    let mut body = json!({
        "type": format!("https://marketplace.example/problems/{}", code.to_lowercase().replace('_', "-")),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
        "instance": instance,
        "request_id": request_id,
    });
    if let (Value::Object(body), Value::Object(members)) = (&mut body, members) {
        body.extend(members);
    }
    let mut response = json(status, &body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    if error.retry_later() {
        // Without the header clients guess, and many retry at once or never.
        response.headers_mut().insert(
            header::RETRY_AFTER,
            http::HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    response
}

/// What a 503 asks the client to wait, in seconds.
pub const RETRY_AFTER_SECS: &str = "1";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn only_unavailable_and_in_progress_problems_ask_the_client_to_retry_later() {
        let unavailable = problem(
            &ApiError::Unavailable(StoreError::Unavailable("timed out".into())),
            "/jobs",
            "r-1",
        );
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
        let in_progress = problem(&ApiError::KeyInUse, "/jobs", "r-3");
        assert_eq!(in_progress.status(), StatusCode::CONFLICT);
        assert_eq!(in_progress.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
        let not_found = problem(&ApiError::JobNotFound, "/jobs/x", "r-2");
        assert!(not_found.headers().get(header::RETRY_AFTER).is_none());
    }
}
