//! Escrow contracts: the whole transition table, deadlines, listing and the audit trail.

use serde_json::{Value, json};
use shared::store::keys;
use test_kit::{TestApp, s, spawn_app, spawn_app_with};
use test_kit::{act, hired_contract};

/// A contract brought to `state` through the API (and the sweeper, for `expired`;
/// `overdue` is funded with its deadline passed but not yet swept).
async fn contract_in(app: &TestApp, state: &str) -> String {
    let (_, id) = hired_contract(app).await;
    if state == "created" {
        return id;
    }
    act(app, "alice", &id, "fund").await.expect(200);
    match state {
        "funded" => {}
        "released" => {
            act(app, "alice", &id, "release").await.expect(200);
        }
        "refunded" => {
            act(app, "alice", &id, "refund").await.expect(200);
        }
        "overdue" | "expired" => {
            app.set_release_deadline(&id, "2020-01-01T00:00:00.000Z")
                .await;
            if state == "expired" {
                assert_eq!(app.sweep_at(shared::time::now()).await.expired_contracts, 1);
            }
        }
        other => panic!("no state {other}"),
    }
    id
}

/// The time a funded contract gives its owner to release it.
fn release_window(funded: &Value) -> chrono::Duration {
    let at =
        |name: &str| chrono::DateTime::parse_from_rfc3339(funded[name].as_str().unwrap()).unwrap();
    at("release_deadline") - at("funded_at")
}

#[tokio::test]
async fn every_state_action_and_caller() {
    let app = spawn_app().await;
    // (state, action, caller) → (status, code or resulting state)
    let owner_table: &[(&str, &str, u16, &str)] = &[
        ("created", "fund", 200, "funded"),
        ("created", "release", 409, "created"),
        ("created", "refund", 409, "created"),
        ("funded", "fund", 409, "funded"),
        ("funded", "release", 200, "released"),
        ("funded", "refund", 200, "refunded"),
        ("released", "fund", 409, "released"),
        ("released", "release", 409, "released"),
        ("released", "refund", 409, "released"),
        ("refunded", "fund", 409, "refunded"),
        ("refunded", "release", 409, "refunded"),
        ("refunded", "refund", 409, "refunded"),
        ("expired", "fund", 409, "expired"),
        ("expired", "release", 409, "expired"),
        ("expired", "refund", 409, "expired"),
        ("overdue", "fund", 409, "expired"),
        ("overdue", "release", 409, "expired"),
        ("overdue", "refund", 409, "expired"),
    ];
    for &(state, action, status, after) in owner_table {
        let id = contract_in(&app, state).await;
        let stored_before = app.contract_item(&id).await;

        // Strangers cannot tell the contract exists; the freelancer may only read.
        act(&app, "mallory", &id, action)
            .await
            .expect_problem(404, "CONTRACT_NOT_FOUND");
        app.get("mallory", &format!("/contracts/{id}"))
            .await
            .expect_problem(404, "CONTRACT_NOT_FOUND");
        act(&app, "bob", &id, action)
            .await
            .expect_problem(403, "NOT_CONTRACT_OWNER");
        assert_eq!(
            app.contract_item(&id).await,
            stored_before,
            "{state}/{action}: a refusal changed the contract"
        );

        let reply = act(&app, "alice", &id, action).await;
        if status == 200 {
            assert_eq!(reply.expect(200)["status"], after, "{state}/{action}");
        } else {
            reply.expect_problem(409, "INVALID_TRANSITION");
            assert_eq!(reply.body["current_status"], after, "{state}/{action}");
            assert_eq!(
                app.contract_item(&id).await,
                stored_before,
                "{state}/{action}: a refusal changed the contract"
            );
        }
        for party in ["alice", "bob"] {
            let seen = app
                .get(party, &format!("/contracts/{id}"))
                .await
                .expect(200);
            assert_eq!(seen["status"], after, "{state}/{action} as seen by {party}");
        }
    }
    app.get("alice", &format!("/contracts/{}", ulid::Ulid::generate()))
        .await
        .expect_problem(404, "CONTRACT_NOT_FOUND");
    app.get("alice", "/contracts/nonsense")
        .await
        .expect_problem(404, "CONTRACT_NOT_FOUND");
}

#[tokio::test]
async fn funding_sets_the_deadline_and_the_contract_holds_the_bid() {
    let app = spawn_app().await;
    let (job_id, id) = hired_contract(&app).await;
    let created = app
        .get("bob", &format!("/contracts/{id}"))
        .await
        .expect(200);
    assert_eq!(
        (created["amount_cents"].as_i64(), created["job_id"].as_str()),
        (Some(12_345), Some(job_id.as_str()))
    );
    assert!(created["release_deadline"].is_null());
    let funded = act(&app, "alice", &id, "fund").await.expect(200);
    assert_eq!(release_window(&funded), chrono::Duration::days(14));
    let stored = app.contract_item(&id).await;
    assert!(
        keys::Due::Contract
            .partitions(0)
            .any(|p| p == s(&stored, "DUEPK")),
        "a funded contract is due work"
    );
    act(&app, "alice", &id, "release").await.expect(200);
    let stored = app.contract_item(&id).await;
    assert!(
        !stored.contains_key("DUEPK"),
        "a released contract is no longer due"
    );
}

/// The release window is the handlers' `Config`, locally as in a Lambda
/// (`RELEASE_WINDOW_DAYS`).
#[tokio::test]
async fn funding_sets_the_deadline_from_the_configured_release_window() {
    let app = spawn_app_with(|o| o.config.release_window = chrono::Duration::days(3)).await;
    let (_, id) = hired_contract(&app).await;
    let funded = act(&app, "alice", &id, "fund").await.expect(200);
    assert_eq!(release_window(&funded), chrono::Duration::days(3));
}

#[tokio::test]
async fn both_parties_list_their_contracts_newest_first() {
    let app = spawn_app().await;
    let (_, first) = hired_contract(&app).await;
    let (_, second) = hired_contract(&app).await;
    for party in ["alice", "bob"] {
        let page1 = app.get(party, "/me/contracts?limit=1").await.expect(200);
        assert_eq!(page1["items"][0]["contract_id"], second.as_str(), "{party}");
        let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
        let page2 = app
            .get(party, &format!("/me/contracts?limit=1&cursor={cursor}"))
            .await
            .expect(200);
        assert_eq!(page2["items"][0]["contract_id"], first.as_str(), "{party}");
    }
    let none = app.get("carol", "/me/contracts").await.expect(200);
    assert_eq!(none, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn the_audit_trail_shows_every_change_oldest_first_to_the_parties_only() {
    let app = spawn_app().await;
    let (job_id, id) = hired_contract(&app).await;
    act(&app, "alice", &id, "fund").await.expect(200);
    act(&app, "alice", &id, "release").await.expect(200);

    let trail = app
        .get("alice", &format!("/jobs/{job_id}/events"))
        .await
        .expect(200);
    let steps: Vec<String> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}:{}>{}",
                e["entity"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["from_status"].as_str().unwrap_or("-"),
                e["to_status"].as_str().unwrap()
            )
        })
        .collect();
    // Oldest first, and the three changes of the hire (one instant) in the order they mean.
    assert_eq!(
        steps,
        [
            "job:created:->open",
            "application:applied:->pending",
            "application:hired:pending>hired",
            "contract:created:->created",
            "job:filled:open>filled",
            "contract:funded:created>funded",
            "contract:released:funded>released",
        ]
    );
    assert!(
        trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_id"].is_string() && e["at"].is_string())
    );

    assert_eq!(
        app.get("bob", &format!("/jobs/{job_id}/events"))
            .await
            .expect(200),
        trail
    );
    app.get("carol", &format!("/jobs/{job_id}/events"))
        .await
        .expect_problem(403, "NOT_JOB_PARTY");
    app.get("alice", &format!("/jobs/{}/events", ulid::Ulid::generate()))
        .await
        .expect_problem(404, "JOB_NOT_FOUND");

    let page = app
        .get("bob", &format!("/jobs/{job_id}/events?limit=2"))
        .await
        .expect(200);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            "bob",
            &format!("/jobs/{job_id}/events?limit=100&cursor={cursor}"),
        )
        .await
        .expect(200);
    let paged: Vec<Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(Value::Array(paged), trail["items"]);
}
