//! Demo data for `make dev`: jobs by alice and carol to find (skills, budgets in USD and EUR,
//! posted over the last three days, titles sharing words such as "developer", "website",
//! "logo", "api" and "migration"), and a freelancer, bob, who applied to alice's first.

use serde_json::json;
use shared::App;
use shared::domain::transitions::{Apply, CreateJob};
use shared::domain::{Bid, JobId, NewJob, UserId};
use shared::time;

pub const DEMO_USERS: [&str; 3] = ["alice", "bob", "carol"];

pub async fn demo(app: &App) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let now = time::now();
    let bob = UserId::parse("bob").ok_or("bad demo user")?;
    // Each a `POST /jobs` body (NewJob ignores fields it does not know) with its owner and
    // how many minutes ago it was posted. Bob applies to the first.
    let jobs = [
        json!({"owner": "alice", "minutes_ago": 5, "title": "Design a logo for a bakery", "description": "Warm, hand-drawn feel.", "budget_cents": 50_000, "skills": ["design", "figma"]}),
        json!({"owner": "alice", "minutes_ago": 10, "title": "Build a landing page", "description": "Static site, three sections.", "budget_cents": 120_000, "openings": 2, "skills": ["react", "design"]}),
        json!({"owner": "carol", "minutes_ago": 30, "title": "Rust developer for a payments API", "description": "Extend our Axum API: refunds, webhooks and tests.", "budget_cents": 800_000, "skills": ["rust", "aws", "sql"]}),
        json!({"owner": "alice", "minutes_ago": 60, "title": "Logo and brand colours for a coffee shop", "description": "A logo, a palette and a one-page style guide.", "budget_cents": 40_000, "skills": ["design", "figma"]}),
        json!({"owner": "carol", "minutes_ago": 95, "title": "Migrate our website from WordPress to Next.js", "description": "About 40 pages; keep every URL. React developer wanted.", "budget_cents": 350_000, "skills": ["react", "node.js", "seo"]}),
        json!({"owner": "alice", "minutes_ago": 140, "title": "C++ developer: speed up an image pipeline", "description": "Profile and optimise a C++ library; SIMD welcome.", "budget_cents": 900_000, "skills": ["c++"]}),
        json!({"owner": "carol", "minutes_ago": 180, "title": "Write ten blog posts about remote work", "description": "Writing in plain English, 1,200 words each, with SEO titles.", "budget_cents": 60_000, "skills": ["writing", "seo"]}),
        json!({"owner": "alice", "minutes_ago": 240, "title": "Database migration from MySQL to PostgreSQL", "description": "Migrate schema and data with no downtime; SQL review included.", "budget_cents": 450_000, "skills": ["sql", "aws"]}),
        json!({"owner": "carol", "minutes_ago": 300, "title": "Unity game developer (C#)", "description": "Small 2D puzzle game: levels, menus and a store page.", "budget_cents": 700_000, "currency": "EUR", "skills": ["c#", "design"]}),
        json!({"owner": "alice", "minutes_ago": 380, "title": "Python script to clean a CSV export", "description": "Dedupe customers and fix dates; a small one-off job.", "budget_cents": 5_000, "skills": ["python"]}),
        json!({"owner": "carol", "minutes_ago": 460, "title": "Node.js API for a booking website", "description": "REST API with auth, bookings and email reminders; Postgres behind it.", "budget_cents": 600_000, "skills": ["node.js", "sql", "aws"]}),
        json!({"owner": "alice", "minutes_ago": 560, "title": "Figma prototype for a mobile banking app", "description": "Twelve screens, clickable, with a small design system.", "budget_cents": 250_000, "currency": "EUR", "skills": ["figma", "design"]}),
        json!({"owner": "carol", "minutes_ago": 660, "title": "SEO audit of an online shop website", "description": "Technical SEO, page speed and a prioritised list of fixes.", "budget_cents": 80_000, "skills": ["seo", "writing"]}),
        json!({"owner": "alice", "minutes_ago": 780, "title": "AWS migration of a Django app", "description": "Move from a VPS to AWS (ECS, RDS); Python developer with Terraform.", "budget_cents": 1_200_000, "skills": ["aws", "python", "sql"]}),
        json!({"owner": "carol", "minutes_ago": 900, "title": "React developer for a dashboard", "description": "Charts and tables over our existing API; TypeScript.", "budget_cents": 300_000, "skills": ["react", "node.js"]}),
        json!({"owner": "alice", "minutes_ago": 1050, "title": "Logo for a Rust conference", "description": "A crab is optional. Vector files and a favicon.", "budget_cents": 30_000, "currency": "EUR", "skills": ["design", "rust"]}),
        json!({"owner": "carol", "minutes_ago": 1200, "title": "Embedded Rust developer for a sensor board", "description": "no_std firmware on an STM32; drivers for two sensors.", "budget_cents": 2_000_000, "skills": ["rust", "c++"]}),
        json!({"owner": "alice", "minutes_ago": 1400, "title": "Technical writing: API documentation", "description": "Document our REST API for developers: guides and a reference.", "budget_cents": 150_000, "skills": ["writing"]}),
        json!({"owner": "carol", "minutes_ago": 1600, "title": "Website redesign for a bakery", "description": "New design in Figma, then a React build; keep our SEO.", "budget_cents": 450_000, "skills": ["design", "figma", "react", "seo"]}),
        json!({"owner": "alice", "minutes_ago": 1850, "title": "SQL reporting queries for sales data", "description": "Monthly and weekly reports; views in PostgreSQL.", "budget_cents": 90_000, "skills": ["sql"]}),
        json!({"owner": "carol", "minutes_ago": 2100, "title": ".NET developer: C# API migration to .NET 8", "description": "Upgrade an ASP.NET API and its tests; deploy on AWS.", "budget_cents": 550_000, "currency": "EUR", "skills": ["c#", "aws"]}),
        json!({"owner": "alice", "minutes_ago": 2400, "title": "Python developer for a data scraping tool", "description": "Scrape public listings daily into SQL; retries and logs.", "budget_cents": 200_000, "skills": ["python", "sql"]}),
        json!({"owner": "carol", "minutes_ago": 2800, "title": "Logo animation for a website header", "description": "A short Lottie animation of our logo.", "budget_cents": 45_000, "skills": ["design"]}),
        json!({"owner": "alice", "minutes_ago": 3200, "title": "Rust CLI to migrate config files", "description": "Read YAML, write TOML, keep comments; a small developer tool.", "budget_cents": 120_000, "skills": ["rust"]}),
        json!({"owner": "carol", "minutes_ago": 3600, "title": "Copywriting for a SaaS website", "description": "Home, pricing and three feature pages; writing with SEO in mind.", "budget_cents": 100_000, "currency": "EUR", "skills": ["writing", "seo"]}),
        json!({"owner": "alice", "minutes_ago": 4000, "title": "Full-stack developer: React and Node.js marketplace", "description": "A long-term job; API, website and AWS deployment.", "budget_cents": 1_500_000, "skills": ["react", "node.js", "aws", "sql"]}),
    ];
    for (i, body) in jobs.iter().enumerate() {
        let owner = body["owner"]
            .as_str()
            .and_then(UserId::parse)
            .ok_or("bad demo user")?;
        let minutes_ago = body["minutes_ago"].as_i64().ok_or("minutes_ago")?;
        let body = body.as_object().ok_or("demo job is not an object")?;
        let new_job = NewJob::parse(body, now).map_err(|e| format!("demo job invalid: {e:?}"))?;
        // Posted some time ago, so `sort`, `posted_after` and `posted_before` show something.
        let at = now - chrono::Duration::minutes(minutes_ago);
        let job = new_job.into_job(JobId::at(at), owner, at);
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
