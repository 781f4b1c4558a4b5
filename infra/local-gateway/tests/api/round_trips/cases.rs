//! The cases the round-trips table measures: each a request, the outcome it must get and
//! the set-up that leads to it, written once. A row names its case by its static, so a
//! typo does not compile.

use super::Request::{self, Get, Post};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use test_kit::{TestApp, str_of};
use test_kit::{funded_contract, hired_contract, job_with_application, job_with_application_ids};

/// One request to measure: its endpoint as the template routes it, the outcome it must
/// get (the status, then the problem code the reply must carry, or a note on the case), and
/// the set-up, through the API, that leads to that outcome and names the request.
pub struct Case {
    pub endpoint: &'static str,
    pub outcome: &'static str,
    pub prepare: for<'a> fn(&'a TestApp) -> Pin<Box<dyn Future<Output = Request> + 'a>>,
}

pub static CREATE_JOB: Case = Case {
    endpoint: "POST /jobs",
    outcome: "201",
    prepare: |_| {
        Box::pin(async move {
            Post(
                "alice",
                "/jobs".into(),
                json!({"title": "Build a thing", "budget_cents": 100_000}),
            )
        })
    },
};

pub static LIST_JOBS: Case = Case {
    endpoint: "GET /jobs",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                job_with_application(app).await;
                Get("bob", "/jobs".into())
            }
        })
    },
};

/// A search of a discovery index: its four shards at once, then the page's jobs by key.
pub static SEARCH_JOBS: Case = Case {
    endpoint: "GET /jobs",
    outcome: "200 skill=rust&sort=budget_desc",
    prepare: |app| {
        Box::pin(async move {
            app.create_job("alice", json!({"skills": ["rust"]})).await;
            app.drain_queue().await;
            Get("bob", "/jobs?skill=rust&sort=budget_desc".into())
        })
    },
};

/// A filter the board's key cannot express: one Query, filtered after.
pub static SEARCH_BOARD: Case = Case {
    endpoint: "GET /jobs",
    outcome: "200 min_budget=1",
    prepare: |app| {
        Box::pin(async move {
            app.create_job("alice", json!({})).await;
            Get("bob", "/jobs?min_budget=1".into())
        })
    },
};

pub static SEARCH_INVALID: Case = Case {
    endpoint: "GET /jobs",
    outcome: "400 VALIDATION_FAILED",
    prepare: |_| Box::pin(async move { Get("bob", "/jobs?min_budget=5&max_budget=1".into()) }),
};

pub static SEARCH_OTHER_STATUS: Case = Case {
    endpoint: "GET /jobs",
    outcome: "400 a search of another status",
    prepare: |_| Box::pin(async move { Get("bob", "/jobs?status=filled&skill=rust".into()) }),
};

pub static SUGGEST: Case = Case {
    endpoint: "GET /jobs/suggest",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            app.create_job("alice", json!({"skills": ["rust"]})).await;
            app.drain_queue().await;
            Get("bob", "/jobs/suggest?q=rus".into())
        })
    },
};

pub static SUGGEST_SHORT: Case = Case {
    endpoint: "GET /jobs/suggest",
    outcome: "400 VALIDATION_FAILED",
    prepare: |_| Box::pin(async move { Get("bob", "/jobs/suggest?q=ru".into()) }),
};

pub static GET_JOB: Case = Case {
    endpoint: "GET /jobs/{job_id}",
    outcome: "200 anyone",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = job_with_application(app).await;
                Get("carol", format!("/jobs/{job}"))
            }
        })
    },
};

pub static GET_JOB_AS_OWNER: Case = Case {
    endpoint: "GET /jobs/{job_id}",
    outcome: "200 the owner",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = job_with_application(app).await;
                Get("alice", format!("/jobs/{job}"))
            }
        })
    },
};

pub static GET_JOB_MISSING: Case = Case {
    endpoint: "GET /jobs/{job_id}",
    outcome: "404 JOB_NOT_FOUND",
    prepare: |_| Box::pin(async move { Get("alice", format!("/jobs/{}", unknown())) }),
};

pub static CANCEL: Case = Case {
    endpoint: "POST /jobs/{job_id}/cancel",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = job_with_application(app).await;
                Post("alice", format!("/jobs/{job}/cancel"), json!({}))
            }
        })
    },
};

pub static CANCEL_CLOSED: Case = Case {
    endpoint: "POST /jobs/{job_id}/cancel",
    outcome: "409 JOB_NOT_OPEN",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = job_with_application(app).await;
                let path = format!("/jobs/{job}/cancel");
                app.post("alice", &path, json!({})).await.expect(200);
                Post("alice", path, json!({}))
            }
        })
    },
};

pub static CANCEL_MISSING: Case = Case {
    endpoint: "POST /jobs/{job_id}/cancel",
    outcome: "404 JOB_NOT_FOUND",
    prepare: |_| {
        Box::pin(async move { Post("alice", format!("/jobs/{}/cancel", unknown()), json!({})) })
    },
};

pub static APPLY: Case = Case {
    endpoint: "POST /jobs/{job_id}/applications",
    outcome: "201",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = job_with_application(app).await;
                Post("carol", format!("/jobs/{job}/applications"), bid())
            }
        })
    },
};

pub static APPLY_CLOSED: Case = Case {
    endpoint: "POST /jobs/{job_id}/applications",
    outcome: "409 JOB_NOT_OPEN",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = job_with_application(app).await;
                let cancel = format!("/jobs/{job}/cancel");
                app.post("alice", &cancel, json!({})).await.expect(200);
                Post("carol", format!("/jobs/{job}/applications"), bid())
            }
        })
    },
};

pub static APPLY_TWICE: Case = Case {
    endpoint: "POST /jobs/{job_id}/applications",
    outcome: "409 ALREADY_APPLIED",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = job_with_application(app).await;
                Post("bob", format!("/jobs/{job}/applications"), bid())
            }
        })
    },
};

pub static APPLY_MISSING: Case = Case {
    endpoint: "POST /jobs/{job_id}/applications",
    outcome: "404 JOB_NOT_FOUND",
    prepare: |_| {
        Box::pin(async move { Post("carol", format!("/jobs/{}/applications", unknown()), bid()) })
    },
};

pub static LIST_APPLICATIONS: Case = Case {
    endpoint: "GET /jobs/{job_id}/applications",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = job_with_application(app).await;
                Get("alice", format!("/jobs/{job}/applications"))
            }
        })
    },
};

pub static LIST_APPLICATIONS_MISSING: Case = Case {
    endpoint: "GET /jobs/{job_id}/applications",
    outcome: "404 JOB_NOT_FOUND",
    prepare: |_| Box::pin(async move { Get("alice", format!("/jobs/{}/applications", unknown())) }),
};

pub static WITHDRAW: Case = Case {
    endpoint: "POST /jobs/{job_id}/applications/{application_id}/withdraw",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, application) = job_with_application(app).await;
                Post("bob", withdraw(&job, &application), json!({}))
            }
        })
    },
};

pub static WITHDRAW_TWICE: Case = Case {
    endpoint: "POST /jobs/{job_id}/applications/{application_id}/withdraw",
    outcome: "409 APPLICATION_NOT_PENDING",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, application) = job_with_application(app).await;
                let path = withdraw(&job, &application);
                app.post("bob", &path, json!({})).await.expect(200);
                Post("bob", path, json!({}))
            }
        })
    },
};

pub static WITHDRAW_MISSING: Case = Case {
    endpoint: "POST /jobs/{job_id}/applications/{application_id}/withdraw",
    outcome: "404 JOB_NOT_FOUND",
    prepare: |app| {
        Box::pin(async move {
            {
                let (_, application) = job_with_application(app).await;
                Post("bob", withdraw(&unknown(), &application), json!({}))
            }
        })
    },
};

pub static HIRE_LAST_OPENING: Case = Case {
    endpoint: "POST /jobs/{job_id}/hire",
    outcome: "200 the last opening",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, application) = job_with_application(app).await;
                hire(&job, &application)
            }
        })
    },
};

pub static HIRE_OPENINGS_LEFT: Case = Case {
    endpoint: "POST /jobs/{job_id}/hire",
    outcome: "200 openings left",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, ids) = job_with_application_ids(app, 2, &["bob"]).await;
                hire(&job, &ids[0])
            }
        })
    },
};

pub static HIRE_FILLED: Case = Case {
    endpoint: "POST /jobs/{job_id}/hire",
    outcome: "409 JOB_NOT_OPEN",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, ids) = job_with_application_ids(app, 1, &["bob", "carol"]).await;
                app.hire("alice", &job, &ids[0]).await.expect(200);
                hire(&job, &ids[1])
            }
        })
    },
};

pub static HIRE_WITHDRAWN: Case = Case {
    endpoint: "POST /jobs/{job_id}/hire",
    outcome: "409 APPLICATION_NOT_PENDING",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, application) = job_with_application(app).await;
                let path = withdraw(&job, &application);
                app.post("bob", &path, json!({})).await.expect(200);
                hire(&job, &application)
            }
        })
    },
};

pub static HIRE_MISSING: Case = Case {
    endpoint: "POST /jobs/{job_id}/hire",
    outcome: "404 JOB_NOT_FOUND",
    prepare: |_| Box::pin(async move { hire(&unknown(), &unknown()) }),
};

pub static EVENTS_AS_OWNER: Case = Case {
    endpoint: "GET /jobs/{job_id}/events",
    outcome: "200 the owner",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = hired_contract(app).await;
                Get("alice", format!("/jobs/{job}/events"))
            }
        })
    },
};

pub static EVENTS_AS_HIRED: Case = Case {
    endpoint: "GET /jobs/{job_id}/events",
    outcome: "200 the hired freelancer",
    prepare: |app| {
        Box::pin(async move {
            {
                let (job, _) = hired_contract(app).await;
                Get("bob", format!("/jobs/{job}/events"))
            }
        })
    },
};

pub static EVENTS_MISSING: Case = Case {
    endpoint: "GET /jobs/{job_id}/events",
    outcome: "404 JOB_NOT_FOUND",
    prepare: |_| Box::pin(async move { Get("alice", format!("/jobs/{}/events", unknown())) }),
};

pub static MY_APPLICATIONS: Case = Case {
    endpoint: "GET /me/applications",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                job_with_application(app).await;
                Get("bob", "/me/applications".into())
            }
        })
    },
};

pub static MY_NOTIFICATIONS: Case = Case {
    endpoint: "GET /me/notifications",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                job_with_application(app).await;
                app.drain_queue().await;
                Get("alice", "/me/notifications".into())
            }
        })
    },
};

pub static READ: Case = Case {
    endpoint: "POST /me/notifications/{notification_id}/read",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                job_with_application(app).await;
                app.drain_queue().await;
                let inbox = app.get("alice", "/me/notifications").await.expect(200);
                let id = str_of(&inbox["items"][0], "notification_id");
                Post("alice", format!("/me/notifications/{id}/read"), json!({}))
            }
        })
    },
};

pub static READ_MISSING: Case = Case {
    endpoint: "POST /me/notifications/{notification_id}/read",
    outcome: "404 NOTIFICATION_NOT_FOUND",
    prepare: |_| {
        Box::pin(async move {
            Post(
                "alice",
                format!("/me/notifications/{}/read", unknown()),
                json!({}),
            )
        })
    },
};

pub static GET_CONTRACT: Case = Case {
    endpoint: "GET /contracts/{contract_id}",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                let (_, contract) = hired_contract(app).await;
                Get("bob", format!("/contracts/{contract}"))
            }
        })
    },
};

pub static GET_CONTRACT_MISSING: Case = Case {
    endpoint: "GET /contracts/{contract_id}",
    outcome: "404 CONTRACT_NOT_FOUND",
    prepare: |_| Box::pin(async move { Get("bob", format!("/contracts/{}", unknown())) }),
};

pub static FUND: Case = Case {
    endpoint: "POST /contracts/{contract_id}/fund",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                let (_, contract) = hired_contract(app).await;
                contract_action(&contract, "fund")
            }
        })
    },
};

pub static FUND_TWICE: Case = Case {
    endpoint: "POST /contracts/{contract_id}/fund",
    outcome: "409 INVALID_TRANSITION",
    prepare: |app| Box::pin(async move { contract_action(&funded_contract(app).await, "fund") }),
};

pub static FUND_MISSING: Case = Case {
    endpoint: "POST /contracts/{contract_id}/fund",
    outcome: "404 CONTRACT_NOT_FOUND",
    prepare: |_| Box::pin(async move { contract_action(&unknown(), "fund") }),
};

pub static RELEASE: Case = Case {
    endpoint: "POST /contracts/{contract_id}/release",
    outcome: "200",
    prepare: |app| Box::pin(async move { contract_action(&funded_contract(app).await, "release") }),
};

pub static RELEASE_UNFUNDED: Case = Case {
    endpoint: "POST /contracts/{contract_id}/release",
    outcome: "409 INVALID_TRANSITION",
    prepare: |app| {
        Box::pin(async move {
            {
                let (_, contract) = hired_contract(app).await;
                contract_action(&contract, "release")
            }
        })
    },
};

pub static RELEASE_MISSING: Case = Case {
    endpoint: "POST /contracts/{contract_id}/release",
    outcome: "404 CONTRACT_NOT_FOUND",
    prepare: |_| Box::pin(async move { contract_action(&unknown(), "release") }),
};

pub static REFUND: Case = Case {
    endpoint: "POST /contracts/{contract_id}/refund",
    outcome: "200",
    prepare: |app| Box::pin(async move { contract_action(&funded_contract(app).await, "refund") }),
};

pub static REFUND_UNFUNDED: Case = Case {
    endpoint: "POST /contracts/{contract_id}/refund",
    outcome: "409 INVALID_TRANSITION",
    prepare: |app| {
        Box::pin(async move {
            {
                let (_, contract) = hired_contract(app).await;
                contract_action(&contract, "refund")
            }
        })
    },
};

pub static REFUND_MISSING: Case = Case {
    endpoint: "POST /contracts/{contract_id}/refund",
    outcome: "404 CONTRACT_NOT_FOUND",
    prepare: |_| Box::pin(async move { contract_action(&unknown(), "refund") }),
};

pub static MY_CONTRACTS: Case = Case {
    endpoint: "GET /me/contracts",
    outcome: "200",
    prepare: |app| {
        Box::pin(async move {
            {
                hired_contract(app).await;
                Get("bob", "/me/contracts".into())
            }
        })
    },
};

/// An id no item has.
fn unknown() -> String {
    ulid::Ulid::generate().to_string()
}

fn withdraw(job: &str, application: &str) -> String {
    format!("/jobs/{job}/applications/{application}/withdraw")
}

fn bid() -> Value {
    json!({"bid_cents": 5_000, "message": "Pick me"})
}

fn hire(job: &str, application: &str) -> Request {
    Request::Post(
        "alice",
        format!("/jobs/{job}/hire"),
        json!({"application_id": application}),
    )
}

fn contract_action(contract: &str, action: &str) -> Request {
    Request::Post(
        "alice",
        format!("/contracts/{contract}/{action}"),
        json!({}),
    )
}
