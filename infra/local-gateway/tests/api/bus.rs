//! The event bus as `template.yaml` declares it and as the local stack plays it must agree:
//! the pipe puts on the one bus what the consumers' rules route, each consumer has a rule,
//! a queue and a DLQ of its own that only its rule may send to, and the sweeper knows each
//! consumer's queue.

use local_gateway::pipe::PipeSettings;
use local_gateway::template::{Template, referenced};
use serde_json::json;
use serde_norway::Value;
use shared::config::queue_url_variable;
use shared::domain::Consumer;
use std::collections::BTreeSet;
use test_kit::spawn_app;

fn props<'a>(template: &'a Template, id: &str) -> &'a Value {
    template.resource_properties(id).unwrap()
}

fn text(v: &Value) -> String {
    serde_norway::to_string(v).unwrap()
}

/// The statements of an IAM policy document, each as YAML text.
fn statements(document: &Value) -> Vec<&Value> {
    document
        .get("Statement")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .collect()
}

/// A bus event addressed to `consumer`, as the pipe makes it.
fn addressed_to(settings: &PipeSettings, consumer: &str) -> serde_json::Value {
    let detail = json!({"consumer": consumer, "type": "job_posted"});
    let mut event =
        serde_json::to_value(shared::bus::envelope(detail, shared::time::now())).unwrap();
    event["source"] = json!(settings.source);
    event["detail-type"] = json!(settings.detail_type);
    event
}

#[test]
fn the_pipe_puts_on_the_one_bus_what_the_consumers_read_and_may_do_nothing_else() {
    let template = Template::load_default().unwrap();
    let target = template.pipe_target().unwrap();
    let buses = template.resources_of_type("AWS::Events::EventBus");
    assert_eq!(buses.len(), 1);
    assert_eq!(target.bus, buses[0].0);
    // What the pipe puts on the bus is what a consumer accepts.
    assert_eq!(target.source, shared::bus::SOURCE);
    assert_eq!(target.detail_type, shared::bus::DETAIL_TYPE);

    // The pipe's role: PutEvents on that bus only; SQS only for its own DLQ.
    let role = props(&template, "EventsPipeRole");
    let policies = role.get("Policies").and_then(Value::as_sequence).unwrap();
    let granted: Vec<&Value> = policies
        .iter()
        .flat_map(|p| statements(p.get("PolicyDocument").unwrap()))
        .collect();
    let put = granted
        .iter()
        .find(|s| text(s).contains("events:PutEvents"))
        .expect("the pipe may put events");
    assert_eq!(
        put.get("Resource").and_then(referenced),
        Some(target.bus.as_str())
    );
    for statement in &granted {
        if text(statement).contains("sqs:") {
            assert_eq!(
                statement.get("Resource").and_then(referenced),
                Some("EventsPipeDeadLetterQueue"),
                "the pipe sends to no consumer's queue: {statement:?}"
            );
        }
    }
}

#[test]
fn each_consumer_has_a_rule_a_queue_and_a_dlq_that_only_its_rule_sends_to() {
    let template = Template::load_default().unwrap();
    let settings = PipeSettings::from_template(&template).unwrap();
    let rules = template.bus_rules().unwrap();
    let fed = template.queue_functions().unwrap();
    let sweep = text(template.function("sweep").unwrap());
    let queue_policies = template.resources_of_type("AWS::SQS::QueuePolicy");

    let mut rule_queues = BTreeSet::new();
    for consumer in Consumer::ALL {
        let event = addressed_to(&settings, consumer.as_str());
        let matching: Vec<_> = rules
            .iter()
            .filter(|r| {
                local_gateway::filter::Pattern::parse(&r.pattern.to_string())
                    .unwrap()
                    .matches(&event)
            })
            .collect();
        assert_eq!(matching.len(), 1, "{consumer}: one rule, not {matching:?}");
        let rule = matching[0];
        let [target] = &rule.targets[..] else {
            panic!("{}: one target", rule.id)
        };
        rule_queues.insert(target.queue.clone());
        assert!(target.retries.is_some(), "{}: no retry policy", rule.id);
        // The queue feeds the consumer's function, and what fails goes to its own DLQ,
        // the one the rule's target gives up to as well.
        assert!(
            fed.contains(&(target.queue.clone(), consumer.to_string())),
            "{} does not feed functions/{consumer}",
            target.queue
        );
        let redrive = props(&template, &target.queue)
            .get("RedrivePolicy")
            .unwrap();
        let dlq = redrive
            .get("deadLetterTargetArn")
            .and_then(referenced)
            .unwrap();
        assert_eq!(target.dead_letter.as_deref(), Some(dlq), "{}", rule.id);
        // Only this rule may send to the queue and the DLQ.
        for queue in [target.queue.as_str(), dlq] {
            let policy = queue_policies
                .iter()
                .map(|(_, p)| p.get("Properties").unwrap())
                .find(|p| {
                    p.get("Queues")
                        .and_then(Value::as_sequence)
                        .is_some_and(|q| q.iter().any(|q| referenced(q) == Some(queue)))
                })
                .unwrap_or_else(|| panic!("no policy on {queue}"));
            let document = policy.get("PolicyDocument").unwrap();
            for statement in statements(document) {
                let said = text(statement);
                assert!(said.contains("events.amazonaws.com"), "{said}");
                assert!(said.contains("sqs:SendMessage"), "{said}");
                let source = statement
                    .get("Condition")
                    .and_then(|c| c.get("ArnEquals"))
                    .and_then(|c| c.get("aws:SourceArn"))
                    .and_then(referenced);
                assert_eq!(source, Some(rule.id.as_str()), "{said}");
            }
        }
        // The sweeper re-sends to this queue.
        assert!(
            sweep.contains(&format!(
                "{}: !Ref {}",
                queue_url_variable(consumer),
                target.queue
            )),
            "the sweeper is not told {consumer}'s queue:\n{sweep}"
        );
    }
    // No rule delivers elsewhere than a consumer's queue, and nobody else reads one.
    let all_targets: BTreeSet<String> = rules
        .iter()
        .flat_map(|r| r.targets.iter().map(|t| t.queue.clone()))
        .collect();
    assert_eq!(all_targets, rule_queues);
    let consumed: BTreeSet<String> = fed.iter().map(|(q, _)| q.clone()).collect();
    assert_eq!(consumed, rule_queues);
}

#[tokio::test]
async fn the_local_stack_plays_the_templates_bus_queue_for_queue() {
    let template = Template::load_default().unwrap();
    let app = spawn_app().await;
    let local = &app.stack.queues;
    let consumers: BTreeSet<Consumer> = local.keys().copied().collect();
    assert_eq!(consumers, Consumer::ALL.into_iter().collect());
    let settings = PipeSettings::from_template(&template).unwrap();
    for (consumer, queues) in local {
        let event = addressed_to(&settings, consumer.as_str());
        let routes: Vec<&str> = settings.routes(&event).collect();
        assert_eq!(routes, [queues.id.as_str()], "{consumer}");
        let redrive = props(&template, &queues.id).get("RedrivePolicy").unwrap();
        assert_eq!(
            redrive.get("maxReceiveCount").and_then(Value::as_u64),
            Some(u64::from(queues.max_receive_count))
        );
        // The sweeper is told the very queue the stack made.
        assert_eq!(app.stack.config.queue_urls.get(consumer), Some(&queues.url));
    }
}
