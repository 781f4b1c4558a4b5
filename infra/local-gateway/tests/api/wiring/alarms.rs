//! Every alarm to the alarm topic; the alarms and the dashboard watch what they must.

use super::*;
use local_gateway::template::{Template, intrinsic, referenced};
use serde_norway::Value;

/// One alarm as far as these tests look at it: the metrics it reads.
pub(super) struct Alarm<'a> {
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
    pub(super) fn watches(&self, namespace: &str, metric: &str, id: &str) -> bool {
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

pub(super) fn alarms(template: &Template) -> Vec<Alarm<'_>> {
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
    for (function, queue) in [
        ("NotifyFunction", "NotifyQueue"),
        ("IndexFunction", "IndexQueue"),
    ] {
        assert!(any("AWS/Lambda", "Errors", function), "{function}");
        assert!(
            any("AWS/SQS", "ApproximateAgeOfOldestMessage", queue),
            "{queue}"
        );
    }
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
    assert_eq!(dlqs.len(), 4, "{dlqs:?}");
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
