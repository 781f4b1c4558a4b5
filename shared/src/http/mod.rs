//! The HTTP layer: who is calling, what they sent, and how answers and problems look.

mod cursor;
mod error;
pub mod idempotency;
mod request;
mod response;

pub use cursor::{Cursor, CursorCodec, Listing};
pub use error::{ApiError, Problem};
pub use request::{
    ListQuery, MAX_BODY_BYTES, body_bytes, caller, declares_json, json_body, path_id, query_param,
};
pub use response::{RETRY_AFTER_SECS, created, json, list, problem};

pub use lambda_http::{Body, Request, Response};
