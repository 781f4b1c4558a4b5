use crate::App;
use crate::domain::{ApplicationId, Bid, JobId};
use crate::http::{ApiError, ListQuery, caller, json, json_body, list, path_id};
use crate::time;
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

type Answer = Result<Response<Body>, ApiError>;

fn job_id(req: &Request) -> Result<JobId, ApiError> {
    path_id(req, "job_id", JobId::parse).ok_or(ApiError::JobNotFound)
}

/// `POST /jobs/{job_id}/applications`
pub async fn apply(app: App, req: Request) -> Answer {
    let freelancer = caller(&req)?;
    let bid = Bid::parse(&json_body(&req)?).map_err(ApiError::Validation)?;
    let id = job_id(&req)?;
    let now = time::now();
    let job = app.store.job(id).await?.ok_or(ApiError::JobNotFound)?;
    job.check_may_apply(&freelancer, now)?;
    let application = bid.into_application(job.job_id, freelancer, now);
    let events = app.store.apply(&job, &application).await?;
    tracing::info!(job_id = %job.job_id, application_id = %application.application_id, "applied");
    app.publisher.publish(&app.store, &events, now).await;
    // No Location: an application has no URL of its own to GET.
    Ok(json(StatusCode::CREATED, &application))
}

/// `GET /jobs/{job_id}/applications`: the owner only.
pub async fn list_applications(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let page = ListQuery::only(&req)?;
    let id = job_id(&req)?;
    let job = app.store.job(id).await?.ok_or(ApiError::JobNotFound)?;
    if !job.is_owned_by(&user) {
        return Err(crate::domain::Rejection::NotJobOwner.into());
    }
    let scope = format!("applications:{id}");
    let start = app.cursors.start(&scope, page.cursor.as_deref())?;
    let found = app.store.list_applications(id, page.limit, start).await?;
    Ok(list(&found.items, app.cursors.next(&scope, found.next)))
}

/// `POST /jobs/{job_id}/applications/{application_id}/withdraw`
pub async fn withdraw_application(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let id = job_id(&req)?;
    let application_id = path_id(&req, "application_id", ApplicationId::parse)
        .ok_or(ApiError::ApplicationNotFound)?;
    let now = time::now();
    let Some(application) = app.store.application(id, application_id).await? else {
        return Err(match app.store.job(id).await? {
            None => ApiError::JobNotFound,
            Some(_) => ApiError::ApplicationNotFound,
        });
    };
    application.check_may_withdraw(&user)?;
    let application = app.store.withdraw(&application, &user, now).await?;
    tracing::info!(job_id = %id, application_id = %application_id, "application withdrawn");
    Ok(json(StatusCode::OK, &application))
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
    let now = time::now();
    let (job, application) =
        tokio::try_join!(app.store.job(id), app.store.application(id, application_id))?;
    let job = job.ok_or(ApiError::JobNotFound)?;
    let application = application.ok_or(ApiError::ApplicationNotFound)?;
    let hired = app.store.hire(job, application, &owner, now).await?;
    tracing::info!(
        job_id = %hired.job.job_id,
        application_id = %hired.application.application_id,
        contract_id = %hired.contract.contract_id,
        job_status = hired.job.status.as_str(),
        "hired"
    );
    app.publisher.publish(&app.store, &hired.events, now).await;
    Ok(json(StatusCode::OK, &hired))
}
