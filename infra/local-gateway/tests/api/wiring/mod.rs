//! `template.yaml`, the handlers and the function crates must name the same functions, and
//! the template keeps its hardening: logs with retention, stages (HTTP and WebSocket) that
//! log no query string and throttle, functions invoked by their own API only, one way of
//! verifying tokens, a sweep schedule with a DLQ, and the alarms, all to the alarm topic.

mod alarms;
mod permissions;
mod stages;

use local_gateway::template::{Template, intrinsic, referenced};
use serde_norway::Value;
use std::collections::BTreeSet;
use std::path::Path;

pub(super) fn function_dirs() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions");
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_route_has_a_handler_and_every_handler_a_route() {
    let template = Template::load_default().unwrap();
    let routed: BTreeSet<String> = template
        .routes()
        .unwrap()
        .into_iter()
        .map(|r| r.function)
        .collect();
    let handled: BTreeSet<String> = shared::handlers::HTTP_HANDLERS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(routed, handled);
}

#[test]
fn every_socket_route_has_a_handler_and_every_handler_a_route() {
    let template = Template::load_default().unwrap();
    let routed: BTreeSet<String> = template
        .socket_routes()
        .unwrap()
        .into_iter()
        .map(|r| r.function)
        .collect();
    let handled: BTreeSet<String> = shared::handlers::sockets::SOCKET_HANDLERS
        .iter()
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(routed, handled);
    // The local gateway runs the same authorizer function's check on the same route.
    let authorizer = template.socket_authorizer().unwrap();
    assert_eq!(authorizer.function, "ws-authorize");
    assert_eq!(authorizer.route_keys, ["$connect"]);
}

/// The logical id of the function whose code is `functions/<name>`.
pub(super) fn function_id<'a>(template: &'a Template, name: &str) -> &'a str {
    let code = format!("functions/{name}");
    template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| props(f).get("CodeUri").and_then(Value::as_str) == Some(code.as_str()))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no function {name}"))
}

/// A function's environment, beside what `Globals` gives every function.
pub(super) fn variables<'a>(
    template: &'a Template,
    name: &str,
) -> Option<&'a serde_norway::Mapping> {
    template
        .function(name)
        .unwrap()
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
}

/// The string of a `!Sub` (either form); fails unless `v` is one.
pub(super) fn sub(v: Option<&Value>) -> &str {
    v.and_then(|v| intrinsic(v, "Sub"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("not a !Sub string: {v:?}"))
}

/// Every (action, resource) a function's inline policies allow; a resource as written
/// (`Table.Arn` for `!GetAtt Table.Arn`, the string of a `!Sub`).
pub(super) fn grants(template: &Template, name: &str) -> BTreeSet<(String, String)> {
    let function = template.function(name).unwrap();
    let mut granted = BTreeSet::new();
    let policies = function.get("Policies").and_then(Value::as_sequence);
    for policy in policies.into_iter().flatten() {
        let statements = policy
            .get("Statement")
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{name}: a policy that is not a statement list"));
        for statement in statements {
            assert_eq!(
                statement.get("Effect").and_then(Value::as_str),
                Some("Allow")
            );
            let list = |v: &Value| match v {
                Value::Sequence(items) => items.clone(),
                other => vec![other.clone()],
            };
            let actions = list(statement.get("Action").unwrap());
            let resources = list(statement.get("Resource").unwrap());
            for action in &actions {
                for resource in &resources {
                    let resource = if let Some(s) = intrinsic(resource, "Sub") {
                        s.as_str().unwrap().to_owned()
                    } else if let Some(v) = intrinsic(resource, "GetAtt") {
                        match v {
                            Value::Sequence(parts) => parts
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("."),
                            other => other.as_str().unwrap().to_owned(),
                        }
                    } else {
                        resource.as_str().unwrap().to_owned()
                    };
                    granted.insert((action.as_str().unwrap().to_owned(), resource));
                }
            }
        }
    }
    granted
}

#[test]
fn every_function_in_the_template_is_a_crate_and_every_crate_is_in_the_template() {
    let template = Template::load_default().unwrap();
    let declared: BTreeSet<String> = template.functions().unwrap().into_iter().collect();
    assert_eq!(declared, function_dirs());
}

pub(super) fn logical_ids(template: &Template, kind: &str) -> Vec<String> {
    template
        .resources_of_type(kind)
        .into_iter()
        .map(|(id, _)| id.to_owned())
        .collect()
}

pub(super) fn props(resource: &Value) -> &Value {
    resource
        .get("Properties")
        .expect("a resource with Properties")
}

/// The template parameter `v` is a `!Ref` to; fails unless it is one.
pub(super) fn parameter<'a>(template: &'a Template, v: Option<&'a Value>) -> &'a str {
    let name = v
        .and_then(|v| intrinsic(v, "Ref"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("not a !Ref: {v:?}"));
    assert!(
        template.parameters().and_then(|p| p.get(name)).is_some(),
        "{name} is not a parameter"
    );
    name
}

pub(super) fn globals_variable<'a>(template: &'a Template, name: &str) -> &'a Value {
    template
        .globals()
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(|v| v.get(name))
        .unwrap_or_else(|| panic!("Globals sets no {name}"))
}

/// The WebSocket API's stage: its logical id and properties.
pub(super) fn socket_stage(template: &Template) -> (&str, &Value) {
    let api = template.socket_api_id().unwrap();
    let stages: Vec<(&str, &Value)> = template
        .resources_of_type("AWS::ApiGatewayV2::Stage")
        .into_iter()
        .filter(|(_, s)| props(s).get("ApiId").and_then(referenced) == Some(api))
        .collect();
    assert_eq!(stages.len(), 1, "one stage of the WebSocket API");
    stages[0]
}
