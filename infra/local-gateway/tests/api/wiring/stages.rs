//! The stages' logs and throttles, log groups, and the sweep schedule's retries and DLQ.

use super::alarms::alarms;
use super::*;
use local_gateway::template::{Template, intrinsic, referenced};
use serde_norway::Value;
use std::collections::BTreeSet;

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
