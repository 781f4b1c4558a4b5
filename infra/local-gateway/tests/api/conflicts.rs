//! Hires that meet conflicts and lost answers, injected by `fixtures::FaultInjector` since
//! DynamoDB Local produces neither.

use shared::store::keys;
use std::sync::atomic::Ordering;
use test_kit::{Fault, app_with_faults, job_with_application};
use test_kit::{TestApp, key, n, s, str_of};

/// The hire answered is the one hire in the table: the job filled once, one contract, the
/// answer's.
async fn assert_hired_once(app: &TestApp, job_id: &str, hired: &serde_json::Value) {
    assert_eq!(hired["job"]["status"], "filled");
    let contracts = app.contracts().await;
    assert_eq!(contracts.len(), 1);
    assert_eq!(
        hired["contract"]["contract_id"],
        s(&contracts[0], "contract_id").as_str()
    );
    let job = app.job_item(job_id).await;
    assert_eq!(
        (s(&job, "status"), n(&job, "hired_count")),
        ("filled".into(), 1)
    );
}

#[tokio::test]
async fn a_hire_cancelled_by_conflicts_is_retried_to_the_right_outcome() {
    let (app, injector) = app_with_faults(Fault::Conflict).await;
    let (job_id, application_id) = job_with_application(&app).await;
    injector.remaining.store(3, Ordering::SeqCst);
    let before = injector.transactions.load(Ordering::SeqCst);

    let hired = app
        .hire("alice", &job_id, &application_id)
        .await
        .expect(200);

    assert_eq!(
        injector.remaining.load(Ordering::SeqCst),
        0,
        "all conflicts were hit"
    );
    assert_eq!(
        injector.transactions.load(Ordering::SeqCst) - before,
        4,
        "3 conflicts, then the commit"
    );
    assert_hired_once(&app, &job_id, &hired).await;
}

#[tokio::test]
async fn conflicts_that_outlast_the_retries_are_503_and_change_nothing() {
    let (app, injector) = app_with_faults(Fault::Conflict).await;
    let (job_id, application_id) = job_with_application(&app).await;
    injector.remaining.store(1_000, Ordering::SeqCst);
    let before = app.items().await;

    let reply = app.hire("alice", &job_id, &application_id).await;

    reply.expect_problem(503, "SERVICE_UNAVAILABLE");
    assert!(
        injector.remaining.load(Ordering::SeqCst) > 990,
        "retries are bounded"
    );
    assert_eq!(app.items().await, before);
    injector.remaining.store(0, Ordering::SeqCst);
    app.hire("alice", &job_id, &application_id)
        .await
        .expect(200);
}

/// A hire that committed but whose answer was lost, more often than the SDK's own retries
/// cover, is sent again with the same `ClientRequestToken`: DynamoDB answers the retry with
/// the first commit's success instead of running it again, which the job's conditions would
/// refuse as `JOB_NOT_OPEN`.
#[tokio::test]
async fn a_hire_whose_commit_answer_is_lost_is_retried_idempotently() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let (job_id, application_id) = job_with_application(&app).await;
    injector.remaining.store(4, Ordering::SeqCst);
    let before = injector.transactions.load(Ordering::SeqCst);

    let hired = app
        .hire("alice", &job_id, &application_id)
        .await
        .expect(200);

    assert_eq!(injector.remaining.load(Ordering::SeqCst), 0);
    assert!(
        injector.transactions.load(Ordering::SeqCst) - before > 4,
        "the hire was sent again after every lost answer"
    );
    assert_hired_once(&app, &job_id, &hired).await;
    assert_eq!(
        app.items_with_sk(keys::EVENT_SK_PREFIX).await.len(),
        5,
        "job created, applied, hired, contract created, job filled: each once"
    );
}

/// A hire starved by conflicts while another hire fills the job lost the race: it hears 409
/// like every other loser, not 503.
#[tokio::test]
async fn a_hire_starved_by_conflicts_after_the_job_filled_is_409() {
    let (app, injector) = app_with_faults(Fault::Conflict).await;
    let (job_id, starved) = job_with_application(&app).await;
    let winner = str_of(&app.apply(&job_id, "carol", 800).await, "application_id");
    injector.remaining.store(1_000, Ordering::SeqCst);
    injector.open.send_replace(false);
    let before = injector.transactions.load(Ordering::SeqCst);

    let starved_hire = app.hire("alice", &job_id, &starved);
    let winning_hire = async {
        // The starved hire's first try is held in flight while another hire commits through
        // clients without faults; then its conflicts run out.
        while injector.transactions.load(Ordering::SeqCst) == before {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let store = &app.app.store;
        let id = shared::domain::JobId::parse(&job_id).unwrap();
        let application_id = shared::domain::ApplicationId::parse(&winner).unwrap();
        let (job, application) = (
            store.job(id).await.unwrap().unwrap(),
            store
                .application(id, application_id)
                .await
                .unwrap()
                .unwrap(),
        );
        let hire = shared::domain::transitions::Hire {
            job,
            application,
            caller: shared::domain::UserId::parse("alice").unwrap(),
        };
        let hired = store.run(hire).await.expect("the other hire commits");
        injector.open.send_replace(true);
        hired
    };
    let (reply, _) = tokio::join!(starved_hire, winning_hire);

    reply.expect_problem(409, "JOB_NOT_OPEN");
    assert_eq!(reply.body["current_status"], "filled");
    let contracts = app.contracts().await;
    assert_eq!(contracts.len(), 1);
    assert_eq!(s(&contracts[0], "application_id"), winner);
    let starved_item = app
        .item(&key::job(&job_id), &key::application(&starved))
        .await
        .unwrap();
    assert_eq!(s(&starved_item, "status"), "pending");
}

/// Every answer lost, more often than all the retries cover: the hire committed on its first
/// try, and its contract says so, so the caller hears 200 and not the 409 its own commit
/// would make every retry's conditions answer.
#[tokio::test]
async fn a_hire_committed_but_never_acknowledged_is_still_200() {
    let (app, injector) = app_with_faults(Fault::LostResponse).await;
    let (job_id, application_id) = job_with_application(&app).await;
    injector.remaining.store(1_000, Ordering::SeqCst);

    let hired = app
        .hire("alice", &job_id, &application_id)
        .await
        .expect(200);

    assert!(injector.remaining.load(Ordering::SeqCst) < 1_000);
    assert_hired_once(&app, &job_id, &hired).await;
}
