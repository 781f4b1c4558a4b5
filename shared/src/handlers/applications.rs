use super::jobs::job_id;
use super::{Answer, ok};
use crate::App;
use crate::domain::transitions::{Apply, Hire, Withdraw};
use crate::domain::{ApplicationId, ApplicationStatus, Bid, JobStatus, Rejection};
use crate::http::{ApiError, ListQuery, caller, json, json_body, path_id};
use crate::metrics;
use http::StatusCode;
use lambda_http::Request;
use serde_json::Value;

/// `POST /jobs/{job_id}/applications`
pub async fn apply(app: App, req: Request) -> Answer {
    let freelancer = caller(&req)?;
    let bid = Bid::parse(&json_body(&req)?).map_err(ApiError::Validation)?;
    let id = job_id(&req)?;
    let job = app.store.job(id).await?.ok_or(ApiError::JobNotFound)?;
    // No Location: an application has no URL of its own to GET.
    let apply = Apply {
        job,
        freelancer,
        bid,
    };
    let (application, response) = app.commit(apply, |a| json(StatusCode::CREATED, a)).await?;
    tracing::info!(job_id = %id, application_id = %application.application_id, "applied");
    Ok(response)
}

/// `GET /jobs/{job_id}/applications`: the owner only.
pub async fn list_applications(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let id = job_id(&req)?;
    let listing = app
        .cursors
        .listing(format!("applications:{id}"), ListQuery::only(&req)?)?;
    let job = app.store.job(id).await?.ok_or(ApiError::JobNotFound)?;
    if !job.is_owned_by(&user) {
        return Err(Rejection::NotJobOwner.into());
    }
    let found = app
        .store
        .list_applications(id, listing.limit, listing.start.clone())
        .await?;
    Ok(listing.answer(found))
}

/// `POST /jobs/{job_id}/applications/{application_id}/withdraw`
pub async fn withdraw_application(app: App, req: Request) -> Answer {
    let caller = caller(&req)?;
    let id = job_id(&req)?;
    let application_id = path_id(&req, "application_id", ApplicationId::parse)
        .ok_or(ApiError::ApplicationNotFound)?;
    let (job, application) = app.store.job_and_application(id, application_id).await?;
    let application = match (job, application) {
        (None, _) => return Err(ApiError::JobNotFound),
        (Some(_), None) => return Err(ApiError::ApplicationNotFound),
        (Some(_), Some(application)) => application,
    };
    let (_, response) = app
        .commit(
            Withdraw {
                application,
                caller,
            },
            ok,
        )
        .await?;
    tracing::info!(job_id = %id, application_id = %application_id, "application withdrawn");
    Ok(response)
}

/// `POST /jobs/{job_id}/hire {"application_id"}`: §4 of the design.
pub async fn hire(app: App, req: Request) -> Answer {
    let owner = caller(&req)?;
    let body = json_body(&req)?;
    let application_id = match body.get("application_id") {
        Some(Value::String(raw)) => ApplicationId::parse(raw)
            .ok_or_else(|| ApiError::validation("application_id", "must be an application id"))?,
        None | Some(Value::Null) => {
            return Err(ApiError::validation("application_id", "is required"));
        }
        Some(_) => return Err(ApiError::validation("application_id", "must be a string")),
    };
    let id = job_id(&req)?;
    let (job, application) = app.store.job_and_application(id, application_id).await?;
    let job = job.ok_or(ApiError::JobNotFound)?;
    let application = application.ok_or(ApiError::ApplicationNotFound)?;
    let hire = Hire {
        job,
        application,
        caller: owner,
    };
    let (hired, response) = app.commit(hire, ok).await.inspect_err(|e| {
        // Lost to another hire: the job filled, or this application hired already. A job
        // cancelled or expired meanwhile is no lost race.
        if let ApiError::Rejected(
            Rejection::JobNotOpen(JobStatus::Filled)
            | Rejection::ApplicationNotPending(ApplicationStatus::Hired),
        ) = e
        {
            metrics::count("HiresLost", 1);
        }
    })?;
    metrics::count("HiresWon", 1);
    tracing::info!(
        job_id = %hired.job.job_id,
        application_id = %hired.application.application_id,
        contract_id = %hired.contract.contract_id,
        job_status = hired.job.status.as_str(),
        "hired"
    );
    Ok(response)
}
