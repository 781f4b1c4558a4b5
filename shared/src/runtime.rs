//! Wiring from a runtime (Lambda or the local gateway) to a handler: one place decides how
//! a request is logged and how an error becomes a problem response.

use crate::App;
use crate::deadline::Deadline;
use crate::domain::{IdempotencyRecord, KeyReused, KeyedRequest};
use crate::http::idempotency::{kept, keyed_request, replay, stored};
use crate::http::{ApiError, MAX_BODY_BYTES, body_bytes, caller, declares_json, problem};
use crate::metrics::{self, Emf, Process};
use crate::telemetry::error_chain;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

/// Runs one request through `handler`, turning any error into its problem response.
pub async fn respond<F, Fut>(app: App, req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(App, Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let (request_id, route) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.request_id.clone().unwrap_or_default(),
            ctx.route_key.clone().unwrap_or_default(),
        ),
        _ => Default::default(),
    };
    let path = req.raw_http_path().to_owned();
    let started = std::time::Instant::now();
    // The function's own deadline under Lambda; its timeout's equivalent anywhere else.
    let deadline = req
        .lambda_context_ref()
        .map(|ctx| Deadline::from_epoch_millis(ctx.deadline))
        .unwrap_or_else(|| Deadline::after(crate::deadline::DEFAULT_BUDGET));
    let app = app.until(deadline);
    let span = tracing::info_span!("request", %request_id, %route);
    async move {
        let outcome = match edge(&req) {
            Err(refused) => Err(refused),
            Ok(None) => handler(app, req).await,
            Ok(Some(request)) => {
                let app = app.keyed(request);
                let outcome = handler(app.clone(), req).await;
                conclude(&app, outcome, &path, &request_id).await
            }
        };
        let mut response = match outcome {
            Ok(response) => {
                tracing::info!(status = response.status().as_u16(), "handled");
                response
            }
            Err(error) => {
                let response = problem(&error, &path, &request_id);
                let status = response.status().as_u16();
                if status >= 500 {
                    tracing::error!(status, error = %error_chain(&error), "failed");
                } else {
                    tracing::info!(status, code = error.problem().code, "refused");
                }
                response
            }
        };
        if let Ok(id) = http::HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        let latency_ms = started.elapsed().as_secs_f64() * 1_000.0;
        metrics::request(&route, response.status().as_u16(), latency_ms);
        metrics::metadata("request_id", request_id.as_str());
        response
    }
    .instrument(span)
    .await
}

/// The header every answer of a function carries: the request id the function saw, the one
/// its logs carry.
pub const REQUEST_ID: &str = "x-request-id";

/// What is checked of a request before any handler parses it: its size, that a body is
/// declared JSON, and its `Idempotency-Key` (the keyed request it is, if it has one).
fn edge(req: &Request) -> Result<Option<KeyedRequest>, ApiError> {
    let body = body_bytes(req);
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if req.method() == http::Method::POST && !body.is_empty() && !declares_json(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    match caller(req) {
        Ok(user) => keyed_request(req, user),
        // Unauthenticated: the handler answers that.
        Err(_) => Ok(None),
    }
}

/// The answer to a keyed request: the one its key holds, if its read found one (or its
/// commit lost to a duplicate's); else its own, kept for a retry when it is a refusal about
/// state, in a write of its own (a success was kept with its change).
async fn conclude(
    app: &App,
    outcome: Result<Response<Body>, ApiError>,
    path: &str,
    request_id: &str,
) -> Result<Response<Body>, ApiError> {
    let Some(request) = app.store.keyed_request() else {
        return outcome;
    };
    let now = crate::time::now();
    let judge = |record: &IdempotencyRecord| match request.replay(record, now)? {
        // Its own record, written by an earlier send of its own write: its own answer.
        Ok(answer) if request.wrote(record) => Some(Ok(kept(answer))),
        Ok(answer) => {
            tracing::info!("replayed");
            Some(Ok(replay(answer)))
        }
        Err(KeyReused) => Some(Err(ApiError::KeyReused)),
    };
    if let Some(kept) = app.store.recorded().and_then(judge) {
        return kept;
    }
    match outcome {
        Err(ApiError::KeyTaken(record)) => judge(&record).unwrap_or(Err(ApiError::KeyInUse)),
        // Validity can depend on the time (a deadline must still be ahead): the retry of a
        // request that committed may fail it now, and must replay what committed. The
        // record is read only then, so bad input without such a record still costs one
        // read at most, and a key holding another request leaves the 400 as it is.
        Err(error @ ApiError::Validation(_)) => match app.store.read_record().await {
            Ok(Some(record)) => match judge(record) {
                Some(Ok(answer)) => Ok(answer),
                _ => Err(error),
            },
            _ => Err(error),
        },
        Err(error) if error.is_about_state() => {
            let answer = stored(&problem(&error, path, request_id));
            match app.store.remember(request.record(answer, now), now).await {
                Ok(None) => Err(error),
                Ok(Some(record)) => judge(&record).unwrap_or(Err(error)),
                // Not kept: a retry runs again and is refused again.
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "could not keep a refusal");
                    Err(error)
                }
            }
        }
        other => other,
    }
}

/// What every function's init does, once per cold start: the metrics process (timed from
/// here), the logs, and the clients with the DynamoDB connection open.
async fn start() -> Result<(Arc<Process>, App), crate::config::ConfigError> {
    let process = Arc::new(Process::start(Emf::from_env()));
    crate::telemetry::init();
    Ok((process, App::from_env().await?))
}

/// The whole `main` of an HTTP function: build the clients once, then serve.
pub async fn serve_http<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: FnOnce(App, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, ApiError>> + Send,
{
    let (process, app) = start().await?;
    lambda_http::run(service_fn(move |req: Request| {
        let (app, process) = (app.clone(), process.clone());
        async move {
            let response = process.flushed(respond(app, req, handler)).await;
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}

/// The whole `main` of a function invoked with events (the queue's, the schedule's):
/// each invocation runs `handler` until its deadline, in a span with its request id, and
/// flushes what it counted.
async fn serve_events<E, T, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    E: serde::de::DeserializeOwned + Send + 'static,
    T: serde::Serialize,
    F: Fn(App, E, Deadline) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<T, lambda_runtime::Error>> + Send,
{
    let (process, app) = start().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<E>| {
            let deadline = Deadline::from_epoch_millis(event.context.deadline);
            let app = app.until(deadline);
            let request_id = event.context.request_id;
            let span = tracing::info_span!("invocation", %request_id);
            let (process, handler) = (process.clone(), handler.clone());
            async move {
                let invocation = async {
                    metrics::metadata("request_id", request_id.as_str());
                    handler(app, event.payload, deadline).await
                };
                process.flushed(invocation).await
            }
            .instrument(span)
        },
    ))
    .await
}

/// The whole `main` of an SQS consumer of the bus (`notify`, `index`).
pub async fn serve_sqs<F>(
    handler: fn(crate::App, aws_lambda_events::event::sqs::SqsEvent) -> F,
) -> Result<(), lambda_runtime::Error>
where
    F: std::future::Future<Output = aws_lambda_events::event::sqs::SqsBatchResponse>
        + Send
        + 'static,
{
    serve_events(
        move |app, batch: aws_lambda_events::event::sqs::SqsEvent, _| async move {
            Ok(handler(app, batch).await)
        },
    )
    .await
}

/// The whole `main` of a WebSocket route's function.
pub async fn serve_socket(
    handler: crate::handlers::sockets::SocketHandler,
) -> Result<(), lambda_runtime::Error> {
    serve_events(
        move |app, req: crate::handlers::sockets::SocketRequest, _| async move {
            Ok(handler(app, req).await)
        },
    )
    .await
}

/// The whole `main` of the WebSocket API's `$connect` authorizer. It reads no table: its
/// init is the metrics process, the logs and the verifier, whose keys are fetched on first
/// use and kept.
pub async fn serve_authorizer() -> Result<(), lambda_runtime::Error> {
    use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest as Event;
    let process = Arc::new(Process::start(Emf::from_env()));
    crate::telemetry::init();
    let verifier = crate::auth::Verifier::new(crate::auth::AuthConfig::from_env()?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Event>| {
            let (verifier, process) = (verifier.clone(), process.clone());
            let request_id = event.context.request_id;
            let span = tracing::info_span!("authorizer", %request_id);
            async move {
                let decision = async {
                    metrics::metadata("request_id", request_id.as_str());
                    crate::handlers::sockets::authorize(&verifier, event.payload)
                        .await
                        .map_err(lambda_runtime::Error::from)
                };
                process.flushed(decision).await
            }
            .instrument(span)
        },
    ))
    .await
}

/// The whole `main` of the scheduled sweeper: its time budget is the invocation's deadline.
pub async fn serve_sweep() -> Result<(), lambda_runtime::Error> {
    use aws_lambda_events::event::eventbridge::EventBridgeEvent;
    serve_events(
        |app, tick: EventBridgeEvent, deadline: Deadline| async move {
            crate::handlers::sweep::scheduled(&app, tick, deadline.instant())
                .await
                .map_err(|e| lambda_runtime::Error::from(error_chain(&e)))
        },
    )
    .await
}
