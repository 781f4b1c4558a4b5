//! The local stack's front door: serves every route of `template.yaml` on localhost by
//! turning each request into the API Gateway v2 event the Lambda would get and calling the
//! same handler the Lambda runs, against DynamoDB Local.

pub mod asyncapi;
pub mod auth;
pub mod concurrency;
pub mod faults;
pub mod filter;
pub mod gateway;
pub mod openapi;
pub mod pipe;
pub mod resources;
pub mod round_trips;
pub mod runtime_api;
pub mod seed;
pub mod sockets;
pub mod stack;
pub mod template;
pub mod worker;

pub use gateway::{Gateway, GatewayConfig};
pub use stack::{LocalStack, Options};
