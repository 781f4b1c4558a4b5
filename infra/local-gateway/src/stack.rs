//! The whole local stack in one call: `template.yaml`'s table and queues, the gateway in
//! front of the handlers and, where asked, what Lambda's event source mapping and the
//! EventBridge schedule do. `make dev`, the black-box tests and the benchmarks all start it
//! here, so what they run cannot drift apart.

use crate::auth::Auth;
use crate::concurrency::{Concurrency, LOCAL_CONCURRENCY};
use crate::faults::FaultSwitch;
use crate::gateway::{Gateway, GatewayConfig};
use crate::pipe::{Pipe, PipeSettings};
use crate::round_trips::{Background, Recorder};
use crate::sockets::{Limits, Sockets};
use crate::template::Template;
use crate::{pipe, resources, seed, worker};
use shared::App;
use shared::app::Clients;
use shared::auth::AuthConfig;
use shared::config::Config;
use shared::domain::Consumer;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::task::JoinHandle;

pub use resources::{QueueKeeper, Queues, StackError};

/// `make dev`'s settings where the environment leaves them unset. A Lambda has no defaults
/// for the first two: production must be told its table and secret.
const LOCAL_DEFAULTS: &[(&str, &str)] = &[
    ("TABLE_NAME", "marketplace-local"),
    ("CURSOR_SECRET", "local-cursor-secret-not-for-production"),
    // Half the production delay: a local run shows a redrive sooner.
    ("REDRIVE_DELAY_SECS", "30"),
];

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The handlers' settings, read from the environment exactly as a Lambda reads them, with
/// [`LOCAL_DEFAULTS`] where it says nothing.
pub fn local_config() -> Result<Config, StackError> {
    local_config_from(env)
}

fn local_config_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, StackError> {
    Ok(Config::from_lookup(|name| {
        lookup(name).filter(|v| !v.is_empty()).or_else(|| {
            LOCAL_DEFAULTS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    })?)
}

/// How a stack is started. [`Options::new`] gives a quiet one (no background work, any free
/// port); set the fields that differ.
pub struct Options {
    pub dynamodb_endpoint: String,
    pub sqs_endpoint: String,
    /// The handlers' settings; `queue_urls` are replaced by the queues the stack creates.
    pub config: Config,
    pub auth: Auth,
    pub template: Template,
    /// 0 takes any free port.
    pub port: u16,
    /// Whether the handlers' app knows the consumers' queues, which only the sweeper sends
    /// to (handlers announce through the table's stream); without them the sweeper sends
    /// nothing.
    pub publish: bool,
    /// The DynamoDB client the HTTP handlers use instead of the stack's own (one that
    /// injects faults). Set-up, inspection, `notify` and `sweep` keep working clients.
    pub handler_dynamo: Option<aws_sdk_dynamodb::Client>,
    /// Where the HTTP handlers send events instead of `sqs_endpoint` (an unreachable one:
    /// SQS is down).
    pub handler_sqs_endpoint: Option<String>,
    /// Replaces the template's visibility timeout: locally a failed message should come
    /// back in seconds, not minutes.
    pub visibility_timeout: Duration,
    /// Feed each consumer's queue to its function in the background. Off, nothing consumes
    /// them unless the caller does ([`worker::pump_once`]), so table snapshots cannot race a
    /// consumer.
    pub pump: bool,
    /// Create the table with the template's stream. Off only for tests that never read it:
    /// DynamoDB Local's stream writes slow down with the stream records it holds for other
    /// tables (measured: a transaction on a new table went from 5 ms to 50 ms after 20,000
    /// records in another), so a suite of hundreds of tables with streams would crawl.
    pub stream: bool,
    /// Play the template's EventBridge Pipe and bus in the background: the table's stream,
    /// filtered, through the bus's rules into the consumers' queues. Off, the stream waits
    /// for the caller ([`Pipe::pipe_once`]).
    pub pipe: bool,
    /// Run `sweep` this often in the background.
    pub sweep_every: Option<Duration>,
    /// Add the demo data to a table this start created.
    pub seed: bool,
    /// Records every call of the HTTP handlers' clients (and only theirs) here.
    pub round_trips: Option<Recorder>,
    /// Records the calls of the pipe, of each consumer (`notify`, `index`) with its pollers
    /// and of the sweeper, each apart: what a flow costs after its requests have answered.
    pub background_calls: Option<Background>,
    /// What the WebSocket API's authorizer accepts; `auth`'s tokens when unset.
    pub socket_auth: Option<AuthConfig>,
    /// The WebSocket API's idle and lifetime limits (API Gateway's by default).
    pub socket_limits: Limits,
    /// The local fault switch (`LOCAL_FAULTS=1`): the handlers', pumps' and sweeper's
    /// DynamoDB calls go through it, the background pipe waits on it, and
    /// `POST /_local/faults` sets it. Unset, that route does not exist. Never in a Lambda.
    pub faults: Option<FaultSwitch>,
    /// The most functions running at once, the routes' and the pollers' together
    /// (`LOCAL_CONCURRENCY`, [`LOCAL_CONCURRENCY`] unless set); more wait for one to end.
    pub concurrency: usize,
}

impl Options {
    pub fn new(
        dynamodb_endpoint: impl Into<String>,
        sqs_endpoint: impl Into<String>,
        config: Config,
        auth: Auth,
    ) -> Result<Self, StackError> {
        Ok(Self {
            dynamodb_endpoint: dynamodb_endpoint.into(),
            sqs_endpoint: sqs_endpoint.into(),
            config,
            auth,
            template: Template::load_default()?,
            port: 0,
            publish: true,
            handler_dynamo: None,
            handler_sqs_endpoint: None,
            visibility_timeout: Duration::from_secs(5),
            pump: false,
            stream: true,
            pipe: false,
            sweep_every: None,
            seed: false,
            round_trips: None,
            background_calls: None,
            socket_auth: None,
            socket_limits: Limits::default(),
            faults: None,
            concurrency: LOCAL_CONCURRENCY,
        })
    }

    /// `make dev`'s stack, from the variables the README documents.
    pub fn from_env() -> Result<Self, StackError> {
        let or = |name: &str, default: &str| env(name).unwrap_or_else(|| default.to_owned());
        let number = |name: &str, default: &str| {
            or(name, default)
                .parse::<u64>()
                .map_err(|e| StackError::Setting(format!("{name}: {e}")))
        };
        let template = match env("TEMPLATE") {
            Some(path) => Template::load(path.as_ref())?,
            None => Template::load_default()?,
        };
        Ok(Self {
            template,
            port: number("PORT", "3000")?
                .try_into()
                .map_err(|_| StackError::Setting("PORT: not a port".into()))?,
            pump: true,
            pipe: true,
            sweep_every: Some(Duration::from_secs(number("SWEEP_INTERVAL_SECS", "10")?)),
            seed: true,
            concurrency: number("LOCAL_CONCURRENCY", &LOCAL_CONCURRENCY.to_string())?
                .try_into()
                .map_err(|_| StackError::Setting("LOCAL_CONCURRENCY: too large".into()))?,
            faults: match env("LOCAL_FAULTS").as_deref() {
                None | Some("0") => None,
                Some("1") => Some(FaultSwitch::new()),
                Some(other) => {
                    return Err(StackError::Setting(format!(
                        "LOCAL_FAULTS: 1 turns the fault switch on, 0 or nothing leaves it off, not {other:?}"
                    )));
                }
            },
            ..Self::new(
                or("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
                or("SQS_ENDPOINT", "http://127.0.0.1:9324"),
                local_config()?,
                Auth::from_env(),
            )?
        })
    }
}

/// A running stack. It serves, pumps and sweeps until it is dropped.
pub struct LocalStack {
    pub address: SocketAddr,
    /// Working clients of both services, for set-up and inspection.
    pub clients: Clients,
    /// Each consumer's queue and DLQ.
    pub queues: BTreeMap<Consumer, Queues>,
    /// The handlers over the working clients, for running `notify` and `sweep` directly.
    pub app: App,
    /// What the handlers run with, `queue_urls` the stack's queues (if it publishes).
    pub config: Config,
    pub auth: Auth,
    /// Whether this start created the table (and seeded it, if asked).
    pub created: bool,
    /// The local EventBridge Pipe, running in the background or not ([`Options::pipe`]).
    pub pipe: Pipe,
    /// The WebSocket API's open connections, and the switch that breaks its Management API.
    pub sockets: Sockets,
    /// The fault switch, when [`Options::faults`] set one.
    pub faults: Option<FaultSwitch>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// DynamoDB Local started alongside (`make dev`) may take a few seconds to listen.
const DYNAMODB_WAIT: Duration = Duration::from_secs(30);

impl LocalStack {
    pub async fn start(options: Options) -> Result<Self, StackError> {
        let Options {
            dynamodb_endpoint,
            sqs_endpoint,
            mut config,
            auth,
            template,
            port,
            publish,
            handler_dynamo,
            handler_sqs_endpoint,
            visibility_timeout,
            pump,
            stream,
            pipe: run_pipe,
            sweep_every,
            seed,
            round_trips,
            background_calls,
            socket_auth,
            socket_limits,
            faults,
            concurrency,
        } = options;
        // The Management API is the gateway's own: its address is known once it listens.
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let address = listener.local_addr()?;
        let connections = format!("http://{address}");
        let clients = Clients::local(&dynamodb_endpoint, &sqs_endpoint).with_sockets(&connections);
        // Every SQS client of the stack reports a missing queue to the keeper, which makes
        // the template's queues again (the SQS emulator keeps them in memory).
        let keeper = QueueKeeper::new(
            clients.sqs.clone(),
            &config.table_name,
            &template,
            visibility_timeout,
        );
        let clients = Clients {
            sqs: keeper.watch(&clients.sqs),
            ..clients
        };
        if run_pipe && !stream {
            return Err(StackError::Setting(
                "the pipe reads the table's stream: it cannot run without it".into(),
            ));
        }
        let table_template = if stream {
            template.clone()
        } else {
            template.without_stream()
        };
        let created = ensure_table(&clients.dynamo, &config.table_name, &table_template).await?;
        let queues = keeper.ensure().await?;
        config.queue_urls = if publish {
            urls(&queues)
        } else {
            BTreeMap::new()
        };
        let pipe_settings = PipeSettings::from_template(&template)?;

        // What the handlers, the pumps and the sweeper run with: through the fault switch
        // when there is one. Set-up and inspection (`clients`, `app`) keep working clients.
        let working = match &faults {
            Some(switch) => Clients {
                dynamo: switch.dynamodb_client(&dynamodb_endpoint),
                ..clients.clone()
            },
            None => clients.clone(),
        };
        let handler_clients = match (handler_dynamo, handler_sqs_endpoint) {
            (None, None) => working.clone(),
            (dynamo, sqs) => {
                let local =
                    Clients::local(&dynamodb_endpoint, sqs.as_deref().unwrap_or(&sqs_endpoint))
                        .with_sockets(&connections);
                Clients {
                    dynamo: dynamo.unwrap_or(working.dynamo.clone()),
                    ..local
                }
            }
        };
        let handler_clients = match &round_trips {
            Some(recorder) => recorder.attach(&handler_clients),
            None => handler_clients,
        };
        let concurrency = Concurrency::new(concurrency);
        let gateway = Gateway::new(
            handler_clients,
            GatewayConfig {
                app: config.clone(),
                auth: auth.clone(),
                socket_auth: socket_auth.unwrap_or_else(|| auth.socket_config()),
                socket_limits,
                faults: faults.clone(),
                concurrency: concurrency.clone(),
            },
            &template,
        )?;
        let app = App::with_clients(clients.clone(), &config);
        if created && seed {
            seed::demo(&app)
                .await
                .map_err(|e| StackError::Seed(e.to_string()))?;
        }

        let sockets = gateway.sockets().clone();
        let router = gateway.router();
        let mut tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "local gateway stopped");
                }
            }),
            keeper.spawn(),
        ];
        // The working clients, or the same with a recorder of their own.
        let recorded = |pick: fn(&Background) -> &Recorder| match &background_calls {
            Some(background) => pick(background).attach(&working),
            None => working.clone(),
        };
        if pump {
            for (consumer, queue) in &queues {
                // Each consumer's calls apart, as each is a function of its own on AWS.
                let consumer_clients = recorded(match consumer {
                    Consumer::Notify => |b| &b.notify,
                    Consumer::Index => |b| &b.index,
                });
                tasks.push(worker::spawn_pump(
                    App::with_clients(consumer_clients.clone(), &config),
                    *consumer,
                    consumer_clients.sqs,
                    queue.url.clone(),
                    concurrency.clone(),
                ));
            }
        }
        let streams = aws_sdk_dynamodbstreams::Client::new(&shared::app::local_sdk_config(
            &dynamodb_endpoint,
        ));
        let pipe_clients = recorded(|b| &b.pipe);
        let pipe = Pipe::new(
            pipe_clients.dynamo,
            match &background_calls {
                Some(background) => background.pipe.attach_streams(&streams),
                None => streams,
            },
            pipe_clients.sqs,
            &config.table_name,
            queues
                .values()
                .map(|q| (q.id.clone(), q.url.clone()))
                .collect(),
            pipe_settings,
        );
        let pipe = match &faults {
            Some(switch) => pipe.stopped_by(switch.pipe_running()),
            None => pipe,
        };
        if run_pipe {
            tasks.push(pipe::spawn(pipe.clone()));
        }
        if let Some(interval) = sweep_every {
            let sweep = App::with_clients(recorded(|b| &b.sweep), &config);
            tasks.push(worker::spawn_sweeper(sweep, interval));
        }
        Ok(Self {
            address,
            clients,
            queues,
            app,
            config,
            auth,
            created,
            pipe,
            sockets,
            faults,
            tasks,
        })
    }
}

impl LocalStack {
    /// Each consumer's queue URL, as a function's environment names them.
    pub fn queue_urls(&self) -> BTreeMap<Consumer, String> {
        urls(&self.queues)
    }
}

fn urls(queues: &BTreeMap<Consumer, Queues>) -> BTreeMap<Consumer, String> {
    queues.iter().map(|(c, q)| (*c, q.url.clone())).collect()
}

/// Creates the table, waiting for DynamoDB Local to answer.
async fn ensure_table(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    template: &Template,
) -> Result<bool, StackError> {
    let deadline = tokio::time::Instant::now() + DYNAMODB_WAIT;
    loop {
        match resources::ensure_table(dynamo, table, template).await {
            Ok(created) => return Ok(created),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::info!(error = %e, "waiting for DynamoDB Local");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_config_reads_what_a_lambda_reads_and_defaults_the_rest() {
        let config = local_config_from(|name| {
            [("RELEASE_WINDOW_DAYS", "3"), ("TABLE_NAME", "")]
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        assert_eq!(config.release_window, chrono::Duration::days(3));
        assert_eq!(config.table_name, "marketplace-local");
        assert_eq!(config.redrive_delay, Duration::from_secs(30));
        assert!(config.queue_urls.is_empty());
    }
}
