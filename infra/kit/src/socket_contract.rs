//! Holds every message a black-box test receives on a socket to the published contract of
//! the WebSocket API (`infra/asyncapi.yaml`): it is one of the messages the document says
//! the server sends, and validates against that message's payload, whose notification is
//! `infra/openapi.yaml`'s own schema. `Socket::next_within` checks every message, so no
//! test can pass on a message the document does not describe.

use local_gateway::asyncapi;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The documents' made-up locations, so that the AsyncAPI document's `./openapi.yaml#...`
/// resolves to the OpenAPI document, and that one's own `#/components/...` within it.
const BASE: &str = "file:///infra/asyncapi.yaml";
const OPENAPI: &str = "file:///infra/openapi.yaml";

/// Hands the validator the OpenAPI document, and nothing else: a reference to any other
/// file is a mistake of the document, never something to fetch.
struct OpenApi;

impl jsonschema::Retrieve for OpenApi {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        if uri.as_str() == OPENAPI {
            Ok(local_gateway::openapi::document().clone())
        } else {
            Err(
                format!("infra/asyncapi.yaml refers to {uri}, which is not infra/openapi.yaml")
                    .into(),
            )
        }
    }
}

/// One validator per message the server sends, by its `type`, compiled once.
fn validators() -> &'static BTreeMap<String, jsonschema::Validator> {
    static VALIDATORS: OnceLock<BTreeMap<String, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let document = asyncapi::document();
        asyncapi::server_messages()
            .into_iter()
            .map(|(name, pointer)| {
                let payload = format!("{pointer}/payload");
                let kind = document
                    .pointer(&payload)
                    .map(resolved)
                    .and_then(|p| p.pointer("/properties/type/const"))
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("message {name}: its payload has no const type"))
                    .to_owned();
                // The payload is the root, with the document's components beside it so that
                // its references resolve as they do in the document.
                let mut root = Map::new();
                root.insert("$ref".into(), json!(format!("#{payload}")));
                root.insert("components".into(), document["components"].clone());
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .with_base_uri(BASE)
                    .with_retriever(OpenApi)
                    .build(&Value::Object(root))
                    .unwrap_or_else(|e| panic!("message {name} does not compile: {e}"));
                (kind, validator)
            })
            .collect()
    })
}

/// A schema of the document, its local `$ref` followed.
fn resolved(value: &'static Value) -> &'static Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolved(
            asyncapi::document()
                .pointer(reference.strip_prefix('#').expect("a local reference"))
                .unwrap_or_else(|| panic!("{reference} is not in infra/asyncapi.yaml")),
        ),
        None => value,
    }
}

/// Fails the test unless `message` is one the document says the server sends.
#[track_caller]
pub fn check(message: &Value) {
    if let Err(why) = verify(message) {
        panic!(
            "the server sent a message infra/asyncapi.yaml does not describe: {why}\n{message:#}"
        );
    }
}

/// Why `message` is not one the document says the server sends, if it is not.
pub fn verify(message: &Value) -> Result<(), String> {
    let validators = validators();
    let kind = message["type"].as_str().unwrap_or_default();
    let validator = validators.get(kind).ok_or_else(|| {
        format!(
            "its type {:?} is none of {:?}",
            message["type"],
            validators.keys().collect::<Vec<_>>()
        )
    })?;
    let errors: Vec<String> = validator
        .iter_errors(message)
        .map(|e| match e.instance_path().to_string() {
            at if at.is_empty() => format!("{e}"),
            at => format!("{e} at {at}"),
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{errors:#?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{ServerMessage, SocketError};

    fn notification() -> Value {
        json!({
            "type": "notification",
            "notification": {
                "notification_id": "01KAAAAAAAAAAAAAAAAAAAAAAA",
                "recipient_id": "bob",
                "type": "hired",
                "message": "You were hired",
                "read": false,
                "job_id": "01KAAAAAAAAAAAAAAAAAAAAAAB",
                "application_id": "01KAAAAAAAAAAAAAAAAAAAAAAC",
                "created_at": "2026-01-01T00:00:00.000Z",
                "position": 7,
            },
        })
    }

    fn fails(message: Value) -> bool {
        verify(&message).is_err()
    }

    /// What the server's own types write validates: a notification, a pong, and an error of
    /// every code.
    #[test]
    fn the_server_messages_validate() {
        let pushed: ServerMessage = serde_json::from_value(notification()).expect("parses");
        check(&serde_json::to_value(&pushed).expect("serialises"));
        check(&serde_json::to_value(ServerMessage::Pong).expect("serialises"));
        for code in [
            SocketError::UnknownAction,
            SocketError::ValidationFailed,
            SocketError::TokenExpired,
            SocketError::ServiceUnavailable,
        ] {
            check(&serde_json::to_value(ServerMessage::error(code, "why")).expect("serialises"));
        }
    }

    /// The document's error codes are the server's: each one parses as a `SocketError`.
    #[test]
    fn the_error_codes_are_those_of_the_server() {
        let codes = asyncapi::document()
            .pointer("/components/schemas/Error/properties/code/enum")
            .and_then(Value::as_array)
            .expect("the error codes");
        assert_eq!(codes.len(), 4);
        for code in codes {
            serde_json::from_value::<SocketError>(code.clone())
                .unwrap_or_else(|_| panic!("{code} is no SocketError"));
        }
    }

    /// The validation can fail: messages the document does not describe are refused,
    /// those whose notification the OpenAPI schema refuses too.
    #[test]
    fn messages_the_document_does_not_describe_fail() {
        let mut no_position = notification();
        no_position["notification"]
            .as_object_mut()
            .expect("object")
            .remove("position");
        assert!(fails(no_position));
        let mut unread = notification();
        unread["notification"]["read"] = json!("no");
        assert!(fails(unread));
        let mut extra = notification();
        extra["notification"]["secret"] = json!(1);
        assert!(fails(extra));
        let mut bare = notification();
        bare.as_object_mut().expect("object").remove("notification");
        assert!(fails(bare));
        assert!(fails(
            json!({"type": "error", "code": "TEAPOT", "message": "no"})
        ));
        assert!(fails(json!({"type": "error", "code": "UNKNOWN_ACTION"})));
        assert!(fails(json!({"type": "pong", "at": 1})));
        assert!(fails(json!({"type": "hello"})));
        assert!(fails(json!({"action": "sync", "after": null})));
        assert!(fails(json!("pong")));
    }
}
