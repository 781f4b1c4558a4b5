use super::{Answer, ok};
use crate::App;
use crate::domain::search::{SEARCH_PARAMETERS, SUGGEST_MAX_CHARS, SUGGEST_MIN_CHARS};
use crate::domain::transitions::{CancelJob, CreateJob};
use crate::domain::{Fields, JobId, JobSearch, JobStatus, NewJob};
use crate::http::{ApiError, ListQuery, caller, created, json, json_body, path_id, query_param};
use crate::time;
use http::StatusCode;
use lambda_http::Request;

pub(super) fn job_id(req: &Request) -> Result<JobId, ApiError> {
    path_id(req, "job_id", JobId::parse).ok_or(ApiError::JobNotFound)
}

/// `POST /jobs`
pub async fn create_job(app: App, req: Request) -> Answer {
    let owner = caller(&req)?;
    let now = time::now();
    let new_job = NewJob::parse(&json_body(&req)?, now).map_err(ApiError::Validation)?;
    let job = new_job.into_job(JobId::at(now), owner, now);
    let (job, response) = app
        .commit(CreateJob { job }, |job| {
            created(format!("/jobs/{}", job.job_id), job)
        })
        .await?;
    tracing::info!(job_id = %job.job_id, "job created");
    Ok(response)
}

/// `GET /jobs?status=&owner=me&limit=&cursor=` and the search of the open board
/// (`skill`, budgets, dates, `q`, `sort`; see `domain::search`).
pub async fn list_jobs(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let now = time::now();
    let mut fields = Fields::new();
    let status = fields.check(
        "status",
        match query_param(&req, "status") {
            None => Ok(JobStatus::Open),
            Some(raw) => JobStatus::parse(&raw)
                .ok_or_else(|| "must be one of open, filled, expired, cancelled".to_owned()),
        },
    );
    let mine = fields.check(
        "owner",
        match query_param(&req, "owner").as_deref() {
            None => Ok(false),
            Some("me") => Ok(true),
            Some(_) => Err("must be \"me\"".to_owned()),
        },
    );
    let search = JobSearch::parse(
        |name| query_param(&req, name),
        (mine == Some(true)).then(|| user.clone()),
        &mut fields,
    );
    if let (Some(status), Some(search)) = (status, &search)
        && status != JobStatus::Open
        && !search.is_plain()
    {
        for name in SEARCH_PARAMETERS {
            if query_param(&req, name).is_some() {
                fields.reject(name, "searches the open board: not with another status");
            }
        }
    }
    let page = ListQuery::parse(&req, &mut fields);
    let (status, mine, search, page) = fields
        .finish(|| Some((status?, mine?, search?, page?)))
        .map_err(ApiError::Validation)?;

    if !search.is_plain() {
        let listing = app.cursors.listing(search.scope(), page)?;
        let found = app
            .store
            .search_jobs(&search, listing.limit, listing.start.clone(), now)
            .await?;
        return Ok(listing.answer(found.map(|j| j.as_of(now))));
    }
    let owner = mine.then_some(&user);
    let scope = match owner {
        Some(o) => format!("jobs:{}:owner={o}", status.as_str()),
        None => format!("jobs:{}", status.as_str()),
    };
    let listing = app.cursors.listing(scope, page)?;
    let found = app
        .store
        .list_jobs(status, owner, listing.limit, listing.start.clone(), now)
        .await?;
    Ok(listing.answer(found.map(|j| j.as_of(now))))
}

/// `GET /jobs/suggest?q=`: skills and title words starting with `q`, by how many open jobs
/// use them. The same for every caller, so clients and CDNs may keep it a minute.
pub async fn suggest_jobs(app: App, req: Request) -> Answer {
    caller(&req)?;
    let mut fields = Fields::new();
    let prefix = fields.check("q", suggest_prefix(query_param(&req, "q")));
    let prefix = fields.finish(|| prefix).map_err(ApiError::Validation)?;
    let suggestions = app.store.suggest(&prefix).await?;
    let mut response = json(
        StatusCode::OK,
        &serde_json::json!({ "suggestions": suggestions }),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

fn suggest_prefix(raw: Option<String>) -> Result<String, String> {
    let prefix = raw.unwrap_or_default().trim().to_lowercase();
    let n = prefix.chars().count();
    if (SUGGEST_MIN_CHARS..=SUGGEST_MAX_CHARS).contains(&n) {
        Ok(prefix)
    } else {
        Err(format!(
            "must be {SUGGEST_MIN_CHARS} to {SUGGEST_MAX_CHARS} characters"
        ))
    }
}

/// `GET /jobs/{job_id}`: the owner also gets the applications.
pub async fn get_job(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let id = job_id(&req)?;
    let now = time::now();
    let job = app.store.job(id).await?.ok_or(ApiError::JobNotFound)?;
    if !job.is_owned_by(&user) {
        return Ok(json(StatusCode::OK, &job.as_of(now)));
    }
    let (job, applications) = app
        .store
        .job_with_applications(id)
        .await?
        .ok_or(ApiError::JobNotFound)?;
    let mut body =
        serde_json::to_value(job.as_of(now)).map_err(|e| ApiError::Internal(e.into()))?;
    body["applications"] =
        serde_json::to_value(applications).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(json(StatusCode::OK, &body))
}

/// `POST /jobs/{job_id}/cancel`
pub async fn cancel_job(app: App, req: Request) -> Answer {
    let caller = caller(&req)?;
    let id = job_id(&req)?;
    let job = app.store.job(id).await?.ok_or(ApiError::JobNotFound)?;
    let (job, response) = app.commit(CancelJob { job, caller }, ok).await?;
    tracing::info!(job_id = %job.job_id, version = job.version, "job cancelled");
    Ok(response)
}
