//! The published contract of the WebSocket API (`infra/asyncapi.yaml`, kept by hand): held
//! to `template.yaml`'s socket routes here, and to every message a black-box test receives
//! on a socket in `tests/api/socket_contract.rs`.

use serde_json::Value;
use std::sync::OnceLock;

/// The document as written: YAML, like `infra/openapi.yaml`.
pub const SOURCE: &str = include_str!("../../asyncapi.yaml");

/// Where a schema of the document points into the OpenAPI document instead of copying it.
pub const OPENAPI_REFERENCE: &str = "./openapi.yaml";

/// The document as JSON.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_norway::from_str(SOURCE).expect("infra/asyncapi.yaml parses"))
}

/// The route key each operation says it is (`x-route-key`), sorted. The push is no route
/// and has none.
pub fn route_keys() -> Vec<String> {
    let mut keys: Vec<String> = operations()
        .filter_map(|(_, op)| op["x-route-key"].as_str().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// The messages the server sends: those of the `send` operations and of every reply, each
/// as its name and the JSON pointer of its message object (what its references end at).
pub fn server_messages() -> Vec<(String, String)> {
    let mut pointers: Vec<String> = operations()
        .flat_map(|(_, op)| {
            let sent = (op["action"] == "send")
                .then(|| op["messages"].as_array())
                .flatten();
            let replied = op["reply"]["messages"].as_array();
            sent.into_iter().chain(replied).flatten()
        })
        .map(end_of)
        .collect();
    pointers.sort();
    pointers.dedup();
    pointers
        .into_iter()
        .map(|p| {
            let name = p.rsplit('/').next().unwrap_or_default().to_owned();
            (name, p)
        })
        .collect()
}

fn operations() -> impl Iterator<Item = (&'static String, &'static Value)> {
    document()["operations"].as_object().into_iter().flatten()
}

/// The pointer a chain of local `$ref`s starting at `value` ends at: an operation names a
/// message of its channel, which names the message of the components.
fn end_of(value: &Value) -> String {
    let mut pointer = String::new();
    let mut value = value;
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} is not a reference within the document"))
            .to_owned();
        value = document()
            .pointer(&pointer)
            .unwrap_or_else(|| panic!("{reference} is not in the document"));
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    #[test]
    fn the_document_has_every_socket_route_of_the_template_and_no_other() {
        let template = Template::load_default()
            .expect("template.yaml loads")
            .socket_routes()
            .expect("socket routes")
            .into_iter()
            .map(|r| r.route_key)
            .collect();
        let documented = route_keys();
        crate::openapi::assert_same_routes("infra/asyncapi.yaml", template, &documented);
        // A route documented twice would hide one that is not documented at all.
        let mut unique = documented.clone();
        unique.dedup();
        assert_eq!(unique, documented, "a route key on two operations");
    }

    #[test]
    fn the_server_sends_notification_pong_and_error() {
        let names: Vec<String> = server_messages().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["error", "notification", "pong"]);
    }

    /// Every message an operation names is its channel's, as AsyncAPI 3 requires.
    #[test]
    fn operations_name_the_messages_of_their_channel() {
        for (id, op) in operations() {
            let channel = end_of(&op["channel"]);
            let replies = op["reply"]["messages"].as_array().into_iter().flatten();
            for reference in op["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(replies)
            {
                let named = reference["$ref"].as_str().expect("a reference");
                assert!(
                    named.starts_with(&format!("#{channel}/messages/")),
                    "{id}: {named} is not a message of {channel}"
                );
                end_of(reference);
            }
        }
    }

    /// The notification a push carries is the HTTP API's schema, referenced: a copy would
    /// drift from it unseen.
    #[test]
    fn the_notification_is_the_openapi_schema_by_reference() {
        let reference = document()
            .pointer("/components/schemas/NotificationMessage/properties/notification/$ref")
            .and_then(Value::as_str)
            .expect("the notification is a reference");
        let (file, pointer) = reference.split_once('#').expect("file#pointer");
        assert_eq!(file, OPENAPI_REFERENCE);
        assert!(
            crate::openapi::document().pointer(pointer).is_some(),
            "{reference} is not in infra/openapi.yaml"
        );
    }
}
