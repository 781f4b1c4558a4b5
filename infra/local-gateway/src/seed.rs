//! Demo data for `make dev`: an owner with two jobs and a freelancer who applied to one.

use serde_json::json;
use shared::App;
use shared::domain::transitions::{Apply, CreateJob};
use shared::domain::{Bid, JobId, NewJob, UserId};
use shared::time;

pub const DEMO_USERS: [&str; 3] = ["alice", "bob", "carol"];

pub async fn demo(app: &App) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let now = time::now();
    let alice = UserId::parse("alice").ok_or("bad demo user")?;
    let bob = UserId::parse("bob").ok_or("bad demo user")?;
    let jobs = [
        json!({"title": "Design a logo for a bakery", "description": "Warm, hand-drawn feel.", "budget_cents": 50_000}),
        json!({"title": "Build a landing page", "description": "Static site, three sections.", "budget_cents": 120_000, "openings": 2}),
    ];
    for (i, body) in jobs.iter().enumerate() {
        let body = body.as_object().ok_or("demo job is not an object")?;
        let new_job = NewJob::parse(body, now).map_err(|e| format!("demo job invalid: {e:?}"))?;
        let job = new_job.into_job(JobId::generate(), alice.clone(), now);
        let job = app.store.run(CreateJob { job }).await?.answer;
        if i == 0 {
            let bid = Bid::parse(
                json!({"bid_cents": 45_000, "message": "I love bakeries."})
                    .as_object()
                    .ok_or("bid")?,
            )
            .map_err(|e| format!("demo bid invalid: {e:?}"))?;
            app.store
                .run(Apply {
                    job,
                    freelancer: bob.clone(),
                    bid,
                })
                .await?;
        }
    }
    Ok(())
}
