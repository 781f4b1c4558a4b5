//! One plain async function per endpoint, over the application context and the request.
//! The same functions run under Lambda (`functions/*`), the local gateway and the tests.

mod applications;
mod contracts;
pub mod index;
mod jobs;
mod me;
pub mod notify;
pub mod sockets;
pub mod sweep;

pub use applications::{apply, hire, list_applications, withdraw_application};
pub use contracts::{
    fund_contract, get_contract, list_job_events, list_my_contracts, refund_contract,
    release_contract,
};
pub use index::index;
pub use jobs::{cancel_job, create_job, get_job, list_jobs, suggest_jobs};
pub use me::{list_my_applications, list_notifications, read_notification};
pub use notify::notify;
pub use sweep::sweep;

use crate::App;
use crate::http::ApiError;
use lambda_http::{Body, Request, Response};
use std::future::Future;
use std::pin::Pin;

type Answer = Result<Response<Body>, ApiError>;

/// 200 with the resource after the change: the answer of most changes.
fn ok<T: serde::Serialize>(resource: &T) -> Response<Body> {
    crate::http::json(http::StatusCode::OK, resource)
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send>>;
pub type Handler = fn(App, Request) -> HandlerFuture;

macro_rules! http_handlers {
    ($($name:literal => $handler:ident),* $(,)?) => {
        /// Every HTTP handler by the name of its function: the directory under `functions/`
        /// and the `CodeUri` of its resource in `template.yaml`. Tests hold the three together.
        pub const HTTP_HANDLERS: &[(&str, Handler)] =
            &[$(($name, |a, r| Box::pin($handler(a, r)))),*];
    };
}

http_handlers! {
    "create-job" => create_job,
    "list-jobs" => list_jobs,
    "suggest-jobs" => suggest_jobs,
    "get-job" => get_job,
    "cancel-job" => cancel_job,
    "apply" => apply,
    "list-applications" => list_applications,
    "withdraw-application" => withdraw_application,
    "hire" => hire,
    "list-notifications" => list_notifications,
    "read-notification" => read_notification,
    "list-my-applications" => list_my_applications,
    "get-contract" => get_contract,
    "fund-contract" => fund_contract,
    "release-contract" => release_contract,
    "refund-contract" => refund_contract,
    "list-my-contracts" => list_my_contracts,
    "list-job-events" => list_job_events,
}

pub fn http_handler(name: &str) -> Option<Handler> {
    HTTP_HANDLERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
}
