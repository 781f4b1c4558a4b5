//! The WebSocket API's routes: `$connect` records a connection (its token was checked by
//! the authorizer before any of this runs), `$disconnect` forgets it, `sync` sends what the
//! inbox holds after a position, `ping` answers `pong`, and `$default` answers an action no
//! route has. Every answer travels on the caller's own connection, through the Management
//! API, in the messages of [`ServerMessage`].

use crate::App;
use crate::auth::{Refused, Verifier};
use crate::domain::{
    ClientMessage, Connection, ConnectionId, SYNC_BATCH, ServerMessage, SocketError, UserId,
    beyond_limit,
};
use crate::sockets::SendError;
use crate::store::StoreError;
use crate::telemetry::error_chain;
use crate::time::{self, Timestamp};
use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::event::iam::{IamPolicyEffect, IamPolicyStatement};
use std::future::Future;
use std::pin::Pin;

pub type SocketRequest = ApiGatewayWebsocketProxyRequest;
pub type SocketFuture = Pin<Box<dyn Future<Output = ApiGatewayProxyResponse> + Send>>;
pub type SocketHandler = fn(App, SocketRequest) -> SocketFuture;

/// What the authorizer put in the connection's context, which API Gateway hands every
/// route of that connection: who it is and when their token expires.
pub const CONTEXT_USER: &str = "user_id";
pub const CONTEXT_EXPIRES_AT: &str = "expires_at";

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("the request has no connection or no authorizer context")]
    NoCaller,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Who is on the connection a request came from.
#[derive(Debug)]
struct Caller {
    user: UserId,
    connection: ConnectionId,
    expires_at: Timestamp,
}

fn caller(req: &SocketRequest) -> Result<Caller, Failure> {
    let context = &req.request_context;
    let fields = &context.authorizer.fields;
    let user = fields
        .get(CONTEXT_USER)
        .and_then(|v| v.as_str())
        .and_then(UserId::parse);
    // API Gateway passes context values on as strings or numbers alike.
    let expires_at = fields.get(CONTEXT_EXPIRES_AT).and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let connection = context
        .connection_id
        .as_deref()
        .and_then(ConnectionId::parse);
    match (user, connection, expires_at) {
        (Some(user), Some(connection), Some(secs)) => Ok(Caller {
            user,
            connection,
            expires_at: chrono::DateTime::from_timestamp(secs, 0).ok_or(Failure::NoCaller)?,
        }),
        _ => Err(Failure::NoCaller),
    }
}

/// The answer to API Gateway: on `$connect`, anything but 2xx refuses the handshake; on the
/// other routes it is not sent to the client (no route response is configured).
fn status(code: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = code;
    response
}

/// Runs one route's work in a span with the request id and the connection, never the
/// query string (the token travels there) nor a message's body.
async fn run<F, Fut>(
    app: App,
    req: SocketRequest,
    route: &'static str,
    work: F,
) -> ApiGatewayProxyResponse
where
    F: FnOnce(App, SocketRequest) -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    use tracing::Instrument;
    let request_id = req.request_context.request_id.clone().unwrap_or_default();
    let connection_id = req
        .request_context
        .connection_id
        .clone()
        .unwrap_or_default();
    let span = tracing::info_span!("socket", %request_id, route, %connection_id);
    crate::metrics::metadata("request_id", request_id.as_str());
    let started = std::time::Instant::now();
    async move {
        let answer = match work(app, req).await {
            Ok(()) => {
                tracing::info!("handled");
                status(200)
            }
            Err(Failure::NoCaller) => {
                tracing::warn!("refused: no authorized caller");
                status(403)
            }
            // The caller left while we answered: nobody is left to answer.
            Err(Failure::Send(SendError::Gone)) => {
                tracing::info!("the connection is gone");
                status(200)
            }
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "failed");
                status(500)
            }
        };
        let latency_ms = started.elapsed().as_secs_f64() * 1_000.0;
        crate::metrics::request(route, answer.status_code as u16, latency_ms);
        answer
    }
    .instrument(span)
    .await
}

/// `$connect`: records the connection, then closes the user's oldest beyond
/// [`crate::domain::MAX_CONNECTIONS`]. Connects that race each other each read all of
/// them, so every one closes the same oldest and they settle at the limit.
pub fn connect(app: App, req: SocketRequest) -> SocketFuture {
    Box::pin(run(app, req, "$connect", |app, req| async move {
        let caller = caller(&req)?;
        let now = time::now();
        let connection = Connection::open(caller.user, caller.connection, now, caller.expires_at);
        app.store.connect(&connection).await?;
        tracing::info!(user_id = %connection.user_id, "connected");
        // The connection is recorded and stays: closing the oldest is retried by the next
        // connect, so a failure here refuses nothing.
        if let Err(e) = close_beyond_limit(&app, &connection.user_id).await {
            tracing::warn!(error = %error_chain(&e), "could not close connections over the limit");
        }
        Ok(())
    }))
}

/// Closes the user's connections beyond the limit. Each close runs that connection's
/// `$disconnect`, which forgets it; should that never come, a push finds it gone (410) and
/// the sweeper closes it when its token expires.
async fn close_beyond_limit(app: &App, user: &UserId) -> Result<(), Failure> {
    let deadline = app.store.deadline();
    for old in beyond_limit(app.store.connections(user).await?) {
        tracing::info!(closed = %old.connection_id, "over the connection limit; closing the oldest");
        app.sockets.close(&old.connection_id, deadline).await?;
    }
    Ok(())
}

/// `$disconnect`: forgets the connection. API Gateway runs it when either side closes, on
/// a best-effort basis: a push that meets a gone connection forgets it too.
pub fn disconnect(app: App, req: SocketRequest) -> SocketFuture {
    Box::pin(run(app, req, "$disconnect", |app, req| async move {
        let caller = caller(&req)?;
        app.store
            .disconnect(&caller.user, &caller.connection)
            .await?;
        Ok(())
    }))
}

/// `sync`: every notification delivered after `after`, oldest first, at most
/// [`SYNC_BATCH`], never past a position not visible yet (the same query as `GET
/// /me/notifications?after=`), each as a `notification` message on the caller's connection.
pub fn sync(app: App, req: SocketRequest) -> SocketFuture {
    Box::pin(run(app, req, "sync", |app, req| async move {
        let Some(caller) = live_caller(&app, &req).await? else {
            return Ok(());
        };
        let deadline = app.store.deadline();
        let after = match parse(&req) {
            Some(ClientMessage::Sync { after }) => after.unwrap_or(0),
            _ => {
                let refusal = ServerMessage::error(
                    SocketError::ValidationFailed,
                    "sync takes {\"action\": \"sync\", \"after\": <position> | null}",
                );
                return Ok(app
                    .sockets
                    .send(&caller.connection, &refusal, deadline)
                    .await?);
            }
        };
        let notifications = match app
            .store
            .delivered_after(&caller.user, after, SYNC_BATCH)
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "inbox unreadable for sync");
                let refusal = ServerMessage::error(
                    SocketError::ServiceUnavailable,
                    "the inbox cannot be read now; sync again",
                );
                return Ok(app
                    .sockets
                    .send(&caller.connection, &refusal, deadline)
                    .await?);
            }
        };
        tracing::info!(after, sent = notifications.len(), "syncing");
        for notification in notifications {
            let message = ServerMessage::Notification { notification };
            app.sockets
                .send(&caller.connection, &message, deadline)
                .await?;
        }
        Ok(())
    }))
}

/// `ping`: `pong`, so a client can keep its connection through API Gateway's idle timeout.
pub fn ping(app: App, req: SocketRequest) -> SocketFuture {
    Box::pin(run(app, req, "ping", |app, req| async move {
        if let Some(caller) = live_caller(&app, &req).await? {
            let deadline = app.store.deadline();
            app.sockets
                .send(&caller.connection, &ServerMessage::Pong, deadline)
                .await?;
        }
        Ok(())
    }))
}

/// `$default`: an action no route has, or a message that is not JSON with an `action`.
pub fn unknown_action(app: App, req: SocketRequest) -> SocketFuture {
    Box::pin(run(app, req, "$default", |app, req| async move {
        let caller = caller(&req)?;
        let refusal = ServerMessage::error(
            SocketError::UnknownAction,
            "the actions are \"sync\" and \"ping\"",
        );
        let deadline = app.store.deadline();
        Ok(app
            .sockets
            .send(&caller.connection, &refusal, deadline)
            .await?)
    }))
}

/// The caller, unless their token has expired: then they are told so and the connection is
/// closed (the sweeper would close it within a minute anyway).
async fn live_caller(app: &App, req: &SocketRequest) -> Result<Option<Caller>, Failure> {
    let caller = caller(req)?;
    if time::now() < caller.expires_at {
        return Ok(Some(caller));
    }
    tracing::info!("token expired; closing the connection");
    let deadline = app.store.deadline();
    let refusal = ServerMessage::error(SocketError::TokenExpired, "the token has expired");
    // Told if it can be; closed either way.
    if let Err(e) = app
        .sockets
        .send(&caller.connection, &refusal, deadline)
        .await
    {
        tracing::debug!(error = %e, "expiry not told");
    }
    app.sockets.close(&caller.connection, deadline).await?;
    Ok(None)
}

fn parse(req: &SocketRequest) -> Option<ClientMessage> {
    serde_json::from_str(req.body.as_deref()?).ok()
}

/// Why the authorizer could not decide: API Gateway answers the connect 500 and it is
/// refused (fail closed).
#[derive(Debug, thiserror::Error)]
#[error("the signing keys cannot be fetched")]
pub struct KeysUnavailable;

/// The `$connect` authorizer: the `token` query parameter checked as the HTTP API's JWT
/// authorizer checks a bearer token. A valid one is allowed to invoke the route, with the
/// user and the token's expiry as the context every route of the connection gets; any
/// other is denied (403, no function of ours runs); while the keys cannot be fetched it
/// fails, which refuses the connect too.
pub async fn authorize(
    verifier: &Verifier,
    event: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse, KeysUnavailable> {
    let resource = event.method_arn.clone().unwrap_or_default();
    let token = event
        .query_string_parameters
        .first("token")
        .unwrap_or_default();
    let decision = match verifier.verify(token).await {
        Ok(verified) => match UserId::parse(&verified.user) {
            Some(user) => Ok((user, verified.expires_at)),
            None => Err("a subject that cannot be a user id"),
        },
        Err(Refused::KeysUnavailable) => {
            tracing::error!("signing keys unavailable; connect refused");
            crate::metrics::count("AuthorizerKeysUnavailable", 1);
            return Err(KeysUnavailable);
        }
        Err(Refused::Invalid(reason)) => Err(reason.as_str()),
    };
    let mut answer = ApiGatewayCustomAuthorizerResponse::default();
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.resource = vec![resource];
    match decision {
        Ok((user, expires_at)) => {
            tracing::info!(user_id = %user, "connect allowed");
            crate::metrics::count("ConnectsAllowed", 1);
            statement.effect = IamPolicyEffect::Allow;
            answer.principal_id = Some(user.to_string());
            answer.context = serde_json::json!({
                CONTEXT_USER: user.as_str(),
                CONTEXT_EXPIRES_AT: expires_at,
            });
        }
        Err(reason) => {
            tracing::info!(reason, "connect denied");
            crate::metrics::count("ConnectsDenied", 1);
            statement.effect = IamPolicyEffect::Deny;
            answer.principal_id = Some("anonymous".to_owned());
        }
    }
    answer.policy_document.version = Some("2012-10-17".to_owned());
    answer.policy_document.statement = vec![statement];
    Ok(answer)
}

/// Every socket route's handler by the name of its function (the directory under
/// `functions/` and the `CodeUri` in `template.yaml`).
pub const SOCKET_HANDLERS: &[(&str, SocketHandler)] = &[
    ("ws-connect", connect),
    ("ws-disconnect", disconnect),
    ("ws-sync", sync),
    ("ws-ping", ping),
    ("ws-default", unknown_action),
];

pub fn socket_handler(name: &str) -> Option<SocketHandler> {
    SOCKET_HANDLERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
}
