use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use local_gateway::auth::Auth;
use local_gateway::template::Template;
use local_gateway::{Gateway, GatewayConfig, stack};
use serde_json::{Value, json};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// One running API on a fresh table of its own, so tests never see each other's data.
pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub dynamo: Client,
    pub table: String,
    pub auth: Auth,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub location: Option<String>,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Fails the test with the whole reply unless the status is `status`.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected reply: {self:#?}");
        self.body
    }

    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected reply: {self:#?}"
        );
        assert_eq!(self.content_type, "application/problem+json");
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
    }
}

pub fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").expect(
        "DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local",
    )
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(stack::dynamo_client(&dynamodb_endpoint())).await
}

/// A test app whose handlers use `handler_client` (e.g. one that injects faults); setup and
/// inspection use a plain client.
pub async fn spawn_app_with(handler_client: Client) -> TestApp {
    shared::telemetry::init();
    let endpoint = dynamodb_endpoint();
    let template = Template::load_default().expect("template.yaml loads");
    let table = format!("test-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let dynamo = stack::dynamo_client(&endpoint);
    stack::ensure_table(&dynamo, &table, &template)
        .await
        .expect("table created from template.yaml");
    let auth = Auth::new("test-secret-that-is-at-least-32-bytes-long");
    let gateway = Gateway::with_client(
        handler_client,
        GatewayConfig {
            dynamodb_endpoint: endpoint,
            table_name: table.clone(),
            cursor_secret: "test-cursor-secret".into(),
            auth: auth.clone(),
        },
        &template,
    )
    .expect("every route has a handler");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = gateway.spawn(listener).await.unwrap();
    TestApp {
        address: format!("http://{addr}"),
        http: reqwest::Client::new(),
        dynamo,
        table,
        auth,
    }
}

impl TestApp {
    pub fn token(&self, user: &str) -> String {
        self.auth.mint(user, chrono::Duration::hours(1))
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let header = |name| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let location = header(reqwest::header::LOCATION);
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            content_type,
            location,
        }
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        user: Option<&str>,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.address));
        match user {
            Some(u) => req.bearer_auth(self.token(u)),
            None => req,
        }
    }

    pub async fn get(&self, user: &str, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::GET, Some(user), path))
            .await
    }

    pub async fn post(&self, user: &str, path: &str, body: Value) -> Reply {
        self.send(
            self.request(reqwest::Method::POST, Some(user), path)
                .json(&body),
        )
        .await
    }

    pub async fn post_raw(&self, user: &str, path: &str, body: &str) -> Reply {
        self.send(
            self.request(reqwest::Method::POST, Some(user), path)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }

    /// Posts a job with `extra` fields over a valid default; returns it.
    pub async fn create_job(&self, owner: &str, extra: Value) -> Value {
        let mut body =
            json!({"title": "Build a thing", "description": "Details", "budget_cents": 100_000});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.post(owner, "/jobs", body).await.expect(201)
    }

    pub async fn apply(&self, job_id: &str, freelancer: &str, bid_cents: i64) -> Value {
        self.post(
            freelancer,
            &format!("/jobs/{job_id}/applications"),
            json!({"bid_cents": bid_cents, "message": "Pick me"}),
        )
        .await
        .expect(201)
    }

    pub async fn hire(&self, owner: &str, job_id: &str, application_id: &str) -> Reply {
        self.post(
            owner,
            &format!("/jobs/{job_id}/hire"),
            json!({"application_id": application_id}),
        )
        .await
    }

    /// Every item of the table, sorted by key: a snapshot to prove a refusal changed nothing.
    pub async fn items(&self) -> Vec<Item> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .dynamo
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.sort_by_key(|i| (s(i, "PK"), s(i, "SK")));
        items
    }

    /// Items whose sort key starts with `prefix`.
    pub async fn items_with_sk(&self, prefix: &str) -> Vec<Item> {
        self.items()
            .await
            .into_iter()
            .filter(|i| s(i, "SK").starts_with(prefix))
            .collect()
    }

    pub async fn item(&self, pk: &str, sk: &str) -> Option<Item> {
        self.dynamo
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk.into()))
            .key("SK", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }

    /// Moves a job's deadline into the past without any sweep, as time passing would.
    pub async fn time_travel_past_deadline(&self, job_id: &str) {
        self.dynamo
            .update_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(format!("JOB#{job_id}")))
            .key("SK", AttributeValue::S("JOB".into()))
            .update_expression("SET expires_at = :past")
            .expression_attribute_values(
                ":past",
                AttributeValue::S("2020-01-01T00:00:00.000Z".into()),
            )
            .send()
            .await
            .expect("update expires_at");
    }
}

/// A string attribute of an item, or "".
pub fn s(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// A numeric attribute of an item.
pub fn n(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .expect("numeric attribute")
}

pub fn str_of(v: &Value, name: &str) -> String {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
        .to_owned()
}
