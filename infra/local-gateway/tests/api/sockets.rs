//! Live notifications: the WebSocket API pushes what `notify` delivers, a client catches up
//! by position, and only a valid token connects.

use local_gateway::sockets::{Limits, ManagementFault};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use test_kit::{Heard, QUIET, Socket, WAIT};
use test_kit::{TestApp, spawn_app_with, spawn_app_with_stream};
use test_kit::{job_with_application_ids, outbox_bodies, sqs_event};

/// `user`'s inbox as `GET /me/notifications` lists it, by position.
async fn listed(app: &TestApp, user: &str) -> Vec<Value> {
    let mut items = app
        .get(user, "/me/notifications?limit=100")
        .await
        .expect(200)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    items.sort_by_key(|n| n["position"].as_u64());
    items
}

/// Alice's job with bob's and carol's applications, bob hired, everything delivered.
async fn bob_hired(app: &TestApp) -> String {
    let (job_id, ids) = job_with_application_ids(app, 1, &["bob", "carol"]).await;
    app.hire("alice", &job_id, &ids[0]).await.expect(200);
    app.drain_queue().await;
    job_id
}

fn kinds(items: &[Value]) -> Vec<&str> {
    items.iter().map(|n| n["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_hire_is_pushed_to_the_winner_and_the_rejected_once_each_as_the_inbox_lists_it() {
    let app = spawn_app_with_stream().await;
    let mut bob = app.connect("bob").await;
    let mut carol = app.connect("carol").await;
    bob_hired(&app).await;

    let hired = bob.notifications(1).await;
    let rejected = carol.notifications(1).await;
    assert_eq!(kinds(&hired), ["hired"]);
    assert_eq!(kinds(&rejected), ["application_rejected"]);
    assert_eq!(
        hired,
        listed(&app, "bob").await,
        "the pushed item is the inbox's"
    );
    assert_eq!(rejected, listed(&app, "carol").await);
    bob.assert_quiet().await;
    carol.assert_quiet().await;
}

#[tokio::test]
async fn every_connection_of_the_recipient_gets_it_and_nobody_else_does() {
    let app = spawn_app_with_stream().await;
    let mut tabs = [app.connect("bob").await, app.connect("bob").await];
    let mut dave = app.connect("dave").await;
    bob_hired(&app).await;

    let inbox = listed(&app, "bob").await;
    for tab in &mut tabs {
        assert_eq!(tab.notifications(1).await, inbox);
        tab.assert_quiet().await;
    }
    dave.assert_quiet().await;
}

/// A token signed with `secret` over `claims`, as the local stack's tokens are.
fn hs256(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_token_the_http_api_would_refuse_cannot_connect_and_writes_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let now = chrono::Utc::now().timestamp();
    let secret = "test-secret-that-is-at-least-32-bytes-long";
    let claims = |patch: Value| {
        let mut c = json!({"sub": "bob", "iss": local_gateway::auth::ISSUER,
            "aud": local_gateway::auth::AUDIENCE, "exp": now + 600, "iat": now});
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let _good = app
        .connect_with(&format!("token={}", hs256(secret, claims(json!({})))))
        .await
        .expect("the same token with nothing wrong connects");
    let refused = [
        ("missing", String::new()),
        ("malformed", "token=not.a.jwt".to_owned()),
        (
            "expired",
            format!("token={}", hs256(secret, claims(json!({"exp": now - 5})))),
        ),
        (
            "not yet valid",
            format!("token={}", hs256(secret, claims(json!({"nbf": now + 300})))),
        ),
        (
            "wrong audience",
            format!(
                "token={}",
                hs256(secret, claims(json!({"aud": "another-api"})))
            ),
        ),
        (
            "wrong issuer",
            format!(
                "token={}",
                hs256(secret, claims(json!({"iss": "someone-else"})))
            ),
        ),
        (
            "foreign-signed",
            format!(
                "token={}",
                hs256("another-secret-that-is-long-enough-0000", claims(json!({})))
            ),
        ),
    ];
    for (what, query) in refused {
        let status = app.connect_with(&query).await.err();
        assert!(
            matches!(status, Some(401 | 403)),
            "{what}: answered {status:?}"
        );
    }
    assert_eq!(
        app.connection_ids("bob").await.len(),
        1,
        "only the good one"
    );
}

#[tokio::test]
async fn ping_answers_pong_and_an_unknown_action_an_error_on_the_socket() {
    let app = spawn_app_with(|_| {}).await;
    let mut bob = app.connect("bob").await;
    bob.send(json!({"action": "ping"})).await;
    assert_eq!(bob.message().await, json!({"type": "pong"}));
    for unknown in [json!({"action": "shout"}), json!({"no": "action"})] {
        bob.send(unknown).await;
        let error = bob.message().await;
        assert_eq!(
            (error["type"].as_str(), error["code"].as_str()),
            (Some("error"), Some("UNKNOWN_ACTION"))
        );
    }
    bob.send(json!({"action": "sync", "after": "seven"})).await;
    assert_eq!(bob.message().await["code"], "VALIDATION_FAILED");
    bob.send(json!({"action": "ping"})).await;
    assert_eq!(bob.message().await, json!({"type": "pong"}), "still open");
}

#[tokio::test]
async fn a_sixth_connection_closes_the_oldest() {
    let app = spawn_app_with(|_| {}).await;
    let mut sockets: Vec<Socket> = Vec::new();
    for _ in 0..5 {
        sockets.push(app.connect("bob").await);
        // Distinct connect times, so which is oldest is not a tie.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = app.connection_ids("bob").await;
    assert_eq!(before.len(), 5);
    let mut sixth = app.connect("bob").await;
    assert!(sockets[0].closed_within(WAIT).await, "the oldest is closed");
    for open in &mut sockets[1..] {
        open.send(json!({"action": "ping"})).await;
        assert_eq!(open.message().await["type"], "pong");
    }
    sixth.send(json!({"action": "ping"})).await;
    assert_eq!(sixth.message().await["type"], "pong");
    let after = app.connection_ids("bob").await;
    assert_eq!(after.len(), 5);
    assert_eq!(
        before.iter().filter(|id| !after.contains(id)).count(),
        1,
        "exactly one of the first five is gone"
    );
}

#[tokio::test]
async fn six_connects_at_once_settle_at_five() {
    let app = spawn_app_with(|_| {}).await;
    let sockets = futures::future::join_all((0..6).map(|_| app.connect("bob"))).await;
    let deadline = Instant::now() + WAIT;
    while app.connection_ids("bob").await.len() > 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.connection_ids("bob").await.len(), 5);
    assert_eq!(app.stack.sockets.open(), 5, "and five sockets stay open");
    drop(sockets);
}

#[tokio::test]
async fn a_connection_is_pushed_nothing_once_its_token_expires_and_the_sweep_closes_it() {
    let app = spawn_app_with_stream().await;
    let token = app.auth.mint("bob", chrono::Duration::seconds(2));
    let mut bob = app.connect_with(&format!("token={token}")).await.unwrap();
    let mut carol = app.connect("carol").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    bob_hired(&app).await;
    assert_eq!(
        carol.notifications(1).await.len(),
        1,
        "a live one is pushed to"
    );
    bob.assert_quiet().await;

    let report = app.sweep_at(shared::time::now()).await;
    assert_eq!(report.closed_connections, 1);
    assert!(bob.closed_within(WAIT).await);
    assert!(app.connection_ids("bob").await.is_empty());
    assert_eq!(
        app.connection_ids("carol").await.len(),
        1,
        "carol's is left open"
    );
}

#[tokio::test]
async fn sync_or_ping_on_an_expired_connection_is_refused_and_closes_it() {
    let app = spawn_app_with(|_| {}).await;
    for action in ["sync", "ping"] {
        // Whole seconds: valid for at least one more second, expired after two.
        let token = app.auth.mint("bob", chrono::Duration::seconds(2));
        let mut bob = app.connect_with(&format!("token={token}")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        bob.send(json!({"action": action, "after": null})).await;
        let refusal = bob.message().await;
        assert_eq!(refusal["code"], "TOKEN_EXPIRED", "{action}");
        assert!(bob.closed_within(WAIT).await, "{action}");
    }
    // Its `$disconnect` runs after the close.
    let deadline = Instant::now() + WAIT;
    while !app.connection_ids("bob").await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.connection_ids("bob").await.is_empty());
}

/// A job of alice's with bob's application, bob hired: one more notification for bob.
async fn one_more_for_bob(app: &TestApp) {
    let (job_id, ids) = job_with_application_ids(app, 1, &["bob"]).await;
    app.hire("alice", &job_id, &ids[0]).await.expect(200);
}

#[tokio::test]
async fn a_client_that_was_away_syncs_exactly_what_it_missed_in_order() {
    let app = spawn_app_with_stream().await;
    let mut bob = app.connect("bob").await;
    one_more_for_bob(&app).await;
    app.drain_queue().await;
    let seen = bob.notifications(1).await;
    let last = seen[0]["position"].as_u64().unwrap();
    bob.close().await;

    for _ in 0..3 {
        one_more_for_bob(&app).await;
    }
    app.drain_queue().await;
    let mut bob = app.connect("bob").await;
    bob.assert_quiet().await;
    let missed = bob.sync(Some(last)).await;
    let positions: Vec<u64> = missed
        .iter()
        .map(|n| n["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [last + 1, last + 2, last + 3]);
    assert_eq!(missed, listed(&app, "bob").await[1..].to_vec());

    let everything = bob.sync(None).await;
    assert_eq!(
        everything,
        listed(&app, "bob").await,
        "from null: the whole inbox"
    );
}

#[tokio::test]
async fn a_notification_delivered_late_is_found_by_a_sync_from_before_it() {
    let app = spawn_app_with_stream().await;
    // Bob has applied to a job that will close while its fan-out is held.
    let (job_id, ids) = job_with_application_ids(&app, 1, &["carol", "bob"]).await;
    one_more_for_bob(&app).await;
    app.drain_queue().await;
    let mut bob = app.connect("bob").await;
    let before = bob.sync(None).await;
    let last = before.last().unwrap()["position"].as_u64().unwrap();

    app.hire("alice", &job_id, &ids[0]).await.expect(200);
    // The fan-out waits in the stream: not delivered, so nothing follows `last` yet.
    assert!(bob.sync(Some(last)).await.is_empty());
    bob.close().await;
    app.drain_queue().await;

    let mut bob = app.connect("bob").await;
    let late = bob.sync(Some(last)).await;
    assert_eq!(kinds(&late), ["application_rejected"]);
    assert_eq!(late[0]["position"].as_u64(), Some(last + 1));
}

#[tokio::test]
async fn a_socket_dropped_without_disconnect_keeps_its_item_until_a_push_finds_it_gone() {
    let app = spawn_app_with_stream().await;
    let bob = app.connect("bob").await;
    let [id] = <[String; 1]>::try_from(app.connection_ids("bob").await).unwrap();
    let vanished = app
        .http
        .post(format!("{}/_local/ws/{id}/vanish", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(vanished.status(), 204);
    drop(bob);
    tokio::time::sleep(QUIET).await;
    assert_eq!(app.connection_ids("bob").await, [id], "no $disconnect ran");

    bob_hired(&app).await;
    assert!(
        app.connection_ids("bob").await.is_empty(),
        "the 410 forgot it"
    );
    assert_eq!(listed(&app, "bob").await.len(), 1, "and the inbox has it");
}

#[tokio::test]
async fn a_failing_or_hanging_management_api_delays_no_delivery_nor_acknowledgement() {
    for fault in [ManagementFault::Fail, ManagementFault::Hang] {
        let app = spawn_app_with_stream().await;
        let _bob = app.connect("bob").await;
        app.stack.sockets.set_fault(fault);
        let started = Instant::now();
        bob_hired(&app).await;
        // A hung push is given up after its timeout: well within notify's 30 s.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{fault:?}: took {:?}",
            started.elapsed()
        );
        assert_eq!(kinds(&listed(&app, "bob").await), ["hired"], "{fault:?}");
        assert!(
            app.undispatched().await.is_empty(),
            "{fault:?}: all acknowledged"
        );
    }
}

#[tokio::test]
async fn an_event_redelivered_before_its_acknowledgement_pushes_again_and_the_inbox_holds_one() {
    let app = spawn_app_with(|_| {}).await;
    let mut bob = app.connect("bob").await;
    let (job_id, ids) = job_with_application_ids(&app, 1, &["bob"]).await;
    app.hire("alice", &job_id, &ids[0]).await.expect(200);
    let bodies = outbox_bodies(&app).await;
    for _ in 0..2 {
        let answer = shared::handlers::notify(app.app.clone(), sqs_event(&bodies)).await;
        assert!(answer.batch_item_failures.is_empty());
    }
    let pushed = bob.notifications(2).await;
    assert_eq!(pushed[0], pushed[1], "the same item, at the same position");
    assert_eq!(listed(&app, "bob").await, pushed[..1].to_vec());
    assert_eq!(bob.next_within(QUIET).await, Heard::Nothing);
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_a_ping_keeps_one_open() {
    let app = spawn_app_with(|o| {
        o.socket_limits = Limits {
            idle: Duration::from_millis(600),
            lifetime: Duration::from_secs(60),
        }
    })
    .await;
    let mut idle = app.connect("bob").await;
    let mut busy = app.connect("carol").await;
    for _ in 0..4 {
        busy.send(json!({"action": "ping"})).await;
        assert_eq!(busy.message().await["type"], "pong");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(idle.closed_within(Duration::from_millis(100)).await);
    busy.send(json!({"action": "ping"})).await;
    assert_eq!(busy.message().await["type"], "pong");
    tokio::time::sleep(QUIET).await;
    assert!(
        app.connection_ids("bob").await.is_empty(),
        "$disconnect ran"
    );
}

/// Log lines written while `work` runs on this thread, in the functions' format.
async fn logged<F: std::future::Future>(work: F) -> (F::Output, String) {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber =
        shared::telemetry::subscriber(tracing_subscriber::EnvFilter::new("trace"), move || {
            writer.clone()
        });
    // A test runs on one thread, the gateway's tasks included: they all log here.
    let guard = tracing::subscriber::set_default(subscriber);
    let output = work.await;
    drop(guard);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    (output, text)
}

#[tokio::test]
async fn no_token_reaches_a_log_line_whether_it_connects_or_not() {
    let app = spawn_app_with_stream().await;
    let good = app.token("bob");
    let expired = app.auth.mint("bob", chrono::Duration::seconds(-30));
    let (_, lines) = logged(async {
        let mut bob = app.connect_with(&format!("token={good}")).await.unwrap();
        assert!(app.connect_with(&format!("token={expired}")).await.is_err());
        bob_hired(&app).await;
        assert_eq!(bob.notifications(1).await.len(), 1);
        bob.send(json!({"action": "sync", "after": null})).await;
        bob.message().await;
        bob.close().await;
        tokio::time::sleep(QUIET).await;
    })
    .await;
    assert!(
        lines.contains("connect allowed") && lines.contains("connect denied"),
        "{lines}"
    );
    for token in [&good, &expired] {
        // The signature alone is enough to replay a token: none of it may show.
        let signature = token.rsplit('.').next().unwrap();
        assert!(!lines.contains(signature), "a token was logged");
    }
}

/// A stack whose authorizer is configured as production's: RS256 against `issuer`'s keys.
async fn with_production_authorizer(issuer: &str) -> TestApp {
    let env = [
        ("JWT_ALGORITHM", "RS256"),
        ("JWT_ISSUER", issuer),
        ("JWT_AUDIENCE", test_kit::jwks::AUDIENCE),
    ];
    let config = shared::auth::AuthConfig::from_lookup(|name| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("production's settings");
    spawn_app_with(|o| o.socket_auth = Some(config)).await
}

#[tokio::test]
async fn the_production_authorizer_takes_rs256_tokens_of_the_issuers_keys_and_nothing_else() {
    use test_kit::jwks::{Signer, TestIssuer};
    let idp = TestIssuer::serve().await;
    let app = with_production_authorizer(&idp.issuer).await;
    let mut bob = app
        .connect_with(&format!("token={}", idp.mint("bob", 600)))
        .await
        .expect("an RS256 token of the issuer's key connects");
    bob.send(json!({"action": "ping"})).await;
    assert_eq!(bob.message().await["type"], "pong");

    let local = local_gateway::auth::DEFAULT_SECRET.to_owned();
    let refused = [
        (
            "HS256 with the local secret",
            idp.token("bob").signer(Signer::Hs256(local)).mint(),
        ),
        ("alg none", idp.token("bob").signer(Signer::None).mint()),
        (
            "a foreign key",
            idp.token("bob").signer(Signer::Foreign).mint(),
        ),
        (
            "a kid not published",
            idp.token("bob").kid(Some("elsewhere")).mint(),
        ),
        (
            "wrong audience",
            idp.token("bob").audience("another-api").mint(),
        ),
        ("expired", idp.token("bob").expires_in(-5).mint()),
        ("not yet valid", idp.token("bob").not_before_in(300).mint()),
    ];
    for (what, token) in refused {
        let status = app.connect_with(&format!("token={token}")).await.err();
        assert!(matches!(status, Some(401 | 403)), "{what}: {status:?}");
    }
    assert_eq!(
        app.connection_ids("bob").await.len(),
        1,
        "only the good one"
    );

    // Keys that cannot be fetched refuse every connect: fail closed.
    let unreachable = with_production_authorizer("http://127.0.0.1:9").await;
    let status = unreachable
        .connect_with(&format!("token={}", idp.mint("bob", 600)))
        .await
        .err();
    assert_eq!(status, Some(500));
    assert!(unreachable.connection_ids("bob").await.is_empty());
}
