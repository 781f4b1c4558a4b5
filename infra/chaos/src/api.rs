//! A well-behaved client: every POST carries an `Idempotency-Key` and is sent again with the
//! same key on 503, on 409 `IDEMPOTENCY_IN_PROGRESS` (after `Retry-After`) and on a lost
//! connection, until it has a definitive answer or [`GIVE_UP_AFTER`] has passed. Every
//! exchange is logged for the checks.

use local_gateway::auth::Auth;
use reqwest::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A request still without a definitive answer after this long is reported as such.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(120);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// One try of a request: its HTTP status, or `None` when the connection was lost.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub start: Duration,
    pub end: Duration,
    pub status: Option<u16>,
}

/// A request and every try of it, from the run's start.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub user: String,
    pub method: Method,
    /// The route's shape (ids left out), for the summary.
    pub route: &'static str,
    pub path: String,
    pub attempts: Vec<Attempt>,
    /// The definitive answer, if one came.
    pub answer: Option<Answer>,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn id(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_default().to_owned()
    }
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    tokens: Arc<Mutex<HashMap<String, String>>>,
    pub start: Instant,
    pub log: Arc<Mutex<Vec<Exchange>>>,
}

impl Api {
    pub fn new(base: String, start: Instant) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(ATTEMPT_TIMEOUT)
                .build()
                .expect("an HTTP client"),
            base,
            auth: Auth::from_env(),
            tokens: Arc::default(),
            start,
            log: Arc::default(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self, user: &str) -> String {
        self.tokens
            .lock()
            .unwrap()
            .entry(user.to_owned())
            .or_insert_with(|| self.auth.mint(user, chrono::Duration::hours(6)))
            .clone()
    }

    pub async fn get(&self, user: &str, route: &'static str, path: &str) -> Option<Answer> {
        self.send(user, Method::GET, route, path, None, None).await
    }

    pub async fn post(
        &self,
        user: &str,
        route: &'static str,
        path: &str,
        body: Value,
        key: String,
    ) -> Option<Answer> {
        self.send(user, Method::POST, route, path, Some(body), Some(key))
            .await
    }

    async fn send(
        &self,
        user: &str,
        method: Method,
        route: &'static str,
        path: &str,
        body: Option<Value>,
        key: Option<String>,
    ) -> Option<Answer> {
        let token = self.token(user);
        let first = Instant::now();
        let mut exchange = Exchange {
            user: user.to_owned(),
            method: method.clone(),
            route,
            path: path.to_owned(),
            attempts: Vec::new(),
            answer: None,
        };
        while first.elapsed() < GIVE_UP_AFTER {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            if let Some(key) = &key {
                request = request.header("idempotency-key", key);
            }
            let start = self.start.elapsed();
            let result = request.send().await;
            let (status, wait) = match result {
                Err(_) => (None, Duration::from_millis(500)),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let replayed = response.headers().contains_key("idempotent-replayed");
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .map_or(Duration::from_millis(500), Duration::from_secs);
                    match response.json::<Value>().await {
                        // A body cut off by a dying gateway is a lost connection.
                        Err(_) if status < 500 => (None, Duration::from_millis(500)),
                        Err(_) => (Some(status), retry_after),
                        Ok(body) => {
                            let answer = Answer {
                                status,
                                body,
                                replayed,
                            };
                            let again = status == 503
                                || (status == 409 && answer.code() == "IDEMPOTENCY_IN_PROGRESS");
                            if !again {
                                exchange.attempts.push(Attempt {
                                    start,
                                    end: self.start.elapsed(),
                                    status: Some(status),
                                });
                                exchange.answer = Some(answer.clone());
                                self.log.lock().unwrap().push(exchange);
                                return Some(answer);
                            }
                            (Some(status), retry_after)
                        }
                    }
                }
            };
            exchange.attempts.push(Attempt {
                start,
                end: self.start.elapsed(),
                status,
            });
            tokio::time::sleep(wait).await;
        }
        self.log.lock().unwrap().push(exchange);
        None
    }
}
