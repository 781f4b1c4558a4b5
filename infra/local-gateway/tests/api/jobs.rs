use serde_json::{Value, json};
use shared::store::keys;
use test_kit::{TestApp, s, spawn_app, str_of};

#[tokio::test]
async fn create_job_answers_201_with_the_job_and_its_location() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "alice",
            "/jobs",
            json!({"title": "  Logo  ", "budget_cents": 5000, "currency": "EUR", "openings": 2}),
        )
        .await;
    assert_eq!(
        reply.location,
        Some(format!("/jobs/{}", reply.body["job_id"].as_str().unwrap()))
    );
    let job = reply.expect(201);
    assert_eq!(job["title"], "Logo");
    assert_eq!(job["owner_id"], "alice");
    assert_eq!(job["status"], "open");
    assert_eq!(job["openings"], 2);
    assert_eq!(job["hired_count"], 0);
    assert_eq!(job["currency"], "EUR");
    let fetched = app
        .get("bob", &format!("/jobs/{}", str_of(&job, "job_id")))
        .await
        .expect(200);
    assert_eq!(fetched, job);
    assert!(
        fetched.get("applications").is_none(),
        "only the owner sees applications"
    );
    // The job, its audit event and its announcement to each consumer, nothing else.
    let items = app.items().await;
    assert_eq!(items.len(), 3, "{items:?}");
    let posted = app.items_with_sk(keys::OUTBOX_SK_PREFIX).await;
    let delivery: Value = serde_json::from_str(&s(&posted[0], "body")).unwrap();
    assert_eq!(delivery["type"], "job_posted");
    assert_eq!(delivery["job_id"], job["job_id"]);
}

#[tokio::test]
async fn create_job_defaults_expiry_to_fourteen_days() {
    let app = spawn_app().await;
    let job = app.create_job("alice", json!({})).await;
    let expires =
        chrono::DateTime::parse_from_rfc3339(job["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((13.9..=14.0).contains(&days), "expires in {days} days");
    assert_eq!(job["openings"], 1);
    assert_eq!(job["currency"], "USD");
}

async fn assert_rejected_unchanged(app: &TestApp, path: &str, body: Value, field: &str) {
    let before = app.items().await;
    let reply = app.post("alice", path, body.clone()).await;
    reply.expect_problem(400, "VALIDATION_FAILED");
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&field),
        "{field} not reported for {body}: {:#?}",
        reply.body
    );
    assert_eq!(app.items().await, before, "{body} changed the table");
}

#[tokio::test]
async fn every_job_bound_is_enforced_and_changes_nothing() {
    let app = spawn_app().await;
    let ok = json!({"title": "T", "budget_cents": 100});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let soon = |days: i64| json!((chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339());
    let cases = [
        (with("title", json!("")), "title"),
        (with("title", json!("   ")), "title"),
        (with("title", json!("x".repeat(201))), "title"),
        (with("title", json!(42)), "title"),
        (json!({"budget_cents": 100}), "title"),
        (with("description", json!("x".repeat(5001))), "description"),
        (with("budget_cents", json!(0)), "budget_cents"),
        (with("budget_cents", json!(1_000_000_001)), "budget_cents"),
        (with("budget_cents", json!(10.5)), "budget_cents"),
        (with("budget_cents", json!("100")), "budget_cents"),
        (json!({"title": "T"}), "budget_cents"),
        (with("currency", json!("usd")), "currency"),
        (with("currency", json!("ABC")), "currency"),
        (with("openings", json!(0)), "openings"),
        (with("openings", json!(51)), "openings"),
        (with("openings", json!(1.5)), "openings"),
        (with("expires_at", soon(-1)), "expires_at"),
        (with("expires_at", soon(91)), "expires_at"),
        (with("expires_at", json!("next week")), "expires_at"),
    ];
    for (body, field) in cases {
        assert_rejected_unchanged(&app, "/jobs", body, field).await;
    }
    // Bounds themselves are accepted.
    app.create_job("alice", json!({"title": "x".repeat(200), "budget_cents": 1_000_000_000, "openings": 50, "expires_at": soon(89)}))
        .await;
    app.create_job(
        "alice",
        json!({"budget_cents": 1, "description": "x".repeat(5000)}),
    )
    .await;
}

/// JSON does not tell `2` from `2.0`, nor does the JSON Schema of the published contract:
/// an integer written with a fraction of zero is that integer (schemathesis sent one).
#[tokio::test]
async fn integers_written_with_a_zero_fraction_are_integers() {
    let app = spawn_app().await;
    let body = r#"{"title": "T", "budget_cents": 50000.0, "openings": 2.0}"#;
    let job = app.post_raw("alice", "/jobs", body).await.expect(201);
    assert_eq!(
        (job["budget_cents"].clone(), job["openings"].clone()),
        (json!(50000), json!(2))
    );
    let path = format!("/jobs/{}/applications", str_of(&job, "job_id"));
    let application = app
        .post_raw("bob", &path, r#"{"bid_cents": 4.5e4}"#)
        .await
        .expect(201);
    assert_eq!(application["bid_cents"], json!(45000));
    assert_rejected_unchanged(
        &app,
        "/jobs",
        json!({"title": "T", "budget_cents": 100.5}),
        "budget_cents",
    )
    .await;
}

#[tokio::test]
async fn all_field_errors_are_listed_together() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "alice",
            "/jobs",
            json!({"title": "", "budget_cents": -1, "openings": 99}),
        )
        .await;
    reply.expect_problem(400, "VALIDATION_FAILED");
    assert_eq!(reply.body["errors"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn malformed_or_oversized_bodies_are_refused() {
    let app = spawn_app().await;
    app.post_raw("alice", "/jobs", "{not json")
        .await
        .expect_problem(400, "MALFORMED_JSON");
    app.post_raw("alice", "/jobs", "[1, 2]")
        .await
        .expect_problem(400, "MALFORMED_JSON");
    app.post_raw("alice", "/jobs", "")
        .await
        .expect_problem(400, "MALFORMED_JSON");
    let huge =
        json!({"title": "T", "budget_cents": 1, "description": "x".repeat(70_000)}).to_string();
    app.post_raw("alice", "/jobs", &huge)
        .await
        .expect_problem(413, "PAYLOAD_TOO_LARGE");
    assert!(app.items().await.is_empty());
}

#[tokio::test]
async fn no_or_bad_token_is_401() {
    let app = spawn_app().await;
    let no_token = app
        .send(app.request(reqwest::Method::GET, None, "/jobs"))
        .await;
    no_token.expect_unauthorized();
    assert_eq!(no_token.header("www-authenticate"), Some("Bearer"));
    let forged = local_gateway::auth::Auth::new("some-other-secret-of-enough-length")
        .mint("alice", chrono::Duration::hours(1));
    let bad = app
        .send(
            app.http
                .post(format!("{}/jobs", app.address))
                .bearer_auth(forged)
                .json(&json!({"title": "T", "budget_cents": 1})),
        )
        .await;
    bad.expect_unauthorized();
    assert!(
        bad.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    assert!(app.items().await.is_empty());
}

#[tokio::test]
async fn unknown_jobs_are_404() {
    let app = spawn_app().await;
    let unknown = ulid::Ulid::generate();
    app.get("alice", &format!("/jobs/{unknown}"))
        .await
        .expect_problem(404, "JOB_NOT_FOUND");
    app.get("alice", "/jobs/not-an-id")
        .await
        .expect_problem(404, "JOB_NOT_FOUND");
    app.post("alice", &format!("/jobs/{unknown}/cancel"), json!({}))
        .await
        .expect_problem(404, "JOB_NOT_FOUND");
}

#[tokio::test]
async fn a_page_of_open_jobs_is_full_though_some_are_past_their_deadline() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..9 {
        ids.push(str_of(&app.create_job("alice", json!({})).await, "job_id"));
    }
    // Expired, though no sweep has written it yet: left out of the open board.
    for i in [1, 2, 5, 6, 7] {
        app.time_travel_past_deadline(&ids[i]).await;
    }
    let open: Vec<String> = [8, 4, 3, 0].iter().map(|&i| ids[i].clone()).collect();

    let mut pages = Vec::new();
    let mut path = "/jobs?limit=2".to_owned();
    loop {
        let page = app.get("carol", &path).await.expect(200);
        let listed: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| str_of(j, "job_id"))
            .collect();
        pages.push(listed);
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/jobs?limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(pages.len() < 5, "paging never ends: {pages:?}");
    }
    assert_eq!(pages, [open[..2].to_vec(), open[2..].to_vec()]);
}

#[tokio::test]
async fn list_jobs_pages_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let owner = if i % 2 == 0 { "alice" } else { "bob" };
        ids.push(str_of(
            &app.create_job(owner, json!({"title": format!("job {i}")}))
                .await,
            "job_id",
        ));
    }
    ids.reverse();

    let page1 = app.get("carol", "/jobs?limit=2").await.expect(200);
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let page2 = app
        .get("carol", &format!("/jobs?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    let cursor2 = page2["next_cursor"].as_str().unwrap().to_owned();
    let page3 = app
        .get("carol", &format!("/jobs?limit=2&cursor={cursor2}"))
        .await
        .expect(200);
    let listed: Vec<String> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| str_of(j, "job_id"))
        })
        .collect();
    assert_eq!(listed, ids);
    assert!(
        page3["next_cursor"].is_null(),
        "the last page has no cursor"
    );

    let mine = app.get("alice", "/jobs?owner=me").await.expect(200);
    let owners: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["owner_id"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["alice", "alice", "alice"]);
    assert!(mine["next_cursor"].is_null());
}

#[tokio::test]
async fn list_jobs_filters_by_status() {
    let app = spawn_app().await;
    let open = app.create_job("alice", json!({})).await;
    let cancelled = app.create_job("alice", json!({})).await;
    let expired = app.create_job("alice", json!({})).await;
    app.post(
        "alice",
        &format!("/jobs/{}/cancel", str_of(&cancelled, "job_id")),
        json!({}),
    )
    .await
    .expect(200);
    app.time_travel_past_deadline(&str_of(&expired, "job_id"))
        .await;

    let ids = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| str_of(j, "job_id"))
            .collect()
    };
    assert_eq!(
        ids(app.get("bob", "/jobs").await.expect(200)),
        [str_of(&open, "job_id")]
    );
    assert_eq!(
        ids(app.get("bob", "/jobs?status=cancelled").await.expect(200)),
        [str_of(&cancelled, "job_id")]
    );
    assert_eq!(
        ids(app
            .get("alice", "/jobs?status=cancelled&owner=me")
            .await
            .expect(200)),
        [str_of(&cancelled, "job_id")]
    );
    assert!(
        ids(app
            .get("bob", "/jobs?status=cancelled&owner=me")
            .await
            .expect(200))
        .is_empty()
    );
    let seen = app
        .get("bob", &format!("/jobs/{}", str_of(&expired, "job_id")))
        .await
        .expect(200);
    assert_eq!(
        seen["status"], "expired",
        "an open job past its deadline reads as expired"
    );
}

#[tokio::test]
async fn list_query_bounds_and_cursors_are_validated() {
    let app = spawn_app().await;
    for q in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "status=bogus",
        "owner=bob",
    ] {
        app.get("alice", &format!("/jobs?{q}"))
            .await
            .expect_problem(400, "VALIDATION_FAILED");
    }
    app.get("alice", "/jobs?limit=100").await.expect(200);
    app.get("alice", "/jobs?limit=1").await.expect(200);
    app.get("alice", "/jobs?cursor=garbage")
        .await
        .expect_problem(400, "INVALID_CURSOR");

    for _ in 0..2 {
        app.create_job("alice", json!({})).await;
    }
    let page = app.get("alice", "/jobs?limit=1").await.expect(200);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    // A cursor is bound to its listing and cannot be altered.
    app.get("alice", &format!("/jobs?status=filled&cursor={cursor}"))
        .await
        .expect_problem(400, "INVALID_CURSOR");
    app.get("alice", &format!("/jobs?owner=me&cursor={cursor}"))
        .await
        .expect_problem(400, "INVALID_CURSOR");
    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    app.get("alice", &format!("/jobs?cursor={tampered}"))
        .await
        .expect_problem(400, "INVALID_CURSOR");
}

#[tokio::test]
async fn only_the_owner_cancels_an_open_job() {
    let app = spawn_app().await;
    let job = app.create_job("alice", json!({})).await;
    let path = format!("/jobs/{}/cancel", str_of(&job, "job_id"));
    app.post("bob", &path, json!({}))
        .await
        .expect_problem(403, "NOT_JOB_OWNER");
    let cancelled = app.post("alice", &path, json!({})).await.expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    let before = app.items().await;
    let again = app.post("alice", &path, json!({})).await;
    again.expect_problem(409, "JOB_NOT_OPEN");
    assert_eq!(again.body["current_status"], "cancelled");
    assert_eq!(app.items().await, before);
}

/// `cursor=` is a client's "no cursor yet": every listing answers its first page, as
/// without one.
#[tokio::test]
async fn a_blank_cursor_is_the_first_page_of_every_listing() {
    let app = spawn_app().await;
    let (job_id, _) = test_kit::job_with_application(&app).await;
    let listings = [
        ("alice", "/jobs".to_owned()),
        ("alice", format!("/jobs/{job_id}/applications")),
        ("bob", "/me/applications".to_owned()),
        ("alice", "/me/notifications".to_owned()),
        ("alice", "/me/contracts".to_owned()),
        ("alice", format!("/jobs/{job_id}/events")),
    ];
    for (user, path) in listings {
        let first = app.get(user, &path).await.expect(200);
        let blank = app.get(user, &format!("{path}?cursor=")).await.expect(200);
        assert_eq!(blank, first, "{path}");
    }
}
