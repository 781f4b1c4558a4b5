//! `template.yaml`, the handlers and the function crates must name the same functions.

use local_gateway::template::Template;
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

#[test]
fn each_function_main_wires_its_own_handler() {
    for (name, _) in shared::handlers::HTTP_HANDLERS {
        let main = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../functions/{name}/src/main.rs"));
        let source = std::fs::read_to_string(&main).unwrap();
        let expected = format!("shared::handlers::{}", name.replace('-', "_"));
        assert!(
            source.contains(&expected),
            "{} does not call {expected}",
            main.display()
        );
    }
}

#[test]
fn the_queue_consumer_and_the_sweeper_wire_their_runtimes() {
    for (name, call) in [
        ("notify", "shared::runtime::serve_sqs"),
        ("sweep", "shared::runtime::serve_sweep"),
    ] {
        let main = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../functions/{name}/src/main.rs"));
        let source = std::fs::read_to_string(&main).unwrap();
        assert!(
            source.contains(call),
            "{} does not call {call}",
            main.display()
        );
    }
}
