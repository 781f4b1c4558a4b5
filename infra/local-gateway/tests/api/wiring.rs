//! `template.yaml`, the handlers and the function crates must name the same functions, and
//! the template keeps its hardening: logs with retention, a stage that logs no query string
//! and throttles, a sweep schedule with a DLQ, and the alarms, all to the alarm topic.

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

/// Tokens, cursors and ids travel in paths and query strings: the access log has neither.
#[test]
fn the_stage_logs_each_request_as_json_without_its_query_string_and_throttles() {
    let template = Template::load_default().unwrap();
    let api = template.resource_properties("HttpApi").unwrap();
    let logs = api.get("AccessLogSettings").expect("access logs");
    let group = referenced(logs.get("DestinationArn").unwrap()).unwrap();
    let group = template.resource_properties(group).unwrap();
    assert_eq!(
        parameter(&template, group.get("RetentionInDays")),
        "LogRetentionInDays"
    );
    let format = logs.get("Format").and_then(Value::as_str).unwrap();
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(format).expect("the access log format is one JSON object");
    let variables: Vec<&str> = fields.values().filter_map(|v| v.as_str()).collect();
    for wanted in [
        "$context.requestId",
        "$context.routeKey",
        "$context.status",
        "$context.responseLatency",
        "$context.integrationErrorMessage",
    ] {
        assert!(variables.contains(&wanted), "{wanted} is not logged");
    }
    let lower = format.to_lowercase();
    for never in [
        "query",
        "$context.path",
        "$request.",
        "authorization",
        "sourceip",
    ] {
        assert!(!lower.contains(never), "the access log has {never}");
    }

    let route = api.get("DefaultRouteSettings").expect("default throttling");
    assert_eq!(
        parameter(&template, route.get("ThrottlingRateLimit")),
        "ApiThrottlingRateLimit"
    );
    assert_eq!(
        parameter(&template, route.get("ThrottlingBurstLimit")),
        "ApiThrottlingBurstLimit"
    );

    let cors = api.get("CorsConfiguration").expect("CORS set deliberately");
    assert_eq!(
        parameter(&template, cors.get("AllowOrigins")),
        "AllowedOrigins"
    );
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
    assert!(alarms.len() >= 14, "{} alarms", alarms.len());
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
    for metric in ["SweepFailed", "SweepParked"] {
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
