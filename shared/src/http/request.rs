use super::ApiError;
use crate::domain::{Fields, UserId};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Map, Value};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The caller: the `sub` claim the API Gateway JWT authorizer verified. Never a header or
/// a body field.
pub fn caller(req: &Request) -> Result<UserId, ApiError> {
    let sub = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub")),
        _ => None,
    };
    sub.and_then(|s| UserId::parse(s))
        .ok_or(ApiError::Unauthenticated)
}

/// The body as a JSON object; syntax problems are `MALFORMED_JSON`, size `PAYLOAD_TOO_LARGE`.
pub fn json_body(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::MalformedJson("expected a JSON object".into())),
        Err(e) => Err(ApiError::MalformedJson(e.to_string())),
    }
}

/// A path parameter parsed as an id; `None` when absent or malformed, which for an id in a
/// URL means nothing by that name exists.
pub fn path_id<T>(req: &Request, name: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .and_then(parse)
}

/// A query parameter as API Gateway's HTTP API passes it: a repeated one joined with commas
/// (`limit=5&limit=6` is `"5,6"`, which no parameter accepts), never silently its first.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.all(name))
        .map(|values| values.join(","))
}

/// Whether a request's body is declared JSON: `application/json` or a `+json` type, with
/// any parameters (`; charset=utf-8`).
pub fn declares_json(req: &Request) -> bool {
    let Some(content_type) = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The body's bytes, as the event carried them.
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    }
}

/// `limit` and `cursor`, shared by every list.
#[derive(Debug)]
pub struct ListQuery {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl ListQuery {
    pub const DEFAULT_LIMIT: u32 = 20;
    pub const MAX_LIMIT: u32 = 100;

    /// `limit` and `cursor` of a list that takes no other parameters.
    pub fn only(req: &Request) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let page = Self::parse(req, &mut fields);
        fields.finish(|| page).map_err(ApiError::Validation)
    }

    /// Parses `limit` and `cursor`, recording problems in `fields` so they are reported
    /// together with the list's own filters.
    pub fn parse(req: &Request, fields: &mut Fields) -> Option<Self> {
        let limit = fields.check(
            "limit",
            match query_param(req, "limit") {
                None => Ok(Self::DEFAULT_LIMIT),
                Some(raw) => raw
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("must be an integer between 1 and {}", Self::MAX_LIMIT)),
            },
        )?;
        // A blank cursor (`cursor=`) is a client's "no cursor yet": the first page.
        Some(Self {
            limit,
            cursor: query_param(req, "cursor").filter(|c| !c.is_empty()),
        })
    }
}
