//! One plain async function per endpoint, over the application context and the request.
//! The same functions run under Lambda (`functions/*`), the local gateway and the tests.

mod applications;
mod jobs;
mod me;
pub mod notify;
pub mod sweep;

pub use applications::{apply, hire, list_applications, withdraw_application};
pub use jobs::{cancel_job, create_job, get_job, list_jobs};
pub use me::{list_my_applications, list_notifications, read_notification};
pub use notify::notify;
pub use sweep::sweep;

use crate::App;
use crate::http::ApiError;
use lambda_http::{Body, Request, Response};
use std::future::Future;
use std::pin::Pin;

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send>>;
pub type Handler = fn(App, Request) -> HandlerFuture;

/// Every HTTP handler by the name of its function: the directory under `functions/` and
/// the `CodeUri` of its resource in `template.yaml`. Tests hold the three together.
pub const HTTP_HANDLERS: &[(&str, Handler)] = &[
    ("create-job", |a, r| Box::pin(create_job(a, r))),
    ("list-jobs", |a, r| Box::pin(list_jobs(a, r))),
    ("get-job", |a, r| Box::pin(get_job(a, r))),
    ("cancel-job", |a, r| Box::pin(cancel_job(a, r))),
    ("apply", |a, r| Box::pin(apply(a, r))),
    ("list-applications", |a, r| {
        Box::pin(list_applications(a, r))
    }),
    ("withdraw-application", |a, r| {
        Box::pin(withdraw_application(a, r))
    }),
    ("hire", |a, r| Box::pin(hire(a, r))),
    ("list-notifications", |a, r| {
        Box::pin(list_notifications(a, r))
    }),
    ("read-notification", |a, r| {
        Box::pin(read_notification(a, r))
    }),
    ("list-my-applications", |a, r| {
        Box::pin(list_my_applications(a, r))
    }),
];

pub fn http_handler(name: &str) -> Option<Handler> {
    HTTP_HANDLERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
}
