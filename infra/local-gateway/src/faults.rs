//! A DynamoDB that fails on purpose, local only: no Lambda under `functions/` and nothing in
//! `shared/` builds it. Two users:
//!
//! - the local gateway's fault switch ([`FaultSwitch`], with `LOCAL_FAULTS=1`, set at run
//!   time by `POST /_local/faults`), which `make chaos` drives: throttling and transaction
//!   conflicts at a seeded rate, every condition dropped (the product broken on purpose, to
//!   prove the chaos run catches it), and the local pipe stopped;
//! - the test kit's `FaultInjector`, which plans faults call by call.
//!
//! Both are an [`Answers`]: it sees every HTTP call of a DynamoDB client and answers it
//! itself or passes it on, through [`FaultyHttpClient`]. The error answers are DynamoDB's
//! own ([`throttling`], [`cancelled`], [`internal_error`]), shaped so that
//! `shared::store::StoreError` and the transaction retries classify them as DynamoDB's.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// What answers each HTTP call of a DynamoDB client: `dynamodb` (the real connector) or
/// the implementation itself.
pub trait Answers: fmt::Debug + Send + Sync + 'static {
    fn answer(&self, request: HttpRequest, dynamodb: &SharedHttpConnector) -> HttpConnectorFuture;
}

/// An HTTP client whose calls go through an [`Answers`] before (or instead of) the real one.
#[derive(Debug)]
pub struct FaultyHttpClient<A> {
    inner: SharedHttpClient,
    answers: Arc<A>,
}

impl<A> Clone for FaultyHttpClient<A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            answers: self.answers.clone(),
        }
    }
}

impl<A: Answers> FaultyHttpClient<A> {
    /// Over the SDK's HTTP client for plain HTTP: the emulators' endpoints are `http://`.
    pub fn new(answers: A) -> Self {
        Self {
            inner: aws_smithy_http_client::Builder::new().build_http(),
            answers: Arc::new(answers),
        }
    }

    /// A DynamoDB client for `endpoint`, configured as the handlers' (timeouts, retries),
    /// whose calls go through this.
    pub fn dynamodb_client(&self, endpoint: &str) -> aws_sdk_dynamodb::Client {
        let sdk = shared::app::local_sdk_config(endpoint);
        aws_sdk_dynamodb::Client::from_conf(
            shared::app::dynamodb_config(&sdk)
                .http_client(self.clone())
                .build(),
        )
    }
}

impl<A: Answers> HttpClient for FaultyHttpClient<A> {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            answers: self.answers.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector<A> {
    inner: SharedHttpConnector,
    answers: Arc<A>,
}

impl<A: Answers> HttpConnector for FaultyConnector<A> {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.answers.answer(request, &self.inner)
    }
}

/// The DynamoDB operation a request calls (`TransactWriteItems`, `GetItem`, …), from its
/// `x-amz-target`.
pub fn operation(request: &HttpRequest) -> &str {
    let target = request.headers().get("x-amz-target").unwrap_or_default();
    target.rsplit('.').next().unwrap_or_default()
}

/// An error answer as DynamoDB sends one.
pub fn dynamodb_error(status: u16, body: Value) -> Response<SdkBody> {
    let mut response = Response::new(
        StatusCode::try_from(status).expect("an HTTP status"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

/// A 500 as DynamoDB sends one.
pub fn internal_error() -> Response<SdkBody> {
    dynamodb_error(
        500,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "message": "Internal server error"
        }),
    )
}

/// DynamoDB's throttling answer to any operation but a transaction: the store takes its
/// code for unavailable (`TRANSIENT_CODES`), the SDK for throttling (it retries it).
pub fn throttling() -> Response<SdkBody> {
    dynamodb_error(
        400,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
            "message": "Rate of requests exceeds the allowed throughput."
        }),
    )
}

/// Why a cancelled transaction did not commit, as a cancellation names it: the store
/// sends again while the reasons are only these (a new request each time), and gives up
/// as unavailable when they outlast its retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellation {
    /// Another transaction touched the item.
    Conflict,
    /// The item's partition was throttled.
    Throttled,
}

/// A `TransactionCanceledException` naming `why` for the transaction's first item and
/// `None` for the other `items - 1`: nothing was written.
pub fn cancelled(why: Cancellation, items: usize) -> Response<SdkBody> {
    cancelled_at(why, items, 0)
}

/// A `TransactionCanceledException` naming `why` for item `at` of the transaction's
/// `items` and `None` for the others: nothing was written.
pub fn cancelled_at(why: Cancellation, items: usize, at: usize) -> Response<SdkBody> {
    let (code, message) = match why {
        Cancellation::Conflict => ("TransactionConflict", "Transaction is ongoing for the item"),
        Cancellation::Throttled => ("ThrottlingError", "Throughput exceeds the current capacity"),
    };
    let items = items.max(1);
    let mut reasons = vec![json!({"Code": "None"}); items];
    reasons[at.min(items - 1)] = json!({"Code": code, "Message": message});
    let codes: Vec<&str> = reasons.iter().filter_map(|r| r["Code"].as_str()).collect();
    dynamodb_error(
        400,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            "CancellationReasons": reasons,
        }),
    )
}

/// The request's body as JSON, if it is JSON held in memory (as the SDK's are).
fn json_body(request: &HttpRequest) -> Option<Value> {
    serde_json::from_slice(request.body().bytes()?).ok()
}

/// How many items a TransactWriteItems request writes or checks.
pub fn transaction_items(request: &HttpRequest) -> usize {
    json_body(request)
        .and_then(|body| body["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(1)
}

/// The first item of a TransactWriteItems request that is no idempotency record (the
/// first when all are): where another transaction's conflict would fall. A conflict on the
/// record itself means a duplicate request committing at this moment, which the API
/// answers otherwise (409, in progress).
fn contended_item(request: &HttpRequest) -> usize {
    let Some(body) = json_body(request) else {
        return 0;
    };
    let sk = shared::store::keys::IDEMPOTENCY_SK;
    let is_record = |item: &Value| {
        item.as_object()
            .into_iter()
            .flatten()
            .any(|(_, write)| write["Item"]["SK"]["S"] == sk || write["Key"]["SK"]["S"] == sk)
    };
    body["TransactItems"]
        .as_array()
        .and_then(|items| items.iter().position(|item| !is_record(item)))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// The switch.

/// What the switch does to the handlers' DynamoDB calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DynamoFault {
    /// Every call passes.
    Off,
    /// `rate` of all calls are answered as throttled, without being sent.
    Throttle,
    /// `rate` of TransactWriteItems calls are answered as cancelled for a conflict,
    /// without being sent.
    Conflict,
    /// Every TransactWriteItems, PutItem and UpdateItem is sent without its conditions.
    Unconditional,
}

/// Whether the local pipe reads the table's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PipeFault {
    Run,
    /// Not reading; on `run` it goes on from where it stopped.
    Stop,
}

/// The switch's whole state: what `POST /_local/faults` answers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaultState {
    pub dynamodb: DynamoFault,
    /// The fraction of the calls `throttle` and `conflict` hit, in 0..=1.
    pub rate: f64,
    /// Which calls they hit: the same seed and the same sequence of calls, the same hits.
    pub seed: u64,
    pub pipe: PipeFault,
}

impl Default for FaultState {
    fn default() -> Self {
        Self {
            dynamodb: DynamoFault::Off,
            rate: 1.0,
            seed: 0,
            pipe: PipeFault::Run,
        }
    }
}

/// A change of the switch: `POST /_local/faults`'s body. What it leaves out stays as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultChange {
    pub dynamodb: Option<DynamoFault>,
    pub rate: Option<f64>,
    pub seed: Option<u64>,
    pub pipe: Option<PipeFault>,
}

impl FaultChange {
    /// The change a request body asks for, or why it is none.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let change: Self = serde_json::from_slice(body).map_err(|e| {
            format!(
                "expected {{\"dynamodb\": \"off\"|\"throttle\"|\"conflict\"|\"unconditional\", \
                 \"rate\": 0..1, \"seed\": an unsigned integer, \"pipe\": \"run\"|\"stop\"}}, \
                 each optional: {e}"
            )
        })?;
        if let Some(rate) = change.rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(format!("rate must be from 0 to 1, not {rate}"));
        }
        Ok(change)
    }
}

/// The local gateway's fault switch (`LOCAL_FAULTS=1`). Clones share it: the handlers', the
/// pumps' and the sweeper's DynamoDB clients go through it ([`FaultSwitch::dynamodb_client`]),
/// the background pipe waits on it, and `POST /_local/faults` sets it.
#[derive(Debug, Clone)]
pub struct FaultSwitch {
    inner: Arc<Switch>,
}

#[derive(Debug)]
struct Switch {
    state: Mutex<Dice>,
    pipe: watch::Sender<bool>,
}

/// The state and how many calls `rate` was drawn for since it was last set.
#[derive(Debug)]
struct Dice {
    state: FaultState,
    draws: u64,
}

impl Default for FaultSwitch {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultSwitch {
    /// Off, the pipe running.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Switch {
                state: Mutex::new(Dice {
                    state: FaultState::default(),
                    draws: 0,
                }),
                pipe: watch::Sender::new(true),
            }),
        }
    }

    fn dice(&self) -> MutexGuard<'_, Dice> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> FaultState {
        self.dice().state
    }

    /// Applies `change`; returns the whole state after it. Setting `dynamodb`, `rate` or
    /// `seed` starts the draws again: the n-th call after it is hit or not by the seed
    /// alone.
    pub fn set(&self, change: FaultChange) -> FaultState {
        let mut dice = self.dice();
        let state = &mut dice.state;
        if let Some(dynamodb) = change.dynamodb {
            state.dynamodb = dynamodb;
        }
        if let Some(rate) = change.rate {
            state.rate = rate.clamp(0.0, 1.0);
        }
        if let Some(seed) = change.seed {
            state.seed = seed;
        }
        if let Some(pipe) = change.pipe {
            state.pipe = pipe;
            self.inner.pipe.send_replace(pipe == PipeFault::Run);
        }
        let state = *state;
        if change.dynamodb.is_some() || change.rate.is_some() || change.seed.is_some() {
            dice.draws = 0;
        }
        state
    }

    /// Whether the local pipe may read: it waits while this is false.
    pub fn pipe_running(&self) -> watch::Receiver<bool> {
        self.inner.pipe.subscribe()
    }

    /// A DynamoDB client for `endpoint`, configured as the handlers' own, through this
    /// switch.
    pub fn dynamodb_client(&self, endpoint: &str) -> aws_sdk_dynamodb::Client {
        FaultyHttpClient::new(self.clone()).dynamodb_client(endpoint)
    }

    /// What the switch does to a call of `operation`: the mode, and for `throttle` and
    /// `conflict` whether this call is one `rate` hits (calls `conflict` does not apply to
    /// draw nothing).
    fn decide(&self, operation: &str) -> Decision {
        let mut dice = self.dice();
        let FaultState {
            dynamodb,
            rate,
            seed,
            ..
        } = dice.state;
        let transaction = operation == "TransactWriteItems";
        let mut draw = || {
            let n = dice.draws;
            dice.draws += 1;
            unit(seed, n) < rate
        };
        match dynamodb {
            DynamoFault::Off => Decision::Pass,
            DynamoFault::Throttle if draw() => Decision::Throttle { transaction },
            DynamoFault::Conflict if transaction && draw() => Decision::Conflict,
            DynamoFault::Throttle | DynamoFault::Conflict => Decision::Pass,
            DynamoFault::Unconditional
                if matches!(operation, "TransactWriteItems" | "PutItem" | "UpdateItem") =>
            {
                Decision::Unconditional
            }
            DynamoFault::Unconditional => Decision::Pass,
        }
    }
}

enum Decision {
    Pass,
    Throttle { transaction: bool },
    Conflict,
    Unconditional,
}

/// The `n`-th draw of `seed`, uniform in [0, 1): SplitMix64 of the two.
fn unit(seed: u64, n: u64) -> f64 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (mix(seed ^ mix(n)) >> 11) as f64 / (1u64 << 53) as f64
}

impl Answers for FaultSwitch {
    fn answer(
        &self,
        mut request: HttpRequest,
        dynamodb: &SharedHttpConnector,
    ) -> HttpConnectorFuture {
        match self.decide(operation(&request)) {
            Decision::Pass => dynamodb.call(request),
            Decision::Throttle { transaction: false } => {
                HttpConnectorFuture::ready(Ok(throttling()))
            }
            Decision::Throttle { transaction: true } => {
                HttpConnectorFuture::ready(Ok(cancelled_at(
                    Cancellation::Throttled,
                    transaction_items(&request),
                    contended_item(&request),
                )))
            }
            Decision::Conflict => HttpConnectorFuture::ready(Ok(cancelled_at(
                Cancellation::Conflict,
                transaction_items(&request),
                contended_item(&request),
            ))),
            Decision::Unconditional => {
                if let Some(mut body) = json_body(&request) {
                    drop_conditions(&mut body);
                    let body = body.to_string();
                    request
                        .headers_mut()
                        .insert("content-length", body.len().to_string());
                    *request.body_mut() = SdkBody::from(body);
                }
                dynamodb.call(request)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Conditions dropped.

/// A condition that always holds, for a `ConditionCheck` (which must have one): no item has
/// this attribute.
const TAUTOLOGY: &str = "attribute_not_exists(#local_faults_never)";
const TAUTOLOGY_NAME: (&str, &str) = ("#local_faults_never", "__local_faults_never");

/// Drops the conditions of a TransactWriteItems, PutItem or UpdateItem request body: each
/// write's `ConditionExpression` goes, a `ConditionCheck`'s becomes [`TAUTOLOGY`]. DynamoDB
/// (and DynamoDB Local, probed) refuses expression attribute names and values no
/// expression uses, and empty maps of them, so what only the conditions used is pruned,
/// and a map left empty goes.
pub fn drop_conditions(body: &mut Value) {
    match body.get_mut("TransactItems").and_then(Value::as_array_mut) {
        Some(items) => {
            for item in items {
                let Some(item) = item.as_object_mut() else {
                    continue;
                };
                for (kind, write) in item.iter_mut() {
                    if let Some(write) = write.as_object_mut() {
                        drop_condition(write, kind == "ConditionCheck");
                    }
                }
            }
        }
        None => {
            if let Some(write) = body.as_object_mut() {
                drop_condition(write, false);
            }
        }
    }
}

fn drop_condition(write: &mut Map<String, Value>, check: bool) {
    if write.remove("ConditionExpression").is_none() {
        return;
    }
    if check {
        write.insert("ConditionExpression".into(), json!(TAUTOLOGY));
        write
            .entry("ExpressionAttributeNames")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|names| names.insert(TAUTOLOGY_NAME.0.into(), json!(TAUTOLOGY_NAME.1)));
    }
    // Legacy conditions, never sent by the store, would go too.
    write.remove("Expected");
    write.remove("ConditionalOperator");
    let used: BTreeSet<String> = write
        .iter()
        .filter(|(key, _)| key.ends_with("Expression"))
        .filter_map(|(_, v)| v.as_str())
        .flat_map(placeholders)
        .collect();
    for map in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
        let empty = write
            .get_mut(map)
            .and_then(Value::as_object_mut)
            .map(|entries| {
                entries.retain(|placeholder, _| used.contains(placeholder));
                entries.is_empty()
            });
        if empty == Some(true) {
            write.remove(map);
        }
    }
}

/// The `#name` and `:value` placeholders an expression uses.
fn placeholders(expression: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut chars = expression.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c != '#' && c != ':' {
            continue;
        }
        let mut end = start + 1;
        while let Some(&(i, c)) = chars.peek() {
            if !(c.is_ascii_alphanumeric() || c == '_') {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        if end > start + 1 {
            found.push(expression[start..end].to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_loses_its_condition_and_what_only_it_used() {
        let mut body = json!({
            "TableName": "t",
            "Item": {"PK": {"S": "a"}},
            "ConditionExpression": "attribute_not_exists(#pk) AND #v = :v",
            "ExpressionAttributeNames": {"#pk": "PK", "#v": "version"},
            "ExpressionAttributeValues": {":v": {"N": "1"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        });
        drop_conditions(&mut body);
        assert_eq!(
            body,
            json!({
                "TableName": "t",
                "Item": {"PK": {"S": "a"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            })
        );
    }

    #[test]
    fn an_update_keeps_what_its_update_expression_uses() {
        let mut body = json!({
            "UpdateExpression": "SET #s = :s, hired_count = hired_count + :one",
            "ConditionExpression": "#s = :open AND hired_count < :max",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": "filled"}, ":one": {"N": "1"}, ":open": {"S": "open"}, ":max": {"N": "1"}},
        });
        drop_conditions(&mut body);
        assert_eq!(
            body,
            json!({
                "UpdateExpression": "SET #s = :s, hired_count = hired_count + :one",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": {"S": "filled"}, ":one": {"N": "1"}},
            })
        );
    }

    #[test]
    fn a_transaction_loses_every_condition_and_its_checks_always_hold() {
        let mut body = json!({"TransactItems": [
            {"Put": {"Item": {}, "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Update": {"UpdateExpression": "SET a = :a", "ConditionExpression": "b = :b",
                        "ExpressionAttributeValues": {":a": {"S": "1"}, ":b": {"S": "2"}}}},
            {"Delete": {"Key": {}, "ConditionExpression": "#x = :x",
                        "ExpressionAttributeNames": {"#x": "x"},
                        "ExpressionAttributeValues": {":x": {"S": "x"}}}},
            {"ConditionCheck": {"Key": {}, "ConditionExpression": "#x = :x",
                        "ExpressionAttributeNames": {"#x": "x"},
                        "ExpressionAttributeValues": {":x": {"S": "x"}}}},
        ], "ClientRequestToken": "t"});
        drop_conditions(&mut body);
        assert_eq!(
            body,
            json!({"TransactItems": [
                {"Put": {"Item": {}}},
                {"Update": {"UpdateExpression": "SET a = :a",
                            "ExpressionAttributeValues": {":a": {"S": "1"}}}},
                {"Delete": {"Key": {}}},
                {"ConditionCheck": {"Key": {}, "ConditionExpression": TAUTOLOGY,
                            "ExpressionAttributeNames": {"#local_faults_never": "__local_faults_never"}}},
            ], "ClientRequestToken": "t"})
        );
    }

    #[test]
    fn placeholders_are_names_and_values_not_functions_or_paths() {
        assert_eq!(
            placeholders("attribute_not_exists(#pk) AND #a.b[0] = :v_1 OR size(x) > :n"),
            ["#pk", "#a", ":v_1", ":n"]
        );
    }

    #[test]
    fn the_same_seed_hits_the_same_calls_and_the_rate_is_kept() {
        let hits = |seed| -> Vec<bool> { (0..1_000).map(|n| unit(seed, n) < 0.25).collect() };
        assert_eq!(hits(7), hits(7));
        assert_ne!(hits(7), hits(8));
        let count = hits(7).iter().filter(|h| **h).count();
        assert!((200..300).contains(&count), "{count} of 1000 at 0.25");
        assert!((0..1_000).all(|n| unit(3, n) < 1.0 && unit(3, n) >= 0.0));
    }

    #[test]
    fn the_draws_start_again_when_the_switch_is_set() {
        let switch = FaultSwitch::new();
        let set = FaultChange {
            dynamodb: Some(DynamoFault::Throttle),
            rate: Some(0.5),
            seed: Some(7),
            pipe: None,
        };
        switch.set(set);
        let first: Vec<bool> = (0..50)
            .map(|_| matches!(switch.decide("GetItem"), Decision::Throttle { .. }))
            .collect();
        switch.set(FaultChange {
            pipe: Some(PipeFault::Stop),
            ..Default::default()
        });
        assert_eq!(switch.state().dynamodb, DynamoFault::Throttle);
        switch.set(set);
        let again: Vec<bool> = (0..50)
            .map(|_| matches!(switch.decide("GetItem"), Decision::Throttle { .. }))
            .collect();
        assert_eq!(first, again);
        assert!(first.contains(&true) && first.contains(&false));
        assert!(!*switch.pipe_running().borrow());
    }

    #[test]
    fn conflicts_hit_only_transactions() {
        let switch = FaultSwitch::new();
        switch.set(FaultChange {
            dynamodb: Some(DynamoFault::Conflict),
            ..Default::default()
        });
        assert!(matches!(switch.decide("PutItem"), Decision::Pass));
        assert!(matches!(
            switch.decide("TransactWriteItems"),
            Decision::Conflict
        ));
    }

    #[test]
    fn bad_changes_are_refused() {
        for bad in [
            r#"{"rate": 1.5}"#,
            r#"{"rate": -0.1}"#,
            r#"{"dynamodb": "sometimes"}"#,
            r#"{"seed": -1}"#,
            r#"{"pipe": "paused"}"#,
            r#"{"rates": 0.1}"#,
            r#"[]"#,
            r#"not json"#,
        ] {
            assert!(FaultChange::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(FaultChange::parse(b"{}").unwrap(), FaultChange::default());
    }
}
