//! The fault schedule, drawn from the seed, and its injection. Two tracks run side by side:
//! the processes (DynamoDB Local paused and restarted, the SQS emulator paused and
//! restarted, the gateway killed) and the gateway's switches (throttling, conflicts, the
//! pipe stopped). Each track goes through every kind of its faults in a seeded order before
//! repeating one, so even a short run injects each at least once.

use crate::stack::{REDRIVE_DELAY_SECS, Service, Stack};
use crate::switch;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    PauseDynamoDb(Duration),
    RestartDynamoDb,
    /// Longer than the pollers' long poll.
    PauseSqs(Duration),
    RestartSqs,
    KillGateway,
    Throttle {
        rate: f64,
        for_: Duration,
    },
    Conflict {
        rate: f64,
        for_: Duration,
    },
    /// Longer than the redrive delay: the sweeper must deliver what the pipe does not.
    StopPipe(Duration),
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Self::PauseDynamoDb(_) => "dynamodb paused",
            Self::RestartDynamoDb => "dynamodb restarted",
            Self::PauseSqs(_) => "sqs paused",
            Self::RestartSqs => "sqs restarted",
            Self::KillGateway => "gateway killed",
            Self::Throttle { .. } => "throttling",
            Self::Conflict { .. } => "conflicts",
            Self::StopPipe(_) => "pipe stopped",
        }
    }

    /// How long the fault is meant to last (a restart: until the process answers again).
    fn planned(&self) -> Duration {
        match self {
            Self::PauseDynamoDb(d) | Self::PauseSqs(d) | Self::StopPipe(d) => *d,
            Self::Throttle { for_, .. } | Self::Conflict { for_, .. } => *for_,
            Self::RestartDynamoDb => Duration::from_secs(4),
            Self::RestartSqs | Self::KillGateway => Duration::from_secs(2),
        }
    }
}

/// A fault as it happened, from the run's start.
#[derive(Debug, Clone)]
pub struct Window {
    pub fault: Fault,
    pub start: Duration,
    pub end: Duration,
}

/// When each fault starts, from the load's start, on both tracks.
pub fn schedule(seed: u64, load: Duration) -> Vec<(Duration, Fault)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xfa_u64);
    // The last fifth of the load runs clean, so what a fault left behind settles under load.
    let active = load.mul_f64(0.8);
    let processes = |rng: &mut StdRng| {
        let mut kinds = vec![
            Fault::PauseDynamoDb(Duration::from_millis(rng.random_range(1_000..=5_000))),
            Fault::RestartDynamoDb,
            Fault::PauseSqs(Duration::from_millis(rng.random_range(6_000..=9_000))),
            Fault::RestartSqs,
            Fault::KillGateway,
        ];
        kinds.shuffle(rng);
        kinds
    };
    let switches = |rng: &mut StdRng| {
        let mut kinds = vec![
            Fault::Throttle {
                rate: rng.random_range(0.2..0.5),
                for_: Duration::from_millis(rng.random_range(3_000..=6_000)),
            },
            Fault::Conflict {
                rate: rng.random_range(0.2..0.5),
                for_: Duration::from_millis(rng.random_range(3_000..=6_000)),
            },
            Fault::StopPipe(Duration::from_secs(
                REDRIVE_DELAY_SECS + rng.random_range(2..=4),
            )),
        ];
        kinds.shuffle(rng);
        kinds
    };
    let mut all = Vec::new();
    for track in [&processes as &dyn Fn(&mut StdRng) -> Vec<Fault>, &switches] {
        let mut at = Duration::from_secs(3);
        let mut first = true;
        'track: loop {
            let round = track(&mut rng);
            let busy: Duration = round.iter().map(Fault::planned).sum();
            // Spread the first round over what is left of the active time (later rounds over
            // all of it), at least a second apart.
            let gap = active
                .saturating_sub(busy + if first { at } else { Duration::ZERO })
                .checked_div(round.len() as u32)
                .unwrap_or_default()
                .clamp(Duration::from_secs(1), Duration::from_secs(20));
            first = false;
            for fault in round {
                if at + fault.planned() > active {
                    break 'track;
                }
                let planned = fault.planned();
                all.push((at, fault));
                at += planned + gap.mul_f64(rng.random_range(0.5..1.0));
            }
        }
    }
    all.sort_by_key(|(at, _)| *at);
    all
}

/// Injects `schedule` on `stack` from `start`, recording each fault's window.
pub async fn inject(
    stack: Arc<tokio::sync::Mutex<Stack>>,
    schedule: Vec<(Duration, Fault)>,
    start: Instant,
    windows: Arc<Mutex<Vec<Window>>>,
) -> Result<(), String> {
    let http = reqwest::Client::new();
    let tracks: (Vec<_>, Vec<_>) = schedule.into_iter().partition(|(_, f)| {
        !matches!(
            f,
            Fault::Throttle { .. } | Fault::Conflict { .. } | Fault::StopPipe(_)
        )
    });
    let run_track = |track: Vec<(Duration, Fault)>| {
        let stack = stack.clone();
        let windows = windows.clone();
        let http = http.clone();
        async move {
            for (at, fault) in track {
                tokio::time::sleep_until(start + at).await;
                let began = start.elapsed();
                apply(&stack, &http, &fault).await?;
                windows.lock().unwrap().push(Window {
                    fault,
                    start: began,
                    end: start.elapsed(),
                });
            }
            Ok::<(), String>(())
        }
    };
    let (a, b) = tokio::join!(run_track(tracks.0), run_track(tracks.1));
    a.and(b)
}

/// Runs one fault to its end: everything is back when it returns.
async fn apply(
    stack: &tokio::sync::Mutex<Stack>,
    http: &reqwest::Client,
    fault: &Fault,
) -> Result<(), String> {
    let (api, at_rest) = {
        let stack = stack.lock().await;
        (stack.api(), stack.dynamodb_at_rest())
    };
    let switched = |state: serde_json::Value, for_: Duration, off: serde_json::Value| {
        let api = api.clone();
        async move {
            switch::set(http, &api, state).await?;
            tokio::time::sleep(for_).await;
            switch::set(http, &api, off).await
        }
    };
    match fault {
        Fault::PauseDynamoDb(d) | Fault::PauseSqs(d) => {
            let service = if matches!(fault, Fault::PauseSqs(_)) {
                Service::Sqs
            } else {
                Service::DynamoDb
            };
            stack.lock().await.pause(service)?;
            tokio::time::sleep(*d).await;
            stack.lock().await.resume(service)
        }
        Fault::RestartDynamoDb | Fault::RestartSqs => {
            let service = if *fault == Fault::RestartSqs {
                Service::Sqs
            } else {
                Service::DynamoDb
            };
            let stack = stack.lock().await;
            // The scripts wait for the service to answer: off the runtime's threads.
            tokio::task::block_in_place(|| stack.restart(service))
        }
        Fault::KillGateway => {
            let mut stack = stack.lock().await;
            stack.kill_gateway();
            tokio::time::sleep(Duration::from_millis(500)).await;
            stack.start_gateway().await
        }
        Fault::Throttle { rate, for_ } => {
            switched(
                json!({"dynamodb": "throttle", "rate": rate}),
                *for_,
                json!({"dynamodb": at_rest}),
            )
            .await
        }
        Fault::Conflict { rate, for_ } => {
            switched(
                json!({"dynamodb": "conflict", "rate": rate}),
                *for_,
                json!({"dynamodb": at_rest}),
            )
            .await
        }
        Fault::StopPipe(for_) => {
            switched(json!({"pipe": "stop"}), *for_, json!({"pipe": "run"})).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_its_schedule_and_another_seed_does_not() {
        let load = Duration::from_secs(120);
        assert_eq!(schedule(7, load), schedule(7, load));
        assert_ne!(schedule(7, load), schedule(8, load));
    }

    #[test]
    fn even_a_short_run_injects_every_kind_within_the_active_time() {
        for (seed, seconds) in (0..20).flat_map(|seed| [(seed, 45), (seed, 60)]) {
            let load = Duration::from_secs(seconds);
            let faults = schedule(seed, load);
            let kinds: std::collections::BTreeSet<_> =
                faults.iter().map(|(_, f)| f.name()).collect();
            assert_eq!(kinds.len(), 8, "seed {seed}: {kinds:?}");
            for (at, fault) in &faults {
                assert!(
                    *at + fault.planned() <= load.mul_f64(0.8),
                    "seed {seed}: {fault:?} at {at:?}"
                );
            }
        }
    }

    #[test]
    fn the_pipe_stays_stopped_longer_than_the_redrive_delay() {
        for seed in 0..20 {
            for (_, fault) in schedule(seed, Duration::from_secs(300)) {
                if let Fault::StopPipe(d) = fault {
                    assert!(d > Duration::from_secs(REDRIVE_DELAY_SECS));
                }
            }
        }
    }
}
