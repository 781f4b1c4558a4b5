//! What Lambda's event source mapping and EventBridge do in production, done locally: feed
//! each consumer's queue to its function (deleting only what succeeded) and fire `sweep` on
//! a timer.

use crate::concurrency::Concurrency;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use shared::App;
use shared::domain::Consumer as BusConsumer;
use shared::handlers::sweep::SweepReport;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

/// The template's `BatchSize`: a receive asks for this many, and one that gets them all
/// says more are waiting.
pub const BATCH_SIZE: usize = 10;

/// How long a poller's receive waits for messages. The template's batching window is 1 s;
/// a longer wait would only make an idle `make dev` slower to scale down.
const LONG_POLL: Duration = Duration::from_secs(1);

/// Receives one batch (long-polling up to `wait`), runs `consumer`'s function on it and
/// deletes the messages it did not report as failed. Returns how many messages were
/// received.
pub async fn pump_once(
    app: &App,
    consumer: BusConsumer,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait: Duration,
) -> Result<usize, String> {
    let messages = receive(sqs, queue_url, wait).await?;
    let n = messages.len();
    if n > 0 {
        run_batch(app, consumer, sqs, queue_url, messages).await?;
    }
    Ok(n)
}

async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait: Duration,
) -> Result<Vec<Message>, String> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(BATCH_SIZE as i32)
        .wait_time_seconds(wait.as_secs() as i32)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| shared::telemetry::error_chain(&e))?;
    Ok(received.messages.unwrap_or_default())
}

/// A consumer's function on one received batch, then the deletion of what it did not
/// report failed.
async fn run_batch(
    app: &App,
    consumer: BusConsumer,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: Vec<Message>,
) -> Result<(), String> {
    let mut event = SqsEvent::default();
    for m in &messages {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id.clone();
        record.receipt_handle = m.receipt_handle.clone();
        record.body = m.body.clone();
        record.event_source = Some("aws:sqs".into());
        record.aws_region = Some("us-east-1".into());
        event.records.push(record);
    }
    // The consumers' timeout in template.yaml, as Lambda would give it.
    let app = app.until(shared::deadline::Deadline::after(Duration::from_secs(30)));
    let response = match consumer {
        BusConsumer::Notify => shared::handlers::notify(app, event).await,
        BusConsumer::Index => shared::handlers::index(app, event).await,
    };
    let failed: HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    let entries: Vec<_> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(m.message_id.as_deref().unwrap_or_default()))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                .build()
                .ok()
        })
        .collect();
    if !entries.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| shared::telemetry::error_chain(&e))?;
    }
    Ok(())
}

/// How many pollers read the queue at once. Lambda's event source mapping starts five for a
/// standard queue and adds more while messages wait; locally it is decided one receive at
/// a time, from whether that receive came back full or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaling {
    /// Never fewer (at least one, or nothing would ever poll again).
    pub min: usize,
    pub max: usize,
}

impl Scaling {
    /// Lambda's five to start with. The ceiling is the local machine's: every batch's
    /// writes queue for one single-threaded DynamoDB Local, so more pollers than this add
    /// waiting, not throughput.
    pub const LOCAL: Scaling = Scaling { min: 5, max: 20 };

    /// The poller count after one of `pollers` pollers received `received` messages: a full
    /// batch means more are waiting (one more poller), an empty one that a poller is idle
    /// (one fewer).
    pub fn after_receive(self, pollers: usize, received: usize) -> usize {
        let wanted = if received >= BATCH_SIZE {
            pollers + 1
        } else if received == 0 {
            pollers.saturating_sub(1)
        } else {
            pollers
        };
        wanted.min(self.max).max(self.min.max(1))
    }
}

/// What the pollers are doing, for tests and benchmarks to watch.
#[derive(Debug, Default)]
pub struct PollerStats {
    pollers: AtomicUsize,
    peak_pollers: AtomicUsize,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    batches: AtomicUsize,
}

impl PollerStats {
    pub fn pollers(&self) -> usize {
        self.pollers.load(Ordering::SeqCst)
    }
    pub fn peak_pollers(&self) -> usize {
        self.peak_pollers.load(Ordering::SeqCst)
    }
    /// Batches received and not yet through `notify` and deleted.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::SeqCst)
    }
    /// Batches done, whatever became of their messages.
    pub fn batches(&self) -> usize {
        self.batches.load(Ordering::SeqCst)
    }

    fn set_pollers(&self, n: usize) {
        self.pollers.store(n, Ordering::SeqCst);
        self.peak_pollers.fetch_max(n, Ordering::SeqCst);
    }

    fn batch_started(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }
}

struct InFlight<'a>(&'a PollerStats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.batches.fetch_add(1, Ordering::SeqCst);
    }
}

/// Where pollers get batches and what they do with one: the queue and `notify`
/// ([`QueueConsumer`]), or a stand-in where a test looks at the scaling alone.
pub trait Consumer: Send + Sync + 'static {
    type Message: Send;
    /// One receive; an empty batch when nothing came within the long poll.
    fn receive(&self) -> impl Future<Output = Result<Vec<Self::Message>, String>> + Send;
    fn process(&self, batch: Vec<Self::Message>)
    -> impl Future<Output = Result<(), String>> + Send;
}

/// A consumer's queue in the stack, each batch through its function, deleting what it did
/// not report failed.
pub struct QueueConsumer {
    pub app: App,
    pub consumer: BusConsumer,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// The stack's limit, which a batch's invocation counts against.
    pub concurrency: Concurrency,
}

impl Consumer for QueueConsumer {
    type Message = Message;

    async fn receive(&self) -> Result<Vec<Message>, String> {
        receive(&self.sqs, &self.queue_url, LONG_POLL).await
    }

    async fn process(&self, batch: Vec<Message>) -> Result<(), String> {
        let _running = self.concurrency.start().await;
        run_batch(&self.app, self.consumer, &self.sqs, &self.queue_url, batch).await
    }
}

/// Feeds `consumer`'s queue to its function with [`Scaling::LOCAL`]'s pollers until the
/// task is aborted.
pub fn spawn_pump(
    app: App,
    consumer: BusConsumer,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    concurrency: Concurrency,
) -> JoinHandle<()> {
    let consumer = QueueConsumer {
        app,
        consumer,
        sqs,
        queue_url,
        concurrency,
    };
    spawn_pollers(consumer, Scaling::LOCAL).0
}

/// Starts `scaling.min` pollers on `consumer` and scales them until the task is aborted,
/// which stops every poller.
pub fn spawn_pollers<C: Consumer>(
    consumer: C,
    scaling: Scaling,
) -> (JoinHandle<()>, Arc<PollerStats>) {
    let stats = Arc::new(PollerStats::default());
    let task = tokio::spawn(supervise(Arc::new(consumer), scaling, stats.clone()));
    (task, stats)
}

/// A poller's receive count, and where to answer whether it goes on polling.
type Report = (usize, oneshot::Sender<bool>);

/// Decides the poller count one report at a time, so concurrent receives never both retire
/// the last poller above the floor or both add the one below the ceiling.
async fn supervise<C: Consumer>(consumer: Arc<C>, scaling: Scaling, stats: Arc<PollerStats>) {
    let (reports, mut incoming) = mpsc::channel::<Report>(scaling.max.max(1));
    // Owned here: aborting this task drops the set, and the set aborts every poller.
    let mut pollers = JoinSet::new();
    let start = |set: &mut JoinSet<()>| {
        set.spawn(poll(consumer.clone(), stats.clone(), reports.clone()));
    };
    let mut count = scaling.min.max(1).min(scaling.max.max(1));
    for _ in 0..count {
        start(&mut pollers);
    }
    stats.set_pollers(count);
    loop {
        tokio::select! {
            Some((received, answer)) = incoming.recv() => {
                let target = scaling.after_receive(count, received);
                let keep = target >= count;
                for _ in count..target {
                    start(&mut pollers);
                }
                count = if keep { target } else { count - 1 };
                stats.set_pollers(count);
                // A poller that is gone can only have panicked: `join_next` replaces it.
                let _ = answer.send(keep);
            }
            Some(ended) = pollers.join_next() => {
                if let Err(e) = ended
                    && e.is_panic()
                {
                    tracing::error!("a queue poller panicked; starting another");
                    start(&mut pollers);
                }
            }
        }
    }
}

async fn poll<C: Consumer>(
    consumer: Arc<C>,
    stats: Arc<PollerStats>,
    reports: mpsc::Sender<Report>,
) {
    loop {
        let received = match consumer.receive().await {
            Ok(batch) if batch.is_empty() => 0,
            Ok(batch) => {
                let n = batch.len();
                let _in_flight = stats.batch_started();
                if let Err(e) = consumer.process(batch).await {
                    // What was not deleted comes back after the visibility timeout.
                    tracing::warn!(error = %e, "deleting a batch failed");
                }
                n
            }
            // The SQS emulator paused, down or restarted: poll again after a pause. A queue
            // it lost is made again by the stack's `QueueKeeper`, which saw the answer.
            Err(e) => {
                tracing::warn!(error = %e, "queue poll failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                0
            }
        };
        let (answer, verdict) = oneshot::channel();
        if reports.send((received, answer)).await.is_err() || !matches!(verdict.await, Ok(true)) {
            return;
        }
    }
}

/// One sweep, now, with a Lambda-sized time budget.
pub async fn sweep_now(app: &App) -> Result<SweepReport, String> {
    shared::handlers::sweep(
        app,
        shared::time::now(),
        Instant::now() + Duration::from_secs(55),
    )
    .await
    .map_err(|e| shared::telemetry::error_chain(&e))
}

/// Fires `sweep` every `interval`, as the EventBridge schedule does every minute.
pub fn spawn_sweeper(app: App, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(e) = sweep_now(&app).await {
                tracing::warn!(error = %e, "scheduled sweep failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const BOUNDS: Scaling = Scaling { min: 2, max: 6 };

    #[test]
    fn a_full_receive_adds_a_poller_an_empty_one_retires_one_within_the_bounds() {
        assert_eq!(BOUNDS.after_receive(2, BATCH_SIZE), 3);
        assert_eq!(BOUNDS.after_receive(5, BATCH_SIZE), 6);
        assert_eq!(
            BOUNDS.after_receive(6, BATCH_SIZE),
            6,
            "never above the ceiling"
        );
        assert_eq!(
            BOUNDS.after_receive(4, BATCH_SIZE - 1),
            4,
            "a partial batch holds"
        );
        assert_eq!(BOUNDS.after_receive(4, 1), 4);
        assert_eq!(BOUNDS.after_receive(4, 0), 3);
        assert_eq!(BOUNDS.after_receive(2, 0), 2, "never below the floor");
        let no_floor = Scaling { min: 0, max: 3 };
        assert_eq!(no_floor.after_receive(1, 0), 1, "one poller always remains");
        assert_eq!(Scaling::LOCAL.min, 5, "Lambda's start for a standard queue");
    }

    /// A queue of `remaining` messages whose batches take `work` each.
    struct Backlog {
        remaining: AtomicUsize,
        processed: AtomicUsize,
        work: Duration,
    }

    impl Consumer for Arc<Backlog> {
        type Message = ();

        async fn receive(&self) -> Result<Vec<()>, String> {
            let taken = self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                    Some(r - r.min(BATCH_SIZE))
                })
                .map_err(|_| "unreachable".to_owned())?
                .min(BATCH_SIZE);
            if taken == 0 {
                // A long poll that found nothing.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(vec![(); taken])
        }

        async fn process(&self, batch: Vec<()>) -> Result<(), String> {
            tokio::time::sleep(self.work).await;
            self.processed.fetch_add(batch.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_backlog_is_worked_by_several_batches_at_once_and_the_pollers_scale_back() {
        let backlog = Arc::new(Backlog {
            remaining: AtomicUsize::new(600),
            processed: AtomicUsize::new(0),
            work: Duration::from_millis(20),
        });
        let (task, stats) = spawn_pollers(backlog.clone(), BOUNDS);

        until("every message is processed", || {
            backlog.processed.load(Ordering::SeqCst) == 600
        })
        .await;
        assert_eq!(stats.batches(), 60);
        assert!(
            stats.peak_in_flight() > 1,
            "batches ran one at a time: {stats:?}"
        );
        assert_eq!(
            stats.peak_pollers(),
            BOUNDS.max,
            "full receives scale up to the ceiling"
        );
        assert!(stats.peak_in_flight() <= BOUNDS.max);

        until("the idle pollers retire", || stats.pollers() == BOUNDS.min).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(stats.pollers(), BOUNDS.min, "and the floor stays");

        // More work after the lull scales up again.
        backlog.remaining.store(200, Ordering::SeqCst);
        until("the second backlog is processed", || {
            backlog.processed.load(Ordering::SeqCst) == 800
        })
        .await;
        assert_eq!(backlog.remaining.load(Ordering::SeqCst), 0);
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
    }
}
