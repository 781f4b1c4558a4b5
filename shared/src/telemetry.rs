//! Structured JSON logs. Each request runs in a span carrying its request id, so every
//! line it logs can be found by that id.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber once; later calls (tests, the local gateway) are no-ops.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing::subscriber::set_global_default(subscriber(filter, std::io::stdout));
}

/// The functions' log format, at `filter`, written to `writer`: what [`init`] installs, and
/// what a test captures to check what the logs hold.
pub fn subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .flatten_event(true)
        .with_writer(writer)
        .finish()
}

/// An error and its sources, by their `Display` only: `Debug` of an SDK error can carry a
/// raw response with item contents, which must not reach the logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
