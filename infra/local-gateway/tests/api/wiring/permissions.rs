//! Who may do what: queues, WebSocket invocations, token verification, connections.

use super::*;
use local_gateway::template::{Template, referenced};
use serde_norway::Value;
use std::collections::BTreeSet;

/// The table's stream announces every change: no HTTP function may send to SQS, nor is it
/// told where the queue is. The sweeper is the one function that sends.
#[test]
fn no_http_function_can_reach_the_queue_and_the_sweeper_can() {
    let template = Template::load_default().unwrap();
    let text = |v: &serde_norway::Value| serde_norway::to_string(v).unwrap();
    let globals = text(template.globals().unwrap());
    assert!(!globals.contains("QUEUE_URL"), "{globals}");
    for (name, _) in shared::handlers::HTTP_HANDLERS {
        let function = text(template.function(name).unwrap());
        assert!(
            !function.contains("sqs:") && !function.contains("QUEUE_URL"),
            "{name} can reach the queue:\n{function}"
        );
    }
    let sweep = text(template.function("sweep").unwrap());
    assert!(sweep.contains("sqs:SendMessage") && sweep.contains("QUEUE_URL"));
}

/// Only the WebSocket API invokes its functions, each only for its own route (or, the
/// authorizer's, as that authorizer): no permission is wider.
#[test]
fn every_websocket_function_may_be_invoked_by_its_own_route_of_this_api_only() {
    let template = Template::load_default().unwrap();
    let api = template.socket_api_id().unwrap();
    let (_, stage) = socket_stage(&template);
    let stage_name = props(stage)
        .get("StageName")
        .and_then(Value::as_str)
        .unwrap();
    let prefix = format!(
        "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{api}}}/"
    );
    let authorizer = template
        .resources_of_type("AWS::ApiGatewayV2::Authorizer")
        .into_iter()
        .map(|(id, _)| id)
        .next()
        .unwrap();
    let mut wanted: Vec<(String, String)> = template
        .socket_routes()
        .unwrap()
        .into_iter()
        .map(|r| (r.function, format!("{prefix}{stage_name}/{}", r.route_key)))
        .collect();
    wanted.push((
        template.socket_authorizer().unwrap().function,
        format!("{prefix}authorizers/${{{authorizer}}}"),
    ));
    assert_eq!(wanted.len(), 6);
    let permissions = template.resources_of_type("AWS::Lambda::Permission");
    for (function, source) in wanted {
        let id = function_id(&template, &function);
        let of: Vec<&Value> = permissions
            .iter()
            .map(|(_, p)| props(p))
            .filter(|p| p.get("FunctionName").and_then(referenced) == Some(id))
            .collect();
        assert_eq!(of.len(), 1, "{function}: one invoke permission");
        let permission = of[0];
        assert_eq!(
            permission.get("Action").and_then(Value::as_str),
            Some("lambda:InvokeFunction")
        );
        assert_eq!(
            permission.get("Principal").and_then(Value::as_str),
            Some("apigateway.amazonaws.com")
        );
        assert_eq!(sub(permission.get("SourceArn")), source, "{function}");
        // Nothing else triggers it.
        assert!(
            template
                .function(&function)
                .unwrap()
                .get("Events")
                .is_none(),
            "{function} has events"
        );
    }
}

/// The WebSocket API accepts exactly the tokens the HTTP API does: the same issuer and
/// audience, verified RS256 against the issuer's keys. The local stack's HS256 secret is
/// never deployed: no environment names or holds one.
#[test]
fn the_socket_authorizer_verifies_tokens_as_the_jwt_authorizer_does_and_no_hs256_secret_is_deployed()
 {
    let template = Template::load_default().unwrap();
    let jwt = template
        .resource_properties("HttpApi")
        .unwrap()
        .get("Auth")
        .and_then(|a| a.get("Authorizers"))
        .and_then(|a| a.get("JwtAuthorizer"))
        .and_then(|a| a.get("JwtConfiguration"))
        .expect("the HTTP API's JWT authorizer");
    let issuer = parameter(&template, jwt.get("issuer"));
    let audience = parameter(&template, jwt.get("audience").and_then(|a| a.get(0)));

    let authorizer = template.socket_authorizer().unwrap().function;
    let env = variables(&template, &authorizer).expect("the authorizer's environment");
    assert_eq!(parameter(&template, env.get("JWT_ISSUER")), issuer);
    assert_eq!(parameter(&template, env.get("JWT_AUDIENCE")), audience);
    assert_eq!(
        env.get("JWT_ALGORITHM").and_then(Value::as_str),
        Some("RS256")
    );
    // It reads nothing of AWS.
    assert!(grants(&template, &authorizer).is_empty());

    let globals = template
        .globals()
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping);
    let functions = template.functions().unwrap();
    let environments = globals
        .into_iter()
        .chain(functions.iter().filter_map(|f| variables(&template, f)));
    for env in environments {
        for (name, value) in env {
            let name = name.as_str().unwrap();
            if name.contains("JWT") {
                assert!(
                    ["JWT_ISSUER", "JWT_AUDIENCE", "JWT_ALGORITHM"].contains(&name),
                    "{name} is set"
                );
            }
            if let Some(value) = value.as_str() {
                assert!(!value.to_uppercase().starts_with("HS"), "{name} is {value}");
            }
        }
    }
    // Nor anywhere else (comments are not read).
    let text = serde_norway::to_string(&template.resources_of_type("AWS::Serverless::Function"))
        .unwrap()
        + &serde_norway::to_string(&template.globals()).unwrap()
        + &serde_norway::to_string(&template.parameters()).unwrap();
    for never in ["HS256", "LOCAL_JWT", "marketplace-local"] {
        assert!(!text.contains(never), "the template has {never}");
    }
}

/// Pushing to a WebSocket is for notify (each delivered notification), the sweeper (it
/// closes connections whose token expired) and the WebSocket functions that answer or close
/// connections: each on this API's connections only. The HTTP functions cannot push. And
/// each WebSocket function gets no more than it needs.
#[test]
fn notify_sweep_and_the_socket_functions_can_manage_connections_and_the_http_functions_cannot() {
    let template = Template::load_default().unwrap();
    let api = template.socket_api_id().unwrap();
    let (_, stage) = socket_stage(&template);
    let stage_name = props(stage)
        .get("StageName")
        .and_then(Value::as_str)
        .unwrap();
    let connections = format!(
        "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{api}}}/{stage_name}/*/@connections/*"
    );
    let endpoint =
        format!("https://${{{api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage_name}");
    let manage = "execute-api:ManageConnections";
    assert!(
        template
            .globals()
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables"))
            .and_then(|v| v.get("CONNECTIONS_ENDPOINT"))
            .is_none()
    );

    let pushers = [
        "notify",
        "sweep",
        "ws-connect",
        "ws-sync",
        "ws-ping",
        "ws-default",
    ];
    for function in template.functions().unwrap() {
        let granted = grants(&template, &function);
        let managing: Vec<&String> = granted
            .iter()
            .filter(|(action, _)| action.starts_with("execute-api:"))
            .map(|(_, resource)| resource)
            .collect();
        let told = variables(&template, &function).and_then(|v| v.get("CONNECTIONS_ENDPOINT"));
        if pushers.contains(&function.as_str()) {
            assert_eq!(managing, [&connections], "{function}");
            assert!(granted.contains(&(manage.to_owned(), connections.clone())));
            assert_eq!(sub(told), endpoint, "{function}");
        } else {
            assert!(managing.is_empty(), "{function} can manage connections");
            assert!(told.is_none(), "{function} is told CONNECTIONS_ENDPOINT");
        }
    }
    for (name, _) in shared::handlers::HTTP_HANDLERS {
        assert!(!pushers.contains(name));
    }
    // notify and the sweeper delete the connections they find gone or expired.
    for function in ["notify", "sweep"] {
        assert!(
            grants(&template, function)
                .contains(&("dynamodb:DeleteItem".to_owned(), "Table.Arn".to_owned())),
            "{function}"
        );
    }

    let table = "Table.Arn".to_owned();
    let connections = (manage.to_owned(), connections);
    let exactly = |function: &str, wanted: Vec<(&str, &String)>| {
        let wanted: BTreeSet<(String, String)> = wanted
            .into_iter()
            .map(|(a, r)| (a.to_owned(), r.clone()))
            .collect();
        assert_eq!(grants(&template, function), wanted, "{function}");
    };
    let board = "${Table.Arn}/index/BoardIndex".to_owned();
    exactly(
        "ws-connect",
        vec![
            ("dynamodb:PutItem", &table),
            ("dynamodb:Query", &table),
            (manage, &connections.1),
        ],
    );
    exactly("ws-disconnect", vec![("dynamodb:DeleteItem", &table)]);
    exactly(
        "ws-sync",
        vec![("dynamodb:Query", &board), (manage, &connections.1)],
    );
    exactly("ws-ping", vec![(manage, &connections.1)]);
    exactly("ws-default", vec![(manage, &connections.1)]);
}
