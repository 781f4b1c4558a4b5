//! `make audit` against DynamoDB Local: a table written through the real API has no
//! violation; each invariant broken on purpose, one at a time with raw writes, is caught with
//! the right kind and ids, and the table is clean again once the break is undone.

mod breaks;
mod records;

use ::audit::{Check, Report, Settings};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use shared::store::keys;
use std::collections::HashSet;
use test_kit::act;
use test_kit::{Item, TestApp, key, s, spawn_app_with_stream, str_of};

/// A table with a bit of everything, written through the API: filled jobs of one and two
/// openings, an open one partly hired, a cancelled one whose applicant is not yet told, a
/// funded contract, rejections fanned out, a withdrawal and a read notification.
pub struct Fixture {
    pub app: TestApp,
    /// Filled (one opening): bob hired on a funded contract, carol rejected.
    pub job_a: String,
    pub contract_a: String,
    /// Filled (two openings): dave then erin hired.
    pub job_b: String,
    pub app_b_dave: String,
    pub contract_b_dave: String,
    pub contract_b_erin: String,
    /// Open (three openings): frank hired, gina pending, jane withdrawn.
    pub job_c: String,
    pub app_c_frank: String,
    pub app_c_gina: String,
    pub contract_c: String,
    /// Cancelled just now: ivan still pending, `notify` not yet run on it.
    pub job_e: String,
    pub app_e_ivan: String,
    /// Everything as the API left it, to undo each break with.
    pub clean: Vec<Item>,
}

async fn hire(app: &TestApp, job: &str, application: &str) -> String {
    let hired = app.hire("alice", job, application).await.expect(200);
    str_of(&hired["contract"], "contract_id")
}

async fn apply(app: &TestApp, job: &str, freelancer: &str, bid: i64) -> String {
    str_of(&app.apply(job, freelancer, bid).await, "application_id")
}

impl Fixture {
    pub async fn new() -> Self {
        let app = spawn_app_with_stream().await;
        let job = |openings: u32| app.create_job("alice", json!({"openings": openings}));
        let job_a = str_of(&job(1).await, "job_id");
        let app_a_bob = apply(&app, &job_a, "bob", 10_000).await;
        apply(&app, &job_a, "carol", 12_000).await;
        let contract_a = hire(&app, &job_a, &app_a_bob).await;
        act(&app, "alice", &contract_a, "fund").await.expect(200);

        let job_b = str_of(&job(2).await, "job_id");
        let app_b_dave = apply(&app, &job_b, "dave", 20_000).await;
        let app_b_erin = apply(&app, &job_b, "erin", 21_000).await;
        let contract_b_dave = hire(&app, &job_b, &app_b_dave).await;
        // Apart in time, so a record can be put between the two hires.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let contract_b_erin = hire(&app, &job_b, &app_b_erin).await;

        let job_c = str_of(&job(3).await, "job_id");
        let app_c_frank = apply(&app, &job_c, "frank", 30_000).await;
        let app_c_gina = apply(&app, &job_c, "gina", 31_000).await;
        let app_c_jane = apply(&app, &job_c, "jane", 32_000).await;
        let contract_c = hire(&app, &job_c, &app_c_frank).await;
        let withdraw = format!("/jobs/{job_c}/applications/{app_c_jane}/withdraw");
        app.post("jane", &withdraw, json!({})).await.expect(200);

        app.drain_queue().await;
        let hired_note = app
            .inbox("bob")
            .await
            .into_iter()
            .find(|n| s(n, "type") == "hired")
            .expect("bob heard of his hire");
        let read = format!(
            "/me/notifications/{}/read",
            s(&hired_note, "notification_id")
        );
        app.post("bob", &read, json!({})).await.expect(200);

        let job_e = str_of(&job(1).await, "job_id");
        let app_e_ivan = apply(&app, &job_e, "ivan", 40_000).await;
        let cancel = format!("/jobs/{job_e}/cancel");
        // With a key: the table holds the record of its answer.
        app.post_keyed("alice", &cancel, json!({}), "cancel-e")
            .await
            .expect(200);

        let clean = app.items().await;
        Self {
            app,
            job_a,
            contract_a,
            job_b,
            app_b_dave,
            contract_b_dave,
            contract_b_erin,
            job_c,
            app_c_frank,
            app_c_gina,
            contract_c,
            job_e,
            app_e_ivan,
            clean,
        }
    }

    pub async fn audit(&self) -> Report {
        let items = ::audit::read_table(&self.app.dynamo, &self.app.table, 3)
            .await
            .expect("table read");
        ::audit::check(items, &Settings::at(shared::time::now()))
    }

    /// Asserts that the audit finds exactly `expected` (check, id name, id), then undoes the
    /// break and asserts the table is clean again, so each break is judged alone.
    pub async fn caught(&self, what: &str, expected: &[(Check, &str, &str)]) {
        let report = self.audit().await;
        assert_eq!(
            report.violations.len(),
            expected.len(),
            "{what}: expected {expected:?}, found:\n{report}"
        );
        for (check, name, id) in expected {
            assert!(
                report
                    .violations
                    .iter()
                    .any(|v| v.check == *check && v.involves(name, id)),
                "{what}: expected {check:?} with {name}={id}, found:\n{report}"
            );
        }
        self.restore().await;
        let after = self.audit().await;
        assert!(after.is_clean(), "{what}, undone:\n{after}");
    }

    /// Puts the table back as the API left it.
    async fn restore(&self) {
        let clean: HashSet<(String, String)> = self
            .clean
            .iter()
            .map(|i| (s(i, "PK"), s(i, "SK")))
            .collect();
        for item in self.app.items().await {
            let key = (s(&item, "PK"), s(&item, "SK"));
            if !clean.contains(&key) {
                self.delete(&key.0, &key.1).await;
            }
        }
        for item in &self.clean {
            self.put(item.clone()).await;
        }
    }

    pub async fn put(&self, item: Item) {
        let t = &self.app;
        let put = t
            .dynamo
            .put_item()
            .table_name(&t.table)
            .set_item(Some(item));
        put.send().await.expect("raw put");
    }

    pub async fn delete(&self, pk: &str, sk: &str) {
        let t = &self.app;
        t.dynamo
            .delete_item()
            .table_name(&t.table)
            .key("PK", AttributeValue::S(pk.into()))
            .key("SK", AttributeValue::S(sk.into()))
            .send()
            .await
            .expect("raw delete");
    }

    pub async fn get(&self, pk: &str, sk: &str) -> Item {
        self.app.item(pk, sk).await.expect("item exists")
    }

    /// Sets attributes of an item, as a bug (or a hand) could.
    pub async fn set(&self, pk: &str, sk: &str, attributes: &[(&str, AttributeValue)]) {
        let mut item = self.get(pk, sk).await;
        for (name, value) in attributes {
            item.insert((*name).to_owned(), value.clone());
        }
        self.put(item).await;
    }

    pub async fn remove(&self, pk: &str, sk: &str, attributes: &[&str]) {
        let mut item = self.get(pk, sk).await;
        for name in attributes {
            item.remove(*name);
        }
        self.put(item).await;
    }

    /// The job's audit record of `entity_id` going `to`.
    pub async fn record(&self, job: &str, entity_id: &str, to: &str) -> Item {
        self.app
            .items_with_sk(keys::EVENT_SK_PREFIX)
            .await
            .into_iter()
            .find(|e| {
                s(e, "PK") == key::job(job)
                    && s(e, "entity_id") == entity_id
                    && s(e, "to_status") == to
            })
            .unwrap_or_else(|| panic!("no record of {entity_id} going {to}"))
    }

    /// The table holds states the API cannot make: out of the suite-wide audit with it.
    pub async fn done(self) {
        self.app.delete_table().await;
    }
}

pub fn text(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

#[tokio::test]
async fn a_table_written_through_the_api_has_no_violation() {
    let f = Fixture::new().await;
    let report = f.audit().await;
    assert!(report.is_clean(), "{report}");
    // Every kind of item was read, so every check had something to check.
    for kind in [
        ::audit::Kind::Job,
        ::audit::Kind::Application,
        ::audit::Kind::Guard,
        ::audit::Kind::AuditRecord,
        ::audit::Kind::Contract,
        ::audit::Kind::ContractLink,
        ::audit::Kind::Notification,
        ::audit::Kind::Outbox,
    ] {
        assert!(
            report.items.get(&kind).copied().unwrap_or(0) > 0,
            "{kind:?}: {report}"
        );
    }
    f.done().await;
}
