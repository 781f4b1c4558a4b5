//! `template.yaml`, the handlers and the function crates must name the same functions, and
//! the template keeps its hardening: logs with retention, stages (HTTP and WebSocket) that
//! log no query string and throttle, functions invoked by their own API only, one way of
//! verifying tokens, a sweep schedule with a DLQ, and the alarms, all to the alarm topic.

use local_gateway::template::{Template, intrinsic, referenced};
use serde_norway::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn function_dirs() -> BTreeSet<String> {
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

/// The logical id of the function whose code is `functions/<name>`.
fn function_id<'a>(template: &'a Template, name: &str) -> &'a str {
    let code = format!("functions/{name}");
    template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| props(f).get("CodeUri").and_then(Value::as_str) == Some(code.as_str()))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no function {name}"))
}

/// A function's environment, beside what `Globals` gives every function.
fn variables<'a>(template: &'a Template, name: &str) -> Option<&'a serde_norway::Mapping> {
    template
        .function(name)
        .unwrap()
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
}

/// The string of a `!Sub` (either form); fails unless `v` is one.
fn sub(v: Option<&Value>) -> &str {
    v.and_then(|v| intrinsic(v, "Sub"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("not a !Sub string: {v:?}"))
}

/// Every (action, resource) a function's inline policies allow; a resource as written
/// (`Table.Arn` for `!GetAtt Table.Arn`, the string of a `!Sub`).
fn grants(template: &Template, name: &str) -> BTreeSet<(String, String)> {
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

#[test]
fn every_function_in_the_template_is_a_crate_and_every_crate_is_in_the_template() {
    let template = Template::load_default().unwrap();
    let declared: BTreeSet<String> = template.functions().unwrap().into_iter().collect();
    assert_eq!(declared, function_dirs());
}

fn logical_ids(template: &Template, kind: &str) -> Vec<String> {
    template
        .resources_of_type(kind)
        .into_iter()
        .map(|(id, _)| id.to_owned())
        .collect()
}

fn props(resource: &Value) -> &Value {
    resource
        .get("Properties")
        .expect("a resource with Properties")
}

/// The template parameter `v` is a `!Ref` to; fails unless it is one.
fn parameter<'a>(template: &'a Template, v: Option<&'a Value>) -> &'a str {
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

fn globals_variable<'a>(template: &'a Template, name: &str) -> &'a Value {
    template
        .globals()
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(|v| v.get(name))
        .unwrap_or_else(|| panic!("Globals sets no {name}"))
}

#[test]
fn every_function_has_a_log_group_with_the_retention_parameter() {
    let template = Template::load_default().unwrap();
    let groups = template.resources_of_type("AWS::Logs::LogGroup");
    for function in logical_ids(&template, "AWS::Serverless::Function") {
        let wanted = format!("/aws/lambda/${{{function}}}");
        let group = groups
            .iter()
            .map(|(_, g)| props(g))
            .find(|g| {
                g.get("LogGroupName")
                    .and_then(|n| intrinsic(n, "Sub"))
                    .and_then(Value::as_str)
                    == Some(wanted.as_str())
            })
            .unwrap_or_else(|| panic!("no log group {wanted}"));
        assert_eq!(
            parameter(&template, group.get("RetentionInDays")),
            "LogRetentionInDays"
        );
    }
}

/// The access log of a stage: one JSON object a line, to a log group kept as long as the
/// parameter says, with each of `wanted` and nothing that may carry a token, a cursor or
/// anything personal.
fn assert_access_log(template: &Template, logs: Option<&Value>, wanted: &[&str]) {
    let logs = logs.expect("access logs");
    let group = referenced(logs.get("DestinationArn").unwrap()).unwrap();
    let group = template.resource_properties(group).unwrap();
    assert_eq!(
        parameter(template, group.get("RetentionInDays")),
        "LogRetentionInDays"
    );
    let format = logs.get("Format").and_then(Value::as_str).unwrap();
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(format).expect("the access log format is one JSON object");
    let variables: Vec<&str> = fields.values().filter_map(|v| v.as_str()).collect();
    for wanted in wanted {
        assert!(variables.contains(wanted), "{wanted} is not logged");
    }
    let lower = format.to_lowercase();
    for never in [
        "query",
        "$context.path",
        "$request.",
        "requestoverride",
        "authorization",
        "token",
        "identity",
        "sourceip",
    ] {
        assert!(!lower.contains(never), "the access log has {never}");
    }
}

/// Over the template's limits API Gateway refuses before any function runs.
fn assert_throttled_by_the_parameters(template: &Template, settings: Option<&Value>) {
    let route = settings.expect("default throttling");
    assert_eq!(
        parameter(template, route.get("ThrottlingRateLimit")),
        "ApiThrottlingRateLimit"
    );
    assert_eq!(
        parameter(template, route.get("ThrottlingBurstLimit")),
        "ApiThrottlingBurstLimit"
    );
}

/// The WebSocket API's stage: its logical id and properties.
fn socket_stage(template: &Template) -> (&str, &Value) {
    let api = template.socket_api_id().unwrap();
    let stages: Vec<(&str, &Value)> = template
        .resources_of_type("AWS::ApiGatewayV2::Stage")
        .into_iter()
        .filter(|(_, s)| props(s).get("ApiId").and_then(referenced) == Some(api))
        .collect();
    assert_eq!(stages.len(), 1, "one stage of the WebSocket API");
    stages[0]
}

/// Tokens, cursors and ids travel in paths and query strings (a WebSocket's token in its
/// connect URL's): neither stage's access log has them.
#[test]
fn the_stages_log_each_request_as_json_without_its_query_string_and_throttle() {
    let template = Template::load_default().unwrap();
    let api = template.resource_properties("HttpApi").unwrap();
    assert_access_log(
        &template,
        api.get("AccessLogSettings"),
        &[
            "$context.requestId",
            "$context.routeKey",
            "$context.status",
            "$context.responseLatency",
            "$context.integrationErrorMessage",
        ],
    );
    assert_throttled_by_the_parameters(&template, api.get("DefaultRouteSettings"));
    let cors = api.get("CorsConfiguration").expect("CORS set deliberately");
    assert_eq!(
        parameter(&template, cors.get("AllowOrigins")),
        "AllowedOrigins"
    );

    let (_, stage) = socket_stage(&template);
    let stage_props = props(stage);
    assert_access_log(
        &template,
        stage_props.get("AccessLogSettings"),
        &[
            "$context.requestId",
            "$context.routeKey",
            "$context.eventType",
            "$context.connectionId",
            "$context.status",
            "$context.integration.error",
            "$context.authorizer.error",
            "$context.error.message",
        ],
    );
    let settings = stage_props.get("DefaultRouteSettings");
    assert_throttled_by_the_parameters(&template, settings);
    // Data tracing would log every message and the connect URL, token and all.
    assert_eq!(
        settings
            .and_then(|s| s.get("DataTraceEnabled"))
            .and_then(Value::as_bool),
        Some(false)
    );
    let text = serde_norway::to_string(stage_props).unwrap();
    assert!(!text.contains("DataTraceEnabled: true"), "{text}");
    // AutoDeploy deploys the routes that exist when the stage is made: all of them.
    assert_eq!(
        stage_props.get("AutoDeploy").and_then(Value::as_bool),
        Some(true)
    );
    let depends: BTreeSet<&str> = stage
        .get("DependsOn")
        .and_then(Value::as_sequence)
        .expect("the stage depends on the routes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for (route, _) in template.resources_of_type("AWS::ApiGatewayV2::Route") {
        assert!(
            depends.contains(route),
            "the stage does not wait for {route}"
        );
    }
}

#[test]
fn the_sweep_schedule_retries_briefly_and_keeps_what_fails_in_a_queue_that_alarms() {
    let template = Template::load_default().unwrap();
    let sweep = template.function("sweep").unwrap();
    let schedules: Vec<&Value> = sweep
        .get("Events")
        .and_then(Value::as_mapping)
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|e| e.get("Type").and_then(Value::as_str) == Some("Schedule"))
        .map(|e| e.get("Properties").unwrap())
        .collect();
    assert_eq!(schedules.len(), 1);
    let schedule = schedules[0];
    // Briefly: a sweep retried after the next one has started would only race it.
    let retries = schedule.get("RetryPolicy").expect("a retry policy");
    let limit = |name: &str| {
        retries
            .get(name)
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX)
    };
    assert!(limit("MaximumRetryAttempts") <= 2, "{retries:?}");
    assert!(limit("MaximumEventAgeInSeconds") <= 60, "{retries:?}");
    let dlq = referenced(
        schedule
            .get("DeadLetterConfig")
            .unwrap()
            .get("Arn")
            .unwrap(),
    )
    .unwrap();
    assert!(
        template
            .resources_of_type("AWS::SQS::Queue")
            .iter()
            .any(|(id, _)| *id == dlq)
    );
    // Runs that fail once invoked go to the same queue.
    let on_failure = sweep
        .get("EventInvokeConfig")
        .and_then(|c| c.get("DestinationConfig"))
        .and_then(|c| c.get("OnFailure"))
        .and_then(|c| c.get("Destination"))
        .and_then(referenced);
    assert_eq!(on_failure, Some(dlq));
    // EventBridge may send to it.
    let policy = template
        .resources_of_type("AWS::SQS::QueuePolicy")
        .into_iter()
        .map(|(_, p)| props(p))
        .find(|p| {
            p.get("Queues")
                .and_then(Value::as_sequence)
                .is_some_and(|q| q.iter().any(|q| referenced(q) == Some(dlq)))
        })
        .expect("a queue policy for the sweep DLQ");
    let text = serde_norway::to_string(policy).unwrap();
    assert!(text.contains("events.amazonaws.com") && text.contains("sqs:SendMessage"));
    assert!(alarms(&template).iter().any(|a| a.watches(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        dlq
    )));
}

/// One alarm as far as these tests look at it: the metrics it reads.
struct Alarm<'a> {
    id: &'a str,
    props: &'a Value,
    /// (namespace, metric name, dimensions, statistic)
    metrics: Vec<(&'a Value, &'a str, &'a Value, Option<&'a str>)>,
}

impl Alarm<'_> {
    fn namespace_is(namespace: &Value, wanted: &str) -> bool {
        namespace.as_str() == Some(wanted)
    }

    /// Whether it reads `metric` of `namespace` for the resource `id` (a dimension that
    /// refers to it).
    fn watches(&self, namespace: &str, metric: &str, id: &str) -> bool {
        self.metrics.iter().any(|(ns, name, dims, _)| {
            Self::namespace_is(ns, namespace)
                && *name == metric
                && dims
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .any(|d| d.get("Value").and_then(referenced) == Some(id))
        })
    }
}

fn alarms(template: &Template) -> Vec<Alarm<'_>> {
    template
        .resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, a)| {
            let props = props(a);
            let mut metrics = Vec::new();
            if let Some(name) = props.get("MetricName").and_then(Value::as_str) {
                metrics.push((
                    props.get("Namespace").unwrap(),
                    name,
                    props.get("Dimensions").unwrap_or(&Value::Null),
                    props.get("Statistic").and_then(Value::as_str),
                ));
            }
            for query in props
                .get("Metrics")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                if let Some(stat) = query.get("MetricStat") {
                    let metric = stat.get("Metric").unwrap();
                    metrics.push((
                        metric.get("Namespace").unwrap(),
                        metric.get("MetricName").and_then(Value::as_str).unwrap(),
                        metric.get("Dimensions").unwrap_or(&Value::Null),
                        stat.get("Stat").and_then(Value::as_str),
                    ));
                }
            }
            Alarm { id, props, metrics }
        })
        .collect()
}

#[test]
fn every_alarm_notifies_the_alarm_topic_and_nothing_else() {
    let template = Template::load_default().unwrap();
    let topics = logical_ids(&template, "AWS::SNS::Topic");
    assert_eq!(topics, ["AlarmTopic"]);
    let alarms = alarms(&template);
    assert!(alarms.len() >= 18, "{} alarms", alarms.len());
    for alarm in alarms {
        for actions in ["AlarmActions", "OKActions"] {
            let targets: Vec<Option<&str>> = alarm
                .props
                .get(actions)
                .and_then(Value::as_sequence)
                .unwrap_or_else(|| panic!("{} has no {actions}", alarm.id))
                .iter()
                .map(referenced)
                .collect();
            assert_eq!(targets, [Some("AlarmTopic")], "{} {actions}", alarm.id);
        }
    }
}

#[test]
fn the_alarms_watch_the_api_the_functions_the_queues_the_pipe_and_the_sweep() {
    let template = Template::load_default().unwrap();
    let alarms = alarms(&template);
    let any = |namespace: &str, metric: &str, id: &str| {
        alarms.iter().any(|a| a.watches(namespace, metric, id))
    };

    // The API's 5xx as a rate of its requests: both in one alarm, divided.
    let rate = alarms
        .iter()
        .find(|a| a.watches("AWS/ApiGateway", "5xx", "HttpApi"))
        .expect("an API 5xx alarm");
    assert!(rate.watches("AWS/ApiGateway", "Count", "HttpApi"));
    assert!(
        serde_norway::to_string(rate.props)
            .unwrap()
            .contains("/ requests")
    );

    // The WebSocket API's failures: its functions' and API Gateway's calling them, read on
    // its one stage (its metrics carry the stage as a dimension).
    let (stage, _) = socket_stage(&template);
    for metric in ["IntegrationError", "ExecutionError"] {
        let alarm = alarms
            .iter()
            .find(|a| a.watches("AWS/ApiGateway", metric, "WebSocketApi"))
            .unwrap_or_else(|| panic!("no alarm on the WebSocket API's {metric}"));
        assert!(
            alarm.watches("AWS/ApiGateway", metric, stage),
            "{metric} not read on the stage"
        );
    }

    // Throttles of every function, within CloudWatch's ten metrics an alarm.
    for function in logical_ids(&template, "AWS::Serverless::Function") {
        assert!(
            any("AWS/Lambda", "Throttles", &function),
            "no alarm on {function}'s throttles"
        );
    }
    for alarm in &alarms {
        assert!(
            alarm.metrics.len() <= 10,
            "{} reads over ten metrics",
            alarm.id
        );
    }
    assert!(any("AWS/Lambda", "Errors", "NotifyFunction"));
    assert!(any(
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "NotifyQueue"
    ));
    // A rule on a custom bus is named by the second half of its Ref (`bus|rule`).
    let rule_alarmed = |rule: &str| {
        alarms.iter().any(|a| {
            a.metrics.iter().any(|(ns, name, dims, _)| {
                Alarm::namespace_is(ns, "AWS/Events")
                    && *name == "FailedInvocations"
                    && serde_norway::to_string(dims)
                        .unwrap()
                        .contains(&format!("Ref {rule}"))
            })
        })
    };
    for (rule, _) in template.resources_of_type("AWS::Events::Rule") {
        assert!(rule_alarmed(rule), "no alarm on {rule}'s failed deliveries");
    }

    // Every queue that is no one's source of retries is a dead-letter queue: each alarms.
    let queues = template.resources_of_type("AWS::SQS::Queue");
    let dlqs: Vec<&str> = queues
        .iter()
        .filter(|(_, q)| props(q).get("RedrivePolicy").is_none())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(dlqs.len(), 3, "{dlqs:?}");
    for dlq in dlqs {
        assert!(
            any("AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq),
            "no alarm on {dlq}"
        );
    }
    assert!(any(
        "AWS/EventBridge/Pipes",
        "ExecutionFailed",
        "EventsPipe"
    ));
    assert!(any(
        "AWS/EventBridge/Pipes",
        "ExecutionThrottled",
        "EventsPipe"
    ));

    // The application's own metrics: in the namespace and under the service the functions
    // are given, so the alarms read what the functions emit.
    let namespace = parameter(
        &template,
        Some(globals_variable(&template, "POWERTOOLS_METRICS_NAMESPACE")),
    );
    let service = globals_variable(&template, "POWERTOOLS_SERVICE_NAME")
        .as_str()
        .unwrap();
    let own = |metric: &str, stat: &str| {
        alarms
            .iter()
            .find(|a| {
                a.metrics.iter().any(|(ns, name, dims, s)| {
                    intrinsic(ns, "Ref").and_then(Value::as_str) == Some(namespace)
                        && *name == metric
                        && *s == Some(stat)
                        && dims.as_sequence().is_some_and(|d| {
                            d.len() == 1
                                && d[0].get("Name").and_then(Value::as_str) == Some("service")
                                && d[0].get("Value").and_then(Value::as_str) == Some(service)
                        })
                })
            })
            .unwrap_or_else(|| panic!("no alarm on {stat} of {metric}"))
    };
    for metric in ["SweepFailed", "SweepParked", "PushFailures"] {
        let alarm = own(metric, "Sum");
        assert_eq!(
            alarm.props.get("Threshold").and_then(Value::as_u64),
            Some(0)
        );
    }
    // Still due past twice the redrive delay: the threshold is the very parameter the
    // functions read their delay from, against half the age.
    let due = own("OutboxOldestDueAge", "Maximum");
    let delay = parameter(
        &template,
        Some(globals_variable(&template, "REDRIVE_DELAY_SECS")),
    );
    assert_eq!(parameter(&template, due.props.get("Threshold")), delay);
    let expression = due
        .props
        .get("Metrics")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .find(|q| q.get("ReturnData").and_then(Value::as_bool) == Some(true))
        .and_then(|q| q.get("Expression"))
        .and_then(Value::as_str);
    assert_eq!(expression, Some("age / 2"));
}

/// The dashboard's body is JSON once CloudFormation substitutes it, and shows every metric
/// of the functions' metrics contract.
#[test]
fn the_dashboard_is_json_and_shows_the_functions_metrics() {
    let template = Template::load_default().unwrap();
    let dashboards = template.resources_of_type("AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1);
    let body = props(dashboards[0].1)
        .get("DashboardBody")
        .and_then(|b| intrinsic(b, "Sub"))
        .and_then(Value::as_str)
        .expect("a !Sub body");
    let mut substituted = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').unwrap();
        substituted.push_str(&rest[..start]);
        substituted.push('0');
        rest = &rest[end + 1..];
    }
    substituted.push_str(rest);
    let json: serde_json::Value = serde_json::from_str(&substituted).expect("JSON");
    let widgets = json["widgets"].as_array().unwrap();
    let text = json.to_string();
    for metric in [
        "Requests",
        "Latency",
        "HiresWon",
        "HiresLost",
        "ConflictsRetried",
        "ThrottlesRetried",
        "NotificationsApplied",
        "DuplicatesSkipped",
        "FanOutRejections",
        "SweepExpiredJobs",
        "SweepExpiredContracts",
        "SweepRedriven",
        "SweepParked",
        "SweepFailed",
        "SweepOutOfTime",
        "OutboxOldestDueAge",
        "ColdStart",
        "InitDuration",
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "ConnectCount",
        "MessageCount",
        "IntegrationError",
        "ExecutionError",
        "PushFailures",
    ] {
        assert!(
            text.contains(&format!("\"{metric}\"")) || text.contains(&format!("\\\"{metric}\\\"")),
            "the dashboard does not show {metric}"
        );
    }
    assert!(
        widgets
            .iter()
            .all(|w| w["properties"]["metrics"].is_array())
    );
}
