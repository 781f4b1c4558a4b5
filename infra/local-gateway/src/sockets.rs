//! The WebSocket API of `template.yaml`, played locally: `ws://…/ws?token=<jwt>` runs the
//! template's `$connect` authorizer and routes with the event shapes API Gateway sends
//! (`aws_lambda_events`' WebSocket request), routes each message by its `action`, applies
//! API Gateway's idle and two-hour limits, and serves the Management API's
//! `@connections` endpoint that `notify`, the sweeper and the routes post to with their
//! ordinary SDK client.

use crate::resources::StackError;
use crate::template::Template;
use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};
use shared::App;
use shared::auth::Verifier;
use shared::handlers::sockets::{SocketHandler, SocketRequest, socket_handler};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// API Gateway's limits on a WebSocket connection.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const MAX_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// How a socket ends, as its owner is told.
#[derive(Debug)]
enum Command {
    Send(String),
    /// Closed by the server (`DeleteConnection`): `$disconnect` runs.
    Close,
    /// Gone without a word, as a client that vanishes: no `$disconnect`, and the
    /// connection's item stays until a push finds it gone.
    Vanish,
}

/// What the Management API does when a test breaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManagementFault {
    #[default]
    None,
    /// Every call answers 500.
    Fail,
    /// Every call hangs (for a minute).
    Hang,
}

struct Live {
    tx: mpsc::UnboundedSender<Command>,
    connected_at: chrono::DateTime<chrono::Utc>,
    last_active: chrono::DateTime<chrono::Utc>,
    user_agent: String,
}

/// The WebSocket routes of the template and the connections that are open.
#[derive(Clone)]
pub struct Sockets {
    /// The handlers' context, over the gateway's handler clients.
    app: App,
    routes: Arc<HashMap<String, SocketHandler>>,
    verifier: Verifier,
    live: Arc<Mutex<HashMap<String, Live>>>,
    fault: Arc<Mutex<ManagementFault>>,
    limits: Limits,
}

/// The idle and lifetime limits; shorter than API Gateway's in tests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle: Duration,
    pub lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            idle: IDLE_TIMEOUT,
            lifetime: MAX_LIFETIME,
        }
    }
}

const CONNECT: &str = "$connect";
const DISCONNECT: &str = "$disconnect";
const DEFAULT: &str = "$default";
const TOKEN_SOURCE: &str = "route.request.querystring.token";

impl Sockets {
    /// The template's WebSocket routes, each to its function's handler; a route without a
    /// handler, or a route selection this gateway cannot evaluate, is an error.
    pub fn new(
        app: App,
        template: &Template,
        verifier: Verifier,
        limits: Limits,
    ) -> Result<Self, StackError> {
        let selection = template.route_selection_expression()?;
        if selection != "$request.body.action" {
            return Err(StackError::Setting(format!(
                "the local gateway routes WebSocket messages by $request.body.action, not {selection}"
            )));
        }
        let routes = template
            .socket_routes()?
            .into_iter()
            .map(|route| {
                let handler = socket_handler(&route.function)
                    .ok_or_else(|| StackError::NoHandler(route.function.clone()))?;
                Ok((route.route_key, handler))
            })
            .collect::<Result<HashMap<_, _>, StackError>>()?;
        // What this gateway plays: the token in the query string, checked on `$connect`.
        let authorizer = template.socket_authorizer()?;
        if authorizer.identity_source != [TOKEN_SOURCE] || authorizer.route_keys != [CONNECT] {
            return Err(StackError::Setting(format!(
                "the local gateway authorizes $connect by {TOKEN_SOURCE} only, not {:?} on {:?}",
                authorizer.identity_source, authorizer.route_keys
            )));
        }
        for key in [CONNECT, DISCONNECT, DEFAULT] {
            if !routes.contains_key(key) {
                return Err(StackError::Setting(format!(
                    "no {key} route in the template"
                )));
            }
        }
        Ok(Self {
            app,
            routes: Arc::new(routes),
            verifier,
            live: Arc::default(),
            fault: Arc::default(),
            limits,
        })
    }

    /// `/ws`, the Management API's `@connections` and the local switch that makes a
    /// connection vanish.
    pub fn router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        Router::new()
            .route("/ws", axum::routing::get(upgrade))
            .route(
                "/@connections/{id}",
                axum::routing::post(post).get(get).delete(delete),
            )
            .route("/_local/ws/{id}/vanish", axum::routing::post(vanish))
            .with_state(self)
    }

    fn live(&self) -> MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Breaks (or mends) the Management API.
    pub fn set_fault(&self, fault: ManagementFault) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    fn fault(&self) -> ManagementFault {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.live().len()
    }

    /// Drops a connection as a vanished client does: its `$disconnect` never runs.
    pub fn vanish(&self, id: &str) -> bool {
        match self.live().remove(id) {
            Some(live) => live.tx.send(Command::Vanish).is_ok(),
            None => false,
        }
    }

    fn command(&self, id: &str, command: Command) -> bool {
        self.live()
            .get(id)
            .is_some_and(|live| live.tx.send(command).is_ok())
    }
}

/// A connection id as API Gateway's look: 16 characters of URL-safe base64 ending in `=`.
fn connection_id() -> String {
    use base64::Engine;
    let bytes: [u8; 11] = rand_bytes();
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let id = ulid::Ulid::generate().to_bytes();
    let mut out = [0u8; N];
    // The ULID's random part, most of it: unique enough for a local connection id.
    for (o, b) in out.iter_mut().zip(id.iter().rev()) {
        *o = *b;
    }
    out
}

/// `GET /ws?token=…`: the authorizer, then `$connect`, then the socket.
async fn upgrade(
    State(sockets): State<Sockets>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let query: HashMap<String, String> = query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    // API Gateway refuses a connect whose identity source is missing before calling the
    // authorizer.
    let Some(token) = query.get("token").filter(|t| !t.is_empty()) else {
        return own_answer(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let id = connection_id();
    let connected_at = chrono::Utc::now();
    let context = match authorize(&sockets.verifier, token, &id, &headers).await {
        Authorized::Allow(context) => context,
        Authorized::Deny => return own_answer(StatusCode::FORBIDDEN, "Forbidden"),
        Authorized::Failed => {
            return own_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    sockets.live().insert(
        id.clone(),
        Live {
            tx,
            connected_at,
            last_active: connected_at,
            user_agent,
        },
    );
    let connection = Connection {
        id: id.clone(),
        connected_at,
        context: Arc::new(context),
    };
    let connect = connection.event(CONNECT, "CONNECT", None, Some((&headers, &query)));
    let status = invoke(&sockets, CONNECT, connect).await;
    if !(200..300).contains(&status) {
        sockets.live().remove(&id);
        return own_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
    }
    ws.on_upgrade(move |socket| serve(sockets, connection, socket, rx))
}

enum Authorized {
    Allow(Map<String, Value>),
    Deny,
    Failed,
}

/// The authorizer's event and answer, as API Gateway sends and reads them: `Allow` on the
/// route's ARN with a context, anything else refused.
async fn authorize(verifier: &Verifier, token: &str, id: &str, headers: &HeaderMap) -> Authorized {
    let event = json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:000000000000:local/live/$connect",
        "headers": header_map(headers),
        "queryStringParameters": {"token": token},
        "requestContext": {
            "routeKey": CONNECT,
            "eventType": "CONNECT",
            "connectionId": id,
            "apiId": "local",
            "stage": "live",
            "requestId": ulid::Ulid::generate().to_string(),
        },
    });
    let Ok(event) = serde_json::from_value::<ApiGatewayCustomAuthorizerRequestTypeRequest>(event)
    else {
        return Authorized::Failed;
    };
    match shared::handlers::sockets::authorize(verifier, event).await {
        Ok(answer) => allowed(answer),
        Err(e) => {
            tracing::warn!(error = %e, "the authorizer failed; connect refused");
            Authorized::Failed
        }
    }
}

fn allowed(answer: ApiGatewayCustomAuthorizerResponse) -> Authorized {
    let allow = answer.policy_document.statement.iter().any(|s| {
        matches!(s.effect, aws_lambda_events::iam::IamPolicyEffect::Allow)
            && s.action.iter().any(|a| a == "execute-api:Invoke")
    });
    match (allow, answer.context) {
        (true, Value::Object(mut context)) => {
            if let Some(principal) = answer.principal_id {
                context.insert("principalId".into(), Value::String(principal));
            }
            Authorized::Allow(context)
        }
        _ => Authorized::Deny,
    }
}

/// One open connection, as its events describe it.
#[derive(Clone)]
struct Connection {
    id: String,
    connected_at: chrono::DateTime<chrono::Utc>,
    /// What the authorizer returned, which API Gateway hands every route of the connection.
    context: Arc<Map<String, Value>>,
}

impl Connection {
    fn event(
        &self,
        route_key: &str,
        event_type: &str,
        body: Option<&str>,
        handshake: Option<(&HeaderMap, &HashMap<String, String>)>,
    ) -> Value {
        let now = chrono::Utc::now();
        let mut event = json!({
            "requestContext": {
                "routeKey": route_key,
                "eventType": event_type,
                "messageDirection": "IN",
                "stage": "live",
                "connectedAt": self.connected_at.timestamp_millis(),
                "requestTimeEpoch": now.timestamp_millis(),
                "requestId": ulid::Ulid::generate().to_string(),
                "domainName": "localhost",
                "connectionId": self.id,
                "apiId": "local",
                "identity": {"sourceIp": "127.0.0.1"},
                "authorizer": Value::Object((*self.context).clone()),
            },
            "isBase64Encoded": false,
        });
        if let Some(body) = body {
            event["body"] = json!(body);
            event["requestContext"]["messageId"] = json!(ulid::Ulid::generate().to_string());
        }
        if let Some((headers, query)) = handshake {
            event["headers"] = json!(header_map(headers));
            event["queryStringParameters"] = json!(query);
        }
        event
    }
}

fn header_map(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// Runs a route's handler with `event`; answers its status.
async fn invoke(sockets: &Sockets, route_key: &str, event: Value) -> i64 {
    let Some(handler) = sockets.routes.get(route_key) else {
        return 500;
    };
    match serde_json::from_value::<SocketRequest>(event) {
        Ok(request) => handler(sockets.app.clone(), request).await.status_code,
        Err(e) => {
            tracing::error!(error = %e, "could not build the WebSocket event");
            500
        }
    }
}

/// The route a message selects by its `action`: `$default` for an action no route has, a
/// message that is not JSON, or one naming a connect or disconnect route.
fn route_of(sockets: &Sockets, body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("action")?.as_str().map(str::to_owned))
        .filter(|action| !action.starts_with('$') && sockets.routes.contains_key(action))
        .unwrap_or_else(|| DEFAULT.to_owned())
}

/// The socket's life: messages in are routed (each invocation on its own, as API Gateway
/// invokes them), messages out are written, and it ends on a close from either side, on
/// the idle timeout or at its lifetime's end, then runs `$disconnect` unless it vanished.
async fn serve(
    sockets: Sockets,
    connection: Connection,
    socket: WebSocket,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let (mut out, mut incoming) = socket.split();
    let ends = tokio::time::Instant::now() + sockets.limits.lifetime;
    let mut idle_until = tokio::time::Instant::now() + sockets.limits.idle;
    let vanished = loop {
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Send(text)) => {
                    if out.send(Message::Text(text.into())).await.is_err() {
                        break false;
                    }
                }
                Some(Command::Close) | None => {
                    let _ = out.send(Message::Close(None)).await;
                    break false;
                }
                Some(Command::Vanish) => break true,
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Text(body))) => {
                    idle_until = tokio::time::Instant::now() + sockets.limits.idle;
                    if let Some(live) = sockets.live().get_mut(&connection.id) {
                        live.last_active = chrono::Utc::now();
                    }
                    let body = body.to_string();
                    let route = route_of(&sockets, &body);
                    let event = connection.event(&route, "MESSAGE", Some(&body), None);
                    let sockets = sockets.clone();
                    tokio::spawn(async move { invoke(&sockets, &route, event).await });
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break false,
                // Pings are answered by the socket itself; binary frames are not routed.
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(idle_until) => {
                let _ = out.send(Message::Close(None)).await;
                break false;
            }
            _ = tokio::time::sleep_until(ends) => {
                let _ = out.send(Message::Close(None)).await;
                break false;
            }
        }
    };
    if vanished {
        return;
    }
    sockets.live().remove(&connection.id);
    let event = connection.event(DISCONNECT, "DISCONNECT", None, None);
    invoke(&sockets, DISCONNECT, event).await;
}

/// `POST /@connections/{id}`: the body, as one text message.
async fn post(State(sockets): State<Sockets>, Path(id): Path<String>, body: String) -> Response {
    if let Some(broken) = broken(&sockets).await {
        return broken;
    }
    if sockets.command(&id, Command::Send(body)) {
        StatusCode::OK.into_response()
    } else {
        gone()
    }
}

/// `DELETE /@connections/{id}`: closes it; its `$disconnect` runs.
async fn delete(State(sockets): State<Sockets>, Path(id): Path<String>) -> Response {
    if let Some(broken) = broken(&sockets).await {
        return broken;
    }
    if sockets.command(&id, Command::Close) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        gone()
    }
}

/// `GET /@connections/{id}`: when it connected and was last active.
async fn get(State(sockets): State<Sockets>, Path(id): Path<String>) -> Response {
    if let Some(broken) = broken(&sockets).await {
        return broken;
    }
    let live = sockets.live();
    match live.get(&id) {
        Some(l) => axum::Json(json!({
            "ConnectedAt": l.connected_at.to_rfc3339(),
            "LastActiveAt": l.last_active.to_rfc3339(),
            "Identity": {"SourceIp": "127.0.0.1", "UserAgent": l.user_agent},
        }))
        .into_response(),
        None => gone(),
    }
}

/// `POST /_local/ws/{id}/vanish`: the connection is dropped without `$disconnect`.
async fn vanish(State(sockets): State<Sockets>, Path(id): Path<String>) -> Response {
    if sockets.vanish(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

async fn broken(sockets: &Sockets) -> Option<Response> {
    match sockets.fault() {
        ManagementFault::None => None,
        ManagementFault::Fail => Some(management_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerErrorException",
        )),
        ManagementFault::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Some(StatusCode::GATEWAY_TIMEOUT.into_response())
        }
    }
}

/// The Management API's answer for a connection that is not open.
fn gone() -> Response {
    management_error(StatusCode::GONE, "GoneException")
}

/// An error of the Management API as its SDK reads it: the type in `x-amzn-ErrorType`.
fn management_error(status: StatusCode, kind: &'static str) -> Response {
    let mut response = (status, axum::Json(json!({"message": kind}))).into_response();
    response
        .headers_mut()
        .insert("x-amzn-errortype", http::HeaderValue::from_static(kind));
    response
}

fn own_answer(status: StatusCode, message: &'static str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}
