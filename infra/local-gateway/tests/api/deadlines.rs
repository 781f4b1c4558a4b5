//! Races at a deadline: a release or refund against the contract's expiry, a hire against
//! the job's, fired at fixed offsets from the deadline while sweeps run around it.

use futures::future::join_all;
use shared::handlers::sweep::SweepReport;
use shared::store::keys;
use shared::time;
use std::collections::BTreeMap;
use test_kit::{Reply, TestApp, key, s, spawn_app, spawn_app_with_stream};
use test_kit::{act, funded_contract, job_with_application};

#[tokio::test]
async fn release_and_refund_racing_end_in_one_terminal_state() {
    let app = spawn_app().await;
    let id = funded_contract(&app).await;
    let replies = join_all((0..30).map(|i| {
        act(
            &app,
            "alice",
            &id,
            if i % 2 == 0 { "release" } else { "refund" },
        )
    }))
    .await;
    let terminal = one_terminal_state(&app, &id, &replies.iter().collect::<Vec<_>>()).await;
    assert_ne!(terminal, "expired");
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(r.body["current_status"], terminal.as_str());
    }
}

/// A deadline as the store sees it (wall clock, to the millisecond) and the same moment on
/// the test's clock, so calls and sweeps can be scheduled at a known distance from it.
#[derive(Clone, Copy)]
struct Deadline {
    at: time::Timestamp,
    instant: tokio::time::Instant,
}

impl Deadline {
    /// `ms` from now. Truncated to the millisecond the store keeps, so anything run at an
    /// offset of 0 or more finds the deadline passed.
    fn in_ms(ms: i64) -> Self {
        use chrono::SubsecRound;
        let now = Self {
            at: time::now().trunc_subsecs(3),
            instant: tokio::time::Instant::now(),
        };
        now.later(ms)
    }

    /// The moment `ms` after this one (before it, if negative).
    fn later(self, ms: i64) -> Self {
        let step = std::time::Duration::from_millis(ms.unsigned_abs());
        Self {
            at: self.at + chrono::Duration::milliseconds(ms),
            instant: if ms < 0 {
                self.instant - step
            } else {
                self.instant + step
            },
        }
    }

    fn stamp(self) -> String {
        time::format(self.at)
    }

    /// Runs `task` at `offset_ms` from the deadline (before it, if negative).
    async fn run_at<F: Future>(self, offset_ms: i64, task: F) -> F::Output {
        tokio::time::sleep_until(self.later(offset_ms).instant).await;
        task.await
    }
}

/// The offsets of `count` events `gap` ms apart, the first at `first`.
fn burst(first: i64, gap: i64, count: i64) -> Vec<i64> {
    (0..count).map(|i| first + i * gap).collect()
}

async fn sweep_now(app: &TestApp) -> SweepReport {
    app.sweep_at(time::now()).await
}

/// Fires every call, the owner's release or refund by turns, at its offset from its
/// contract's deadline, while each sweeper sweeps at its offsets; all at once. Returns the
/// replies, in the order of `calls`, and how many contracts were expired, counting one last
/// sweep once every deadline has passed.
async fn race(
    app: &TestApp,
    calls: &[(&str, Deadline, i64)],
    sweepers: &[Vec<(Deadline, i64)>],
) -> (Vec<Reply>, usize) {
    let replies = join_all(
        calls
            .iter()
            .enumerate()
            .map(|(i, &(id, deadline, offset))| {
                let action = if i % 2 == 0 { "release" } else { "refund" };
                deadline.run_at(offset, act(app, "alice", id, action))
            }),
    );
    let sweeps = join_all(sweepers.iter().map(|rounds| async move {
        let mut expired = 0;
        for &(deadline, offset) in rounds {
            expired += deadline
                .run_at(offset, sweep_now(app))
                .await
                .expired_contracts;
        }
        expired
    }));
    let (replies, expired) = tokio::join!(replies, sweeps);
    let last_deadline = calls
        .iter()
        .map(|&(_, deadline, _)| deadline)
        .max_by_key(|d| d.instant)
        .expect("at least one call");
    let last = last_deadline.run_at(1, sweep_now(app)).await;
    (
        replies,
        expired.iter().sum::<usize>() + last.expired_contracts,
    )
}

/// Checks a contract after a race: it ended in exactly one terminal state, recorded as one
/// `funded -> X` transition; one caller succeeded unless it expired, and every other was
/// refused with the state it found (the final one, or the expiry it saw before any sweep
/// landed). Returns the terminal state.
async fn one_terminal_state(app: &TestApp, id: &str, replies: &[&Reply]) -> String {
    let stored = app.contract_item(id).await;
    let status = s(&stored, "status");
    assert!(
        ["released", "refunded", "expired"].contains(&status.as_str()),
        "{id}: {status}"
    );
    let moves: Vec<String> = app
        .items_with_sk(keys::EVENT_SK_PREFIX)
        .await
        .iter()
        .filter(|e| {
            s(e, "entity") == "contract"
                && s(e, "entity_id") == id
                && s(e, "from_status") == "funded"
        })
        .map(|e| s(e, "to_status"))
        .collect();
    assert_eq!(
        moves,
        [status.as_str()],
        "{id}: one terminal transition recorded"
    );
    let succeeded = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        succeeded,
        usize::from(status != "expired"),
        "{id} ended {status}: {replies:#?}"
    );
    for r in replies {
        if r.status == 200 {
            assert_eq!(r.body["status"], status.as_str(), "{r:#?}");
        } else {
            r.expect_problem(409, "INVALID_TRANSITION");
            let found = r.body["current_status"].as_str().unwrap_or_default();
            assert!(
                found == status || found == "expired",
                "{id} ended {status}: {r:#?}"
            );
        }
    }
    status
}

/// A fresh funded contract raced by callers and by single concurrent sweeps at the given
/// offsets from its deadline; returns its terminal state once the invariants are checked.
async fn race_one(app: &TestApp, calls: &[i64], sweeps: &[i64]) -> String {
    let id = funded_contract(app).await;
    let deadline = Deadline::in_ms(300);
    app.set_release_deadline(&id, &deadline.stamp()).await;
    let calls: Vec<_> = calls.iter().map(|&o| (id.as_str(), deadline, o)).collect();
    let sweepers: Vec<_> = sweeps.iter().map(|&o| vec![(deadline, o)]).collect();
    let (replies, expired) = race(app, &calls, &sweepers).await;
    let status = one_terminal_state(app, &id, &replies.iter().collect::<Vec<_>>()).await;
    assert_eq!(
        expired,
        usize::from(status == "expired"),
        "one expiry, if any"
    );
    status
}

#[tokio::test]
async fn release_racing_expiry_at_the_deadline_ends_in_one_terminal_state() {
    let app = spawn_app().await;
    // Eight callers in a burst that starts 30 ms before the deadline, then a little later each
    // time until it starts at the deadline, while six sweeps run around it: the earliest
    // bursts tend to win, the latest cannot, and in between the two truly race. The
    // invariants hold whoever wins.
    let mut outcomes = BTreeMap::new();
    for first in (-30..=0).step_by(3) {
        let status = race_one(&app, &burst(first, 4, 8), &[-10, -4, 0, 2, 5, 10]).await;
        *outcomes.entry(status).or_insert(0) += 1;
    }
    eprintln!("at the deadline: {outcomes:?}");
    // Both branches, for certain: well before the deadline the first call wins, clearly
    // after it every caller is refused, whether the sweep came first or not.
    assert_eq!(race_one(&app, &[-600], &[100, 200]).await, "released");
    assert_eq!(
        race_one(&app, &[100, 150, 250, 300], &[200]).await,
        "expired"
    );
}

/// When a contract's callers come, relative to its own deadline.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Timing {
    WellBefore,
    AtDeadline,
    WellAfter,
}

impl Timing {
    fn of(contract: usize) -> Self {
        [Self::WellBefore, Self::AtDeadline, Self::WellAfter][contract % 3]
    }

    /// The offsets from the deadline, in ms, of the contract's two callers.
    fn callers(self) -> [i64; 2] {
        match self {
            Self::WellBefore => [-800, -700],
            Self::AtDeadline => [-10, 5],
            Self::WellAfter => [150, 300],
        }
    }
}

#[tokio::test]
async fn ten_contracts_twenty_callers_three_sweeps_one_outcome_each_and_one_notice_per_party() {
    let app = spawn_app_with_stream().await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(funded_contract(&app).await);
    }
    // Each contract has its own deadline, 50 ms after the previous one's, and two callers
    // that come well before it, right at it or well after it. Three sweepers sweep at once
    // around every deadline that callers race, then once after the last caller.
    let first = Deadline::in_ms(1_100);
    let deadlines: Vec<Deadline> = (0..10).map(|k| first.later(50 * k)).collect();
    join_all(
        ids.iter()
            .zip(&deadlines)
            .map(|(id, d)| async { app.set_release_deadline(id, &d.stamp()).await }),
    )
    .await;
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let k = i % ids.len();
            (
                ids[k].as_str(),
                deadlines[k],
                Timing::of(k).callers()[i / ids.len()],
            )
        })
        .collect();
    let sweepers: Vec<Vec<_>> = [-5, 0, 5]
        .into_iter()
        .map(|offset| {
            (0..ids.len())
                .filter(|&k| Timing::of(k) == Timing::AtDeadline)
                .map(|k| (deadlines[k], offset))
                .chain([(deadlines[ids.len() - 1], 350)])
                .collect()
        })
        .collect();
    let (replies, expired) = race(&app, &calls, &sweepers).await;
    app.drain_queue().await;

    let (bob, alice) = (app.inbox("bob").await, app.inbox("alice").await);
    let mut outcomes = BTreeMap::new();
    for (k, id) in ids.iter().enumerate() {
        let own: Vec<&Reply> = replies.iter().skip(k).step_by(ids.len()).collect();
        let status = one_terminal_state(&app, id, &own).await;
        match Timing::of(k) {
            Timing::WellBefore => assert_ne!(status, "expired", "{id}"),
            Timing::WellAfter => assert_eq!(status, "expired", "{id}"),
            Timing::AtDeadline => {}
        }
        *outcomes.entry(status.clone()).or_insert(0) += 1;
        let terminal = format!("contract_{status}");
        let notices = |inbox: &[test_kit::Item]| {
            inbox
                .iter()
                .filter(|n| {
                    s(n, "contract_id") == *id
                        && !["contract_funded", "hired"].contains(&s(n, "type").as_str())
                })
                .inspect(|n| assert_eq!(s(n, "type"), terminal))
                .count()
        };
        assert_eq!(
            notices(&bob),
            1,
            "{id}: the freelancer hears of {status} once"
        );
        let owner_expected = usize::from(status == "expired");
        assert_eq!(
            notices(&alice),
            owner_expected,
            "{id}: the owner hears only of expiry"
        );
    }
    eprintln!("outcomes: {outcomes:?}");
    assert_eq!(expired, outcomes.get("expired").copied().unwrap_or(0));
    assert!(outcomes.contains_key("expired"), "{outcomes:?}");
    assert!(
        outcomes.contains_key("released") || outcomes.contains_key("refunded"),
        "{outcomes:?}"
    );
}

/// A fresh one-opening job with one applicant, hired at `hires` and swept at `sweeps` (ms
/// from its expiry), all at once, and swept once more after it. It ends either filled or
/// expired, never both; returns which.
async fn hire_racing_expiry(app: &TestApp, hires: &[i64], sweeps: &[i64]) -> String {
    let (job_id, application_id) = job_with_application(app).await;
    let earliest = hires.iter().chain(sweeps).copied().min().unwrap_or(0);
    let deadline = Deadline::in_ms(300 - earliest.min(0));
    app.set_deadline(
        &key::job(&job_id),
        keys::JOB_SK,
        "expires_at",
        &job_id,
        &deadline.stamp(),
    )
    .await;
    let hire = || app.hire("alice", &job_id, &application_id);
    let (replies, sweeps) = tokio::join!(
        join_all(hires.iter().map(|&o| deadline.run_at(o, hire()))),
        join_all(sweeps.iter().map(|&o| deadline.run_at(o, sweep_now(app)))),
    );
    let last = deadline.run_at(1, sweep_now(app)).await;

    let job = app.job_item(&job_id).await;
    let status = s(&job, "status");
    let hired = replies.iter().filter(|r| r.status == 200).count();
    for r in replies.iter().filter(|r| r.status != 200) {
        // Never APPLICATION_NOT_PENDING: a job no longer open wins. A loser may have seen
        // the job expired just before a hire that began in time committed.
        r.expect_problem(409, "JOB_NOT_OPEN");
        let found = r.body["current_status"].as_str().unwrap_or_default();
        assert!(found == status || found == "expired", "{status}: {r:#?}");
    }
    let expired: usize = sweeps.iter().chain([&last]).map(|r| r.expired_jobs).sum();
    let contracts = app.contracts_of_job(&job_id).await;
    match status.as_str() {
        "filled" => assert_eq!((hired, expired, contracts), (1, 0, 1)),
        "expired" => assert_eq!((hired, expired, contracts), (0, 1, 0)),
        other => panic!("impossible final status {other}"),
    }
    status
}

#[tokio::test]
async fn a_hire_racing_the_job_expiry_is_either_hired_or_expired_never_both() {
    let app = spawn_app().await;
    // Four hires in a burst that starts 20 ms before the expiry, then a little later each
    // time until it starts at the expiry, while five sweeps run around it.
    let mut outcomes = BTreeMap::new();
    for first in (-20..=0).step_by(4) {
        let status = hire_racing_expiry(&app, &burst(first, 6, 4), &[-8, -2, 0, 3, 8]).await;
        *outcomes.entry(status).or_insert(0) += 1;
    }
    eprintln!("at the expiry: {outcomes:?}");
    // Both branches, for certain: well before the expiry a hire wins, well after none can.
    assert_eq!(
        hire_racing_expiry(&app, &[-600, -550, -500], &[100, 200]).await,
        "filled"
    );
    assert_eq!(
        hire_racing_expiry(&app, &[100, 150, 250], &[50, 200]).await,
        "expired"
    );
}
