//! Holds every answer a black-box test receives to the published contract
//! (`infra/openapi.yaml`): its status is documented for the operation, its content type
//! too, its body validates against that response's schema, and its documented headers are
//! there and valid. `TestApp::send` checks every reply, so no test can pass on an answer the
//! document does not describe.

use local_gateway::openapi::document;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The local gateway's own routes, which are no part of the API.
fn local_only(path: &str) -> bool {
    path.starts_with("/_local/") || path == "/openapi.json"
}

/// Fails the test unless the answer to `method path` is one the document describes.
#[track_caller]
pub fn check(method: &str, path: &str, reply: &crate::Reply) {
    if let Err(why) = verify(method, path, reply) {
        panic!("{why}\n{method} {path} answered {reply:#?}");
    }
}

/// Why the answer to `method path` is not one the document describes, if it is not.
pub fn verify(method: &str, path: &str, reply: &crate::Reply) -> Result<(), String> {
    if local_only(path) {
        return Ok(());
    }
    let Some(operation) = operation(method, path) else {
        // No route: API Gateway's own answer, the only one it gives (no 405), with its own
        // request id and no function's.
        let own =
            reply.header("apigw-requestid").is_some() && reply.header("x-request-id").is_none();
        return if (reply.status, &reply.body) == (404, &json!({"message": "Not Found"})) && own {
            Ok(())
        } else {
            Err("an unrouted request must be API Gateway's 404".into())
        };
    };
    let status = reply.status.to_string();
    let response = operation["responses"]
        .get(&status)
        .map(resolve)
        .ok_or_else(|| format!("status {status} is not documented"))?;
    let essence = reply
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let key = format!(
        "{} {status} {essence}",
        operation["operationId"].as_str().unwrap_or_default()
    );
    let media = response["content"]
        .get(&essence)
        .ok_or_else(|| format!("content type {essence:?} is not documented for {status}"))?;
    let errors = validate(&format!("{key} body"), &media["schema"], &reply.body);
    if !errors.is_empty() {
        return Err(format!("the body does not match the document: {errors:#?}"));
    }
    for (name, header) in response["headers"].as_object().into_iter().flatten() {
        let header = resolve(header);
        match reply.header(&name.to_ascii_lowercase()) {
            None if header["required"] == true => {
                return Err(format!("required header {name} is missing"));
            }
            None => {}
            Some(value) => {
                let errors = validate(
                    &format!("{key} header {name}"),
                    &header["schema"],
                    &Value::String(value.to_owned()),
                );
                if !errors.is_empty() {
                    return Err(format!(
                        "header {name} does not match the document: {errors:#?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The operation of `method` on the documented path `path` matches, if any: a `{name}`
/// segment matches any one non-empty segment, as API Gateway's routes do.
fn operation(method: &str, path: &str) -> Option<&'static Value> {
    let segments: Vec<&str> = path.split('/').collect();
    document()["paths"]
        .as_object()?
        .iter()
        .find(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| {
                    if t.starts_with('{') {
                        !s.is_empty()
                    } else {
                        t == s
                    }
                })
        })
        .and_then(|(_, item)| item.get(method.to_ascii_lowercase()))
}

/// A response or header object, its `$ref` followed.
fn resolve(value: &'static Value) -> &'static Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            resolve(
                document()
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference} is not in the document")),
            )
        }
        None => value,
    }
}

/// Why `instance` does not match `schema` (a schema of the document, whose references name
/// `#/components/schemas/...`), compiled once per `key`.
fn validate(key: &str, schema: &Value, instance: &Value) -> Vec<String> {
    static VALIDATORS: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
        OnceLock::new();
    let validators = VALIDATORS.get_or_init(Default::default);
    let cached = validators.lock().expect("lock").get(key).cloned();
    let validator = cached.unwrap_or_else(|| {
        // The schema is the root, with the document's components beside it so that its
        // references resolve as they do in the document (an unknown keyword to JSON Schema).
        let mut root: Map<String, Value> = schema.as_object().cloned().unwrap_or_default();
        root.insert("components".into(), document()["components"].clone());
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .unwrap_or_else(|e| panic!("the schema of {key} does not compile: {e}"));
        let validator = Arc::new(validator);
        validators
            .lock()
            .expect("lock")
            .insert(key.to_owned(), validator.clone());
        validator
    });
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;

    fn reply(status: u16, content_type: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        Reply {
            status,
            body,
            content_type: content_type.to_owned(),
            location: None,
            retry_after: None,
            headers: map,
        }
    }

    fn contract() -> Value {
        json!({
            "contract_id": "01KAAAAAAAAAAAAAAAAAAAAAAA",
            "job_id": "01KAAAAAAAAAAAAAAAAAAAAAAB",
            "application_id": "01KAAAAAAAAAAAAAAAAAAAAAAC",
            "owner_id": "alice",
            "freelancer_id": "bob",
            "amount_cents": 100,
            "currency": "USD",
            "status": "created",
            "version": 1,
            "funded_at": null,
            "release_deadline": null,
            "created_at": "2026-01-01T00:00:00.000Z",
            "updated_at": "2026-01-01T00:00:00.000Z",
        })
    }

    fn fails(method: &str, path: &str, reply: &Reply) -> bool {
        verify(method, path, reply).is_err()
    }

    /// The local gateway serves the document, to anyone, as JSON.
    #[tokio::test]
    async fn the_local_gateway_serves_the_document() {
        let app = crate::spawn_app().await;
        let reply = app
            .send(app.request(reqwest::Method::GET, None, "/openapi.json"))
            .await;
        assert_eq!(reply.content_type, "application/json");
        assert_eq!(&reply.expect(200), document());
    }

    const GET: &str = "/contracts/01KAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn a_documented_answer_passes() {
        check(
            "GET",
            GET,
            &reply(
                200,
                "application/json",
                contract(),
                &[("x-request-id", "r"), ("apigw-requestid", "r")],
            ),
        );
    }

    #[test]
    fn answers_the_document_does_not_describe_fail() {
        let ok = || {
            reply(
                200,
                "application/json",
                contract(),
                &[("x-request-id", "r"), ("apigw-requestid", "r")],
            )
        };
        // An undocumented status, content type, field, a missing field or header.
        let mut teapot = ok();
        teapot.status = 418;
        assert!(fails("GET", GET, &teapot));
        let mut text = ok();
        text.content_type = "text/plain".into();
        assert!(fails("GET", GET, &text));
        let mut extra = ok();
        extra.body["secret"] = json!(1);
        assert!(fails("GET", GET, &extra));
        let mut missing = ok();
        missing
            .body
            .as_object_mut()
            .expect("object")
            .remove("funded_at");
        assert!(fails("GET", GET, &missing));
        let mut lower = ok();
        lower.body["status"] = json!("gone");
        assert!(fails("GET", GET, &lower));
        let unlabelled = reply(
            200,
            "application/json",
            contract(),
            &[("apigw-requestid", "r")],
        );
        assert!(fails("GET", GET, &unlabelled));
        // A problem without its code's members; an unrouted request that is not API
        // Gateway's own 404.
        let problem = reply(
            409,
            "application/problem+json",
            json!({"type": "https://marketplace.example/problems/invalid-transition",
                   "title": "Invalid transition", "status": 409, "detail": "",
                   "code": "INVALID_TRANSITION", "instance": "/x", "request_id": "r"}),
            &[("x-request-id", "r"), ("apigw-requestid", "r")],
        );
        assert!(fails(
            "POST",
            "/contracts/01KAAAAAAAAAAAAAAAAAAAAAAA/fund",
            &problem
        ));
        let unrouted = reply(404, "application/problem+json", json!({}), &[]);
        assert!(fails("DELETE", "/jobs", &unrouted));
    }
}
