//! Counts the AWS calls the handlers make and the round trips they take: the figure the
//! next changes are to cut, measured by the tests and available to the bench. Calls made
//! at once (a `join_all` of writes) wait for the network once, so they count as one round
//! trip; calls made one after another count each.
//!
//! Only the clients given a recorder carry the counter: the handlers' ones
//! ([`crate::Options::round_trips`]) and, apart, what the stack runs in the background
//! ([`crate::Options::background_calls`]: the pipe, `notify` and `index` each with its
//! pollers, the sweeper),
//! so set-up and inspection through the working clients are never counted.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use shared::app::Clients;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// One call as the SDK ran it (retries included), on the recorder's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// As the SDK names it: `DynamoDB`, `SQS`.
    pub service: String,
    /// `GetItem`, `TransactWriteItems`, `SendMessageBatch`, …
    pub operation: String,
    pub start: u64,
    /// `None` while running, or for a call whose future was dropped (a send given up on).
    pub end: Option<u64>,
    /// The actions a transaction's items each need of IAM (`PutItem`, `UpdateItem`,
    /// `DeleteItem`, `ConditionCheckItem`), in order; empty for any other call.
    pub items: Vec<&'static str>,
    /// What a DynamoDB read read, for its read units; `None` for any other call.
    pub read: Option<Read>,
}

/// What DynamoDB bills a read by: whether it was strongly consistent, and the size of
/// what it read (a missing item still costs the smallest unit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Read {
    pub consistent: bool,
    /// Items asked for by key: 1 for GetItem, a BatchGetItem's keys; 0 for a Query.
    pub keys: usize,
    /// The sizes of the items it returned, as [`item_size`] counts them.
    pub returned: Vec<usize>,
    /// Items a Query read before its filter dropped any (its `ScannedCount`).
    pub scanned: usize,
}

/// What a request cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub dynamodb: usize,
    pub sqs: usize,
    pub round_trips: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} DynamoDB, {} SQS, {} round trips",
            self.dynamodb, self.sqs, self.round_trips
        )
    }
}

/// The calls seen since the last [`Recorder::reset`], shared by every client it counts.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Log>>,
}

/// Each start and end takes the next tick of one counter under the lock rather than a
/// clock reading: no two events tie, so a call made right after another never looks
/// simultaneous with it on a coarse clock, and the counts cannot depend on the machine.
#[derive(Debug, Default)]
struct Log {
    clock: u64,
    calls: Vec<Call>,
}

impl Log {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // A panic elsewhere while holding the lock leaves a log that is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets what was seen: after a test's set-up, before the request it measures.
    pub fn reset(&self) {
        self.log().calls.clear();
    }

    pub fn calls(&self) -> Vec<Call> {
        self.log().calls.clone()
    }

    pub fn counts(&self) -> Counts {
        let calls = self.calls();
        let of = |service: &str| calls.iter().filter(|c| c.service == service).count();
        Counts {
            dynamodb: of("DynamoDB"),
            sqs: of("SQS"),
            round_trips: round_trips(&calls),
        }
    }

    /// The interceptor to attach to a client whose calls this records.
    pub fn interceptor(&self) -> Counter {
        Counter {
            recorder: self.clone(),
        }
    }

    /// The same clients, configured alike, with every call recorded here.
    pub fn attach(&self, clients: &Clients) -> Clients {
        Clients {
            dynamo: aws_sdk_dynamodb::Client::from_conf(
                clients
                    .dynamo
                    .config()
                    .to_builder()
                    .interceptor(self.interceptor())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                clients
                    .sqs
                    .config()
                    .to_builder()
                    .interceptor(self.interceptor())
                    .build(),
            ),
            sockets: clients.sockets.as_ref().map(|c| {
                aws_sdk_apigatewaymanagement::Client::from_conf(
                    c.config()
                        .to_builder()
                        .interceptor(self.interceptor())
                        .build(),
                )
            }),
        }
    }

    /// The same DynamoDB Streams client, configured alike, with every call recorded here.
    pub fn attach_streams(
        &self,
        client: &aws_sdk_dynamodbstreams::Client,
    ) -> aws_sdk_dynamodbstreams::Client {
        aws_sdk_dynamodbstreams::Client::from_conf(
            client
                .config()
                .to_builder()
                .interceptor(self.interceptor())
                .build(),
        )
    }

    fn started(
        &self,
        metadata: Option<&Metadata>,
        items: Vec<&'static str>,
        read: Option<Read>,
    ) -> Recorded {
        let mut log = self.log();
        let start = log.tick();
        let (service, operation) = metadata
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_else(|| ("unknown".to_owned(), "unknown".to_owned()));
        log.calls.push(Call {
            service,
            operation,
            start,
            end: None,
            items,
            read,
        });
        Recorded {
            index: log.calls.len() - 1,
            start,
        }
    }

    fn ended(&self, Recorded { index, start }: Recorded, returned: Option<(Vec<usize>, usize)>) {
        let mut log = self.log();
        let end = log.tick();
        // A reset since the start took the call away: its end belongs to what was forgotten,
        // not to whichever call took its place.
        if let Some(call) = log.calls.get_mut(index).filter(|c| c.start == start) {
            call.end = Some(end);
            if let (Some(read), Some((sizes, scanned))) = (&mut call.read, returned) {
                read.returned = sizes;
                read.scanned = scanned;
            }
        }
    }
}

/// Recorders of what the stack does in the background, one for each part, so that a flow's
/// asynchronous calls can be told apart by what made them.
#[derive(Debug, Clone, Default)]
pub struct Background {
    /// The pipe: the table's description, the stream's reads, the batches it sends.
    pub pipe: Recorder,
    /// The pollers' receives and deletes on `notify`'s queue, and `notify`'s own calls.
    pub notify: Recorder,
    /// The same for the `index` consumer: its queue's pollers and its own calls.
    pub index: Recorder,
    /// The sweeper's runs.
    pub sweep: Recorder,
}

/// Groups of calls whose intervals overlap, directly or through other calls: calls made at
/// once wait for the network together, so they count once. A call that never ended counts
/// as running until now, overlapping everything after its start.
pub fn round_trips(calls: &[Call]) -> usize {
    let mut spans: Vec<(u64, u64)> = calls
        .iter()
        .map(|c| (c.start, c.end.unwrap_or(u64::MAX)))
        .collect();
    spans.sort_unstable();
    let mut groups = 0;
    let mut reach = None;
    for (start, end) in spans {
        match reach {
            Some(r) if start < r => reach = Some(end.max(r)),
            _ => {
                groups += 1;
                reach = Some(end);
            }
        }
    }
    groups
}

/// What each item of a TransactWriteItems call asks of IAM: DynamoDB authorizes a
/// transaction item by item, each as the single-item action it is.
fn transaction_items(context: &BeforeSerializationInterceptorContextRef<'_>) -> Vec<&'static str> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
    let Some(input) = context.input().downcast_ref::<TransactWriteItemsInput>() else {
        return Vec::new();
    };
    input
        .transact_items()
        .iter()
        .map(|item| {
            if item.put().is_some() {
                "PutItem"
            } else if item.update().is_some() {
                "UpdateItem"
            } else if item.delete().is_some() {
                "DeleteItem"
            } else {
                "ConditionCheckItem"
            }
        })
        .collect()
}

/// A read's consistency and the keys it asks for, from its input; `None` for a call that
/// reads no table items.
fn read_of(context: &BeforeSerializationInterceptorContextRef<'_>) -> Option<Read> {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemInput, get_item::GetItemInput, query::QueryInput,
    };
    let input = context.input();
    let (consistent, keys) = if let Some(get) = input.downcast_ref::<GetItemInput>() {
        (get.consistent_read() == Some(true), 1)
    } else if let Some(query) = input.downcast_ref::<QueryInput>() {
        (query.consistent_read() == Some(true), 0)
    } else if let Some(batch) = input.downcast_ref::<BatchGetItemInput>() {
        let tables = batch.request_items().into_iter().flat_map(|m| m.values());
        let (mut consistent, mut keys) = (true, 0);
        for table in tables {
            consistent &= table.consistent_read() == Some(true);
            keys += table.keys().len();
        }
        (consistent, keys)
    } else {
        return None;
    };
    Some(Read {
        consistent,
        keys,
        ..Read::default()
    })
}

/// What a read returned: its items' sizes and how many it read before any filter.
fn returned_of(context: &FinalizerInterceptorContextRef<'_>) -> Option<(Vec<usize>, usize)> {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, query::QueryOutput,
    };
    let output = context.output_or_error()?.ok()?;
    let sizes = |items: &[HashMap<String, AttributeValue>]| -> Vec<usize> {
        items.iter().map(item_size).collect()
    };
    if let Some(get) = output.downcast_ref::<GetItemOutput>() {
        let found: Vec<usize> = get.item().map(item_size).into_iter().collect();
        let n = found.len();
        Some((found, n))
    } else if let Some(query) = output.downcast_ref::<QueryOutput>() {
        Some((sizes(query.items()), query.scanned_count().max(0) as usize))
    } else if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
        let found: Vec<usize> = batch
            .responses()
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|items| sizes(items))
            .collect();
        let n = found.len();
        Some((found, n))
    } else {
        None
    }
}

/// An item's size as DynamoDB bills it: each attribute's name and value, in bytes.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.len().div_ceil(2) + 1,
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| 1 + k.len() + value(v)).sum::<usize>()
            }
            AttributeValue::Ss(ss) => ss.iter().map(String::len).sum(),
            AttributeValue::Ns(ns) => ns.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
            AttributeValue::Bs(bs) => bs.iter().map(|b| b.as_ref().len()).sum(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// The SDK interceptor that reports each call to a [`Recorder`].
#[derive(Debug, Clone)]
pub struct Counter {
    recorder: Recorder,
}

/// Which recorded call an execution is: an execution's config bag is its own, so
/// concurrent calls on one client never mix up their ends.
#[derive(Debug, Clone, Copy)]
struct Recorded {
    index: usize,
    start: u64,
}

impl Storable for Recorded {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "RoundTripCounter"
    }

    // Not `read_before_execution`: a client's interceptors run before the operation's
    // configuration, so the operation's name is not in the bag yet. Nothing between the
    // two waits on the network, so the start is as early as it needs to be.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let recorded = self.recorder.started(
            cfg.load::<Metadata>(),
            transaction_items(context),
            read_of(context),
        );
        cfg.interceptor_state().store_put(recorded);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(recorded) = cfg.load::<Recorded>() {
            self.recorder.ended(*recorded, returned_of(context));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start: u64, end: Option<u64>) -> Call {
        Call {
            service: "DynamoDB".into(),
            operation: "GetItem".into(),
            start,
            end,
            items: Vec::new(),
            read: None,
        }
    }

    #[test]
    fn no_calls_take_no_round_trips() {
        assert_eq!(round_trips(&[]), 0);
    }

    #[test]
    fn calls_one_after_another_count_each() {
        let calls = [call(1, Some(2)), call(3, Some(4)), call(5, Some(6))];
        assert_eq!(round_trips(&calls), 3);
    }

    #[test]
    fn calls_made_at_once_count_once() {
        // join_all: every call starts before any ends.
        let calls = [call(1, Some(5)), call(2, Some(4)), call(3, Some(6))];
        assert_eq!(round_trips(&calls), 1);
    }

    #[test]
    fn a_hire_is_a_read_a_write_a_send_and_its_marks_at_once() {
        let calls = [
            call(1, Some(2)),
            call(3, Some(4)),
            call(5, Some(6)),
            call(7, Some(10)),
            call(8, Some(9)),
        ];
        assert_eq!(round_trips(&calls), 4);
    }

    #[test]
    fn overlap_chains_through_calls_in_any_order() {
        // The first and third never overlap, but each overlaps the second.
        let calls = [call(5, Some(9)), call(1, Some(3)), call(2, Some(6))];
        assert_eq!(round_trips(&calls), 1);
    }

    #[test]
    fn a_call_that_never_ended_overlaps_everything_after_it() {
        let calls = [call(1, Some(2)), call(3, None), call(4, Some(5))];
        assert_eq!(round_trips(&calls), 2);
    }

    #[test]
    fn a_reset_forgets_calls_and_their_late_ends() {
        let recorder = Recorder::new();
        let early = recorder.started(None, Vec::new(), None);
        recorder.reset();
        let next = recorder.started(None, Vec::new(), None);
        recorder.ended(early, None);
        assert_eq!(recorder.calls()[0].end, None, "{:?}", recorder.calls());
        recorder.ended(next, None);
        assert_eq!(recorder.calls().len(), 1);
        assert!(recorder.calls()[0].end.is_some());
        assert_eq!(recorder.counts().round_trips, 1);
    }
}
