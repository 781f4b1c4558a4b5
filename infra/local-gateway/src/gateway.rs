//! The HTTP front: route → API Gateway v2 event → the function's handler → response.

use crate::auth::Auth;
use crate::concurrency::{Concurrency, Running};
use crate::faults::{FaultChange, FaultSwitch};
use crate::resources::{self, StackError};
use crate::sockets::{Limits, Sockets};
use crate::template::{Route, Template};
use aws_sdk_dynamodb::config::retry::{RetryPartition, TokenBucket};
use axum::Router;
use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{Request as AxumRequest, State};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::get;
use http::{HeaderMap, Method, StatusCode};
use lambda_http::Body;
use serde_json::{Value, json};
use shared::App;
use shared::app::Clients;
use shared::auth::{AuthConfig, Verifier};
use shared::config::Config;
use shared::handlers::{Handler, http_handler};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// API Gateway's own payload limit; the handlers enforce the API's smaller one.
const MAX_GATEWAY_BODY: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The handlers' settings, read as a Lambda reads them, so that every setting means the
    /// same locally as in production.
    pub app: Config,
    pub auth: Auth,
    /// What the WebSocket API's `$connect` authorizer accepts.
    pub socket_auth: AuthConfig,
    pub socket_limits: Limits,
    /// The local fault switch, set by `POST /_local/faults`; without it that route does not
    /// exist.
    pub faults: Option<FaultSwitch>,
    /// The stack's limit on functions running at once, which the routes' invocations share
    /// with the pollers' batches.
    pub concurrency: Concurrency,
}

#[derive(Clone)]
pub struct Gateway {
    /// The handlers over the gateway's clients: for the sweep it runs itself.
    app: App,
    /// What serves the routes' requests.
    instances: Instances,
    routes: Arc<Vec<(Route, Handler)>>,
    auth: Auth,
    clients: Clients,
    config: Arc<Config>,
    sockets: Sockets,
    faults: Option<FaultSwitch>,
}

impl Gateway {
    /// Routes every `HttpApi` event of the template to its handler, which runs over
    /// `clients`; a route without a handler is an error, so local and production cannot
    /// drift apart silently.
    pub fn new(
        clients: Clients,
        config: GatewayConfig,
        template: &Template,
    ) -> Result<Self, StackError> {
        let routes = template
            .routes()?
            .into_iter()
            .map(|route| {
                let handler = http_handler(&route.function)
                    .ok_or_else(|| StackError::NoHandler(route.function.clone()))?;
                Ok((route, handler))
            })
            .collect::<Result<Vec<_>, StackError>>()?;
        let app = App::with_clients(clients.clone(), &config.app);
        let sockets = Sockets::new(
            app.clone(),
            template,
            Verifier::new(config.socket_auth),
            config.socket_limits,
        )?;
        Ok(Self {
            app,
            sockets,
            instances: Instances::new(clients.clone(), config.app.clone(), config.concurrency),
            routes: Arc::new(routes),
            auth: config.auth,
            clients,
            config: Arc::new(config.app),
            faults: config.faults,
        })
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// The WebSocket API's open connections.
    pub fn sockets(&self) -> &Sockets {
        &self.sockets
    }

    pub fn router(self) -> Router {
        let router = Router::new();
        // Only with the switch: otherwise an unknown route, API Gateway's 404.
        let router = match self.faults {
            Some(_) => router.route("/_local/faults", axum::routing::post(faults)),
            None => router,
        };
        router
            .route("/_local/health", get(health))
            .route("/_local/sweep", axum::routing::post(sweep))
            .route("/_local/console", get(console))
            .route("/_local/token", axum::routing::post(token))
            // Only here: in production the document is published with the code, not served.
            .route("/openapi.json", get(openapi))
            .merge(self.sockets.clone().router())
            .fallback(proxy)
            .with_state(self)
    }
}

/// The console page: one file, compiled in.
async fn console() -> AxumResponse {
    axum::response::Html(include_str!("console.html")).into_response()
}

/// `POST /_local/token {"user": …}`: a local token for anyone, as `make token` prints, so the
/// console can act as a demo user. Local only: production has an identity provider.
async fn token(State(gw): State<Gateway>, axum::Json(body): axum::Json<Value>) -> AxumResponse {
    match body["user"]
        .as_str()
        .and_then(shared::domain::UserId::parse)
    {
        Some(user) => axum::Json(json!({
            "token": gw.auth.mint(user.as_str(), chrono::Duration::hours(24)),
        }))
        .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": "user must be 1-128 characters without #"})),
        )
            .into_response(),
    }
}

/// `POST /_local/faults`: sets the fault switch (fields left out stay as they are) and
/// answers its whole state, in the same shape.
async fn faults(State(gw): State<Gateway>, body: axum::body::Bytes) -> AxumResponse {
    let Some(switch) = &gw.faults else {
        return own_answer(StatusCode::NOT_FOUND, "Not Found");
    };
    match FaultChange::parse(&body) {
        Ok(change) => {
            let state = switch.set(change);
            tracing::info!(?state, "fault switch set");
            axum::Json(state).into_response()
        }
        Err(detail) => {
            let mut response = (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({
                    "type": "about:blank",
                    "title": "Bad Request",
                    "status": 400,
                    "detail": detail,
                })),
            )
                .into_response();
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/problem+json"),
            );
            response
        }
    }
}

async fn openapi() -> AxumResponse {
    axum::Json(crate::openapi::document()).into_response()
}

async fn sweep(State(gw): State<Gateway>) -> AxumResponse {
    match crate::worker::sweep_now(&gw.app).await {
        Ok(report) => (StatusCode::OK, axum::Json(report)).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": e})),
        )
            .into_response(),
    }
}

async fn health(State(gw): State<Gateway>) -> AxumResponse {
    let mut queue_ready = true;
    for url in gw.config.queue_urls.values() {
        queue_ready &= gw
            .clients
            .sqs
            .get_queue_url()
            .queue_name(url.rsplit('/').next().unwrap_or_default())
            .send()
            .await
            .is_ok();
    }
    let table = &gw.config.table_name;
    if queue_ready && resources::table_ready(&gw.clients.dynamo, table).await {
        (
            StatusCode::OK,
            axum::Json(json!({"status": "ok", "table": table})),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "starting"})),
        )
            .into_response()
    }
}

async fn proxy(State(gw): State<Gateway>, req: AxumRequest) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let Some((route, handler, params)) = gw
        .routes
        .iter()
        .find_map(|(r, h)| r.matches(&parts.method, &path).map(|p| (r, *h, p)))
    else {
        // API Gateway answers an unknown route itself, without calling any function.
        return own_answer(StatusCode::NOT_FOUND, "Not Found");
    };
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(claims) = gw.auth.verify(authorization) else {
        // The JWT authorizer answers before any function runs, in its own words.
        let mut response = own_answer(StatusCode::UNAUTHORIZED, "Unauthorized");
        let challenge = match authorization {
            None => "Bearer",
            Some(_) => "Bearer error=\"invalid_token\"",
        };
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(challenge),
        );
        return response;
    };
    let Ok(body) = to_bytes(body, MAX_GATEWAY_BODY).await else {
        return own_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let event = api_gateway_event(
        route,
        &parts.method,
        &path,
        parts.uri.query().unwrap_or(""),
        &parts.headers,
        params,
        claims,
        &body,
    );
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "could not build the Lambda request");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    // Held until the answer is made: the instance serves no other request meanwhile.
    let instance = gw.instances.take().await;
    let mut response =
        to_axum(shared::runtime::respond(instance.app.clone(), request, handler).await);
    // As API Gateway does on every answer: the function's request id is its own.
    let request_id = event["requestContext"]["requestId"]
        .as_str()
        .unwrap_or_default();
    if let Ok(id) = http::HeaderValue::from_str(request_id) {
        response.headers_mut().insert(APIGW_REQUEST_ID, id);
    }
    response
}

/// The gateway's function instances, kept as Lambda keeps them: an instance runs one
/// invocation at a time, a request that finds none idle starts a new one, and one that
/// ends leaves its instance idle for the next request.
///
/// What an instance owns here is its DynamoDB client's retry quota. The SDK keeps one
/// token bucket (500 tokens; a retry costs 5, a retry after a timeout 10) per retry
/// partition, the service's name by default, per process. On Lambda a process is one
/// instance serving one request at a time, so one request's retries can only spend its
/// own instance's quota. In the gateway's one process every concurrent invocation spent
/// the same bucket, and a retry holds its tokens until its call ends: in the 1,000-way
/// race on DynamoDB Local, fifty calls retrying after a timeout held all of it, and every
/// other call whose attempt timed out meanwhile was given up unretried (141-200 such
/// refusals a run; in four runs of five, 23-57 hires answered 503 for a call that a retry
/// would have made; BENCHMARKS.md, "Under overload" in the hire race). No Lambda does
/// that. So each instance has a partition, and with it a bucket, of its own; the
/// connection pool, the timeouts and the retry settings stay those of the one client.
///
/// And an instance runs only under the stack's [`Concurrency`] limit.
#[derive(Clone)]
struct Instances {
    idle: Arc<Mutex<Vec<App>>>,
    clients: Clients,
    config: Arc<Config>,
    started: Arc<AtomicUsize>,
    concurrency: Concurrency,
}

impl Instances {
    fn new(clients: Clients, config: Config, concurrency: Concurrency) -> Self {
        Self {
            idle: Arc::default(),
            clients,
            config: Arc::new(config),
            started: Arc::default(),
            concurrency,
        }
    }

    /// An idle instance, or a new one, once the limit lets one more run. It is idle again
    /// when the [`Instance`] is dropped, also when the request's future is (its client went
    /// away).
    async fn take(&self) -> Instance {
        let running = self.concurrency.start().await;
        let idle = lock(&self.idle).pop();
        Instance {
            app: idle.unwrap_or_else(|| self.start()),
            idle: self.idle.clone(),
            _running: running,
        }
    }

    /// A new instance's handlers: the gateway's clients, the DynamoDB one with a retry
    /// quota of its own (the bucket the SDK would make for the process of a Lambda).
    fn start(&self) -> App {
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        let partition = RetryPartition::custom(format!("dynamodb-instance-{n}"))
            .token_bucket(TokenBucket::default())
            .build();
        let dynamo = aws_sdk_dynamodb::Client::from_conf(
            self.clients
                .dynamo
                .config()
                .to_builder()
                .retry_partition(partition)
                .build(),
        );
        let clients = Clients {
            dynamo,
            ..self.clients.clone()
        };
        App::with_clients(clients, &self.config)
    }
}

/// An instance serving one request.
struct Instance {
    app: App,
    idle: Arc<Mutex<Vec<App>>>,
    _running: Running,
}

impl Drop for Instance {
    fn drop(&mut self) {
        lock(&self.idle).push(self.app.clone());
    }
}

/// The idle instances; a panic elsewhere while holding the lock leaves a list still whole.
fn lock(idle: &Mutex<Vec<App>>) -> MutexGuard<'_, Vec<App>> {
    idle.lock().unwrap_or_else(|e| e.into_inner())
}

/// The payload-v2 event API Gateway's HTTP API sends a function behind a JWT authorizer.
#[allow(clippy::too_many_arguments)]
pub fn api_gateway_event(
    route: &Route,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    params: Vec<(String, String)>,
    claims: std::collections::HashMap<String, String>,
    body: &[u8],
) -> Value {
    let mut header_map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = value.to_str().unwrap_or_default();
        header_map
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        query
            .entry(k)
            .and_modify(|old| {
                old.push(',');
                old.push_str(&v);
            })
            .or_insert(v);
    }
    let now = chrono::Utc::now();
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64_encode(body), true),
    };
    let params: BTreeMap<String, String> = params.into_iter().collect();
    json!({
        "version": "2.0",
        "routeKey": route.route_key(),
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
        "pathParameters": if params.is_empty() { Value::Null } else { json!(params) },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get(http::header::USER_AGENT).and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": ulid::Ulid::generate().to_string(),
            "routeKey": route.route_key(),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
            "authorizer": { "jwt": { "claims": claims, "scopes": null } },
        },
        "body": if body.is_empty() { Value::Null } else { json!(body) },
        "isBase64Encoded": is_base64,
    })
}

/// An answer API Gateway gives itself: `{"message": ...}` with its request id in
/// `apigw-requestid`, and no `x-request-id`, since no function saw the request.
fn own_answer(status: StatusCode, message: &'static str) -> AxumResponse {
    let mut response = (status, axum::Json(json!({ "message": message }))).into_response();
    if let Ok(id) = http::HeaderValue::from_str(&ulid::Ulid::generate().to_string()) {
        response.headers_mut().insert(APIGW_REQUEST_ID, id);
    }
    response
}

/// The header API Gateway puts on every answer, its own included.
pub const APIGW_REQUEST_ID: &str = "apigw-requestid";

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn to_axum(response: lambda_http::Response<Body>) -> AxumResponse {
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Empty => AxumBody::empty(),
        Body::Text(t) => AxumBody::from(t),
        Body::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    AxumResponse::from_parts(parts, body)
}
