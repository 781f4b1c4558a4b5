//! The published contract (`infra/openapi.yaml`, kept by hand): served as JSON at
//! `GET /openapi.json`, held to `template.yaml`'s routes here, and to every answer of the
//! black-box tests in `tests/api/contract.rs`.

use serde_json::Value;
use std::sync::OnceLock;

/// The document as written: YAML, so that it can carry comments and stay readable by hand.
pub const SOURCE: &str = include_str!("../../openapi.yaml");

/// The document as JSON. It is compiled in and checked by this module's tests, so a broken
/// one never gets past `make test`.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_norway::from_str(SOURCE).expect("infra/openapi.yaml parses"))
}

/// Every operation of the document as a route key of the template: `POST /jobs/{job_id}/hire`.
pub fn route_keys() -> Vec<String> {
    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
    let mut keys: Vec<String> = document()["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    keys.sort();
    keys
}

/// Fails unless `document` names exactly the routes the template has.
#[cfg(test)]
pub(crate) fn assert_same_routes(document: &str, mut routed: Vec<String>, documented: &[String]) {
    routed.sort();
    let missing: Vec<_> = routed.iter().filter(|k| !documented.contains(k)).collect();
    let extra: Vec<_> = documented.iter().filter(|k| !routed.contains(k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{document} and template.yaml disagree: not documented {missing:?}, not routed {extra:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    #[test]
    fn the_document_has_every_route_of_the_template_and_no_other() {
        let template = Template::load_default()
            .expect("template.yaml loads")
            .routes()
            .expect("routes")
            .iter()
            .map(|r| r.route_key())
            .collect();
        assert_same_routes("infra/openapi.yaml", template, &route_keys());
    }

    #[test]
    fn every_operation_is_named_and_every_post_takes_an_idempotency_key() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                assert!(
                    op["operationId"].is_string(),
                    "{method} {path}: no operationId"
                );
                let responses = op["responses"].as_object().expect("responses");
                for status in ["401", "413", "429", "500", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path}: no {status}"
                    );
                }
                if method == "post" {
                    let keyed = op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["$ref"] == "#/components/parameters/IdempotencyKey");
                    assert!(keyed, "{method} {path}: no Idempotency-Key");
                    for status in ["415", "422"] {
                        assert!(
                            responses.contains_key(status),
                            "{method} {path}: no {status}"
                        );
                    }
                }
            }
        }
    }

    /// Every problem code the API answers is in the document, and nothing else is.
    #[test]
    fn the_problem_codes_are_those_of_the_api() {
        let documented: Vec<&str> = document()["components"]["schemas"]["ProblemCode"]["enum"]
            .as_array()
            .expect("ProblemCode")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let source = include_str!("../../../shared/src/http/error.rs");
        let mut in_code: Vec<&str> = source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.len() > 3 && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .collect();
        in_code.sort();
        in_code.dedup();
        let mut documented_sorted = documented.clone();
        documented_sorted.sort();
        assert_eq!(documented_sorted, in_code);
    }

    /// The request schema's currencies are exactly those `POST /jobs` accepts.
    #[test]
    fn the_currency_codes_are_those_the_api_accepts() {
        let listed: Vec<String> = document()["components"]["schemas"]["CurrencyCode"]["enum"]
            .as_array()
            .expect("CurrencyCode")
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        let letters = b'A'..=b'Z';
        for a in letters.clone() {
            for b in letters.clone() {
                for c in letters.clone() {
                    let code = String::from_utf8(vec![a, b, c]).expect("ASCII");
                    assert_eq!(
                        shared::domain::Currency::parse(&code).is_ok(),
                        listed.contains(&code),
                        "{code}"
                    );
                }
            }
        }
    }
}
