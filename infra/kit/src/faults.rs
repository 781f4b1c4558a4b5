//! A DynamoDB that fails on purpose. DynamoDB Local runs one request at a time and never
//! cancels a transaction for a conflict, and its answers are never lost on the way back, so
//! both are injected: an HTTP client that answers TransactWriteItems calls with
//! `TransactionConflict`, or passes them through and then answers 500 as if the response had
//! been lost. The HTTP client and DynamoDB's error answers are the local gateway's
//! (`local_gateway::faults`, which its fault switch uses too); what is planned here is which
//! call fails, and how.

use crate::{TestApp, spawn_app_with};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use local_gateway::faults::{
    Answers, Cancellation, FaultyHttpClient, cancelled, internal_error, operation,
    transaction_items,
};
use serde_json::Value;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Cancelled for a conflict, nothing written.
    Conflict,
    /// Cancelled for throttling on one of its items, nothing written.
    Throttled,
    /// Committed, but the caller hears a 500: the outcome is unknown to it.
    LostResponse,
    /// Committed, then sent again as another request (its token changed, as when an answer
    /// was lost and the send repeated outside the token's window): the caller hears the
    /// second, cancelled on the conditions the first made false.
    Resent,
    /// Not sent, and never answered: only the client's timeouts end the call.
    Hang,
    /// Not sent; the caller hears a 500.
    Fail,
}

/// Which GetItem calls fail, and how: a read whose request body does not contain `unless`.
#[derive(Debug, Clone)]
pub struct FailingReads {
    pub fault: Fault,
    pub unless: String,
}

#[derive(Debug, Clone)]
pub struct FaultInjector {
    fault: Fault,
    /// Faults still to inject.
    pub remaining: Arc<AtomicUsize>,
    /// Faults to inject first, one per TransactWriteItems call, in order.
    pub plan: Arc<Mutex<VecDeque<Fault>>>,
    /// Faults for the next UpdateItem calls, in order.
    pub update_plan: Arc<Mutex<VecDeque<Fault>>>,
    /// TransactWriteItems calls seen, injected or not.
    pub transactions: Arc<AtomicUsize>,
    /// GetItem calls seen; faults for the next ones, in order (before `failing_reads`);
    /// those to fail while set, and how many were failed.
    pub reads: Arc<AtomicUsize>,
    pub read_plan: Arc<Mutex<VecDeque<Fault>>>,
    pub failing_reads: Arc<Mutex<Option<FailingReads>>>,
    pub failed_reads: Arc<AtomicUsize>,
    /// Injected answers wait while this is false: a test holds a transaction in flight.
    pub open: tokio::sync::watch::Sender<bool>,
    /// How long every call takes before it is answered: a slow DynamoDB.
    pub delay: Arc<Mutex<Duration>>,
}

impl FaultInjector {
    /// Runs `request` with this injector's fault on every TransactWriteItems it sends (a
    /// lost answer: each committed, or repeated with the same token), then injects no more.
    pub async fn throughout<F: Future>(&self, request: F) -> F::Output {
        self.remaining.store(1_000, Ordering::SeqCst);
        let output = request.await;
        self.remaining.store(0, Ordering::SeqCst);
        output
    }

    /// A DynamoDB client, as the Lambdas build it, whose calls go through this injector.
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        FaultyHttpClient::new(self.clone()).dynamodb_client(&crate::app::dynamodb_endpoint())
    }

    /// The fault for the next transaction, if any: the plan first, then `remaining`.
    fn next_fault(&self) -> Option<Fault> {
        if let Some(planned) = self.plan.lock().unwrap().pop_front() {
            return Some(planned);
        }
        self.remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
            .then_some(self.fault)
    }

    fn read_fault(&self, request: &HttpRequest) -> Option<Fault> {
        let failing = self.failing_reads.lock().unwrap().clone()?;
        let body = request.body().bytes().unwrap_or_default();
        let spared = String::from_utf8_lossy(body).contains(failing.unless.as_str());
        (!spared).then(|| {
            self.failed_reads.fetch_add(1, Ordering::SeqCst);
            failing.fault
        })
    }
}

impl Answers for FaultInjector {
    fn answer(&self, request: HttpRequest, dynamodb: &SharedHttpConnector) -> HttpConnectorFuture {
        let fault = match operation(&request) {
            "TransactWriteItems" => {
                self.transactions.fetch_add(1, Ordering::SeqCst);
                self.next_fault()
            }
            "UpdateItem" => self.update_plan.lock().unwrap().pop_front(),
            "GetItem" => {
                self.reads.fetch_add(1, Ordering::SeqCst);
                let planned = self.read_plan.lock().unwrap().pop_front();
                planned.or_else(|| self.read_fault(&request))
            }
            _ => None,
        };
        let delay = *self.delay.lock().unwrap();
        let answer = match fault {
            None => dynamodb.call(request),
            Some(fault) => self.inject(fault, request, dynamodb),
        };
        if delay.is_zero() {
            return answer;
        }
        HttpConnectorFuture::new(async move {
            tokio::time::sleep(delay).await;
            answer.await
        })
    }
}

impl FaultInjector {
    fn inject(
        &self,
        fault: Fault,
        request: HttpRequest,
        dynamodb: &SharedHttpConnector,
    ) -> HttpConnectorFuture {
        match fault {
            Fault::Conflict | Fault::Throttled => {
                let why = if fault == Fault::Conflict {
                    Cancellation::Conflict
                } else {
                    Cancellation::Throttled
                };
                let answer = cancelled(why, transaction_items(&request));
                let mut open = self.open.subscribe();
                HttpConnectorFuture::new(async move {
                    let _ = open.wait_for(|open| *open).await;
                    Ok(answer)
                })
            }
            Fault::LostResponse => {
                let committed = dynamodb.call(request);
                HttpConnectorFuture::new(async move {
                    committed.await?;
                    Ok(internal_error())
                })
            }
            Fault::Resent => {
                let again = request.try_clone().map(|mut again| {
                    let body = String::from_utf8_lossy(again.body().bytes().unwrap_or_default())
                        .into_owned();
                    let token = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v["ClientRequestToken"].as_str().map(str::to_owned));
                    if let Some(token) = token {
                        // Another token of the same length: the body keeps its length.
                        let other: String = token
                            .chars()
                            .map(|c| if c == 'a' { 'b' } else { 'a' })
                            .collect();
                        *again.body_mut() = SdkBody::from(body.replace(&token, &other));
                    }
                    again
                });
                let first = dynamodb.call(request);
                let inner = dynamodb.clone();
                HttpConnectorFuture::new(async move {
                    first.await?;
                    match again {
                        Some(again) => inner.call(again).await,
                        None => Ok(internal_error()),
                    }
                })
            }
            Fault::Hang => HttpConnectorFuture::new(std::future::pending()),
            Fault::Fail => HttpConnectorFuture::ready(Ok(internal_error())),
        }
    }
}

/// A test app whose HTTP handlers reach DynamoDB through a [`FaultInjector`] that injects
/// nothing until the test sets `remaining`.
pub async fn app_with_faults(fault: Fault) -> (TestApp, FaultInjector) {
    let injector = FaultInjector {
        fault,
        remaining: Arc::new(AtomicUsize::new(0)),
        plan: Arc::default(),
        update_plan: Arc::default(),
        transactions: Arc::new(AtomicUsize::new(0)),
        reads: Arc::new(AtomicUsize::new(0)),
        read_plan: Arc::default(),
        failing_reads: Arc::default(),
        failed_reads: Arc::new(AtomicUsize::new(0)),
        delay: Arc::default(),
        open: tokio::sync::watch::Sender::new(true),
    };
    let client = injector.client();
    let app = spawn_app_with(|o| o.handler_dynamo = Some(client)).await;
    (app, injector)
}
