//! Escrow contracts and a job's audit trail.

use crate::App;
use crate::domain::{ContractAction, ContractId, JobId, Rejection};
use crate::http::{ApiError, ListQuery, caller, json, list, path_id};
use crate::time;
use http::StatusCode;
use lambda_http::{Body, Request, Response};

type Answer = Result<Response<Body>, ApiError>;

/// The contract, if the caller is a party to it; anyone else is told it does not exist.
async fn party_contract(
    app: &App,
    req: &Request,
) -> Result<(crate::domain::UserId, crate::domain::Contract), ApiError> {
    let user = caller(req)?;
    let id = path_id(req, "contract_id", ContractId::parse).ok_or(ApiError::ContractNotFound)?;
    let contract = app
        .store
        .contract(id)
        .await?
        .filter(|c| c.is_party(&user))
        .ok_or(ApiError::ContractNotFound)?;
    Ok((user, contract))
}

/// `GET /contracts/{contract_id}`
pub async fn get_contract(app: App, req: Request) -> Answer {
    let (_, contract) = party_contract(&app, &req).await?;
    Ok(json(StatusCode::OK, &contract.as_of(time::now())))
}

async fn transition(app: App, req: Request, action: ContractAction) -> Answer {
    let (user, contract) = party_contract(&app, &req).await?;
    let now = time::now();
    contract.check(action, &user, now)?;
    let (contract, events) = app
        .store
        .transition_contract(&contract, action, &user, now, app.release_window)
        .await?;
    tracing::info!(contract_id = %contract.contract_id, job_id = %contract.job_id, status = contract.status.as_str(), "contract changed");
    app.publisher.publish(&app.store, &events, now).await;
    Ok(json(StatusCode::OK, &contract))
}

/// `POST /contracts/{contract_id}/fund`: `created → funded`.
pub async fn fund_contract(app: App, req: Request) -> Answer {
    transition(app, req, ContractAction::Fund).await
}

/// `POST /contracts/{contract_id}/release`: `funded → released`, before the deadline.
pub async fn release_contract(app: App, req: Request) -> Answer {
    transition(app, req, ContractAction::Release).await
}

/// `POST /contracts/{contract_id}/refund`: `funded → refunded`, before the deadline.
pub async fn refund_contract(app: App, req: Request) -> Answer {
    transition(app, req, ContractAction::Refund).await
}

/// `GET /me/contracts?limit=&cursor=`: as owner or freelancer, newest first.
pub async fn list_my_contracts(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let page = ListQuery::only(&req)?;
    let scope = format!("my-contracts:{user}");
    let start = app.cursors.start(&scope, page.cursor.as_deref())?;
    let found = app.store.contracts_of(&user, page.limit, start).await?;
    let now = time::now();
    let items: Vec<_> = found.items.into_iter().map(|c| c.as_of(now)).collect();
    Ok(list(&items, app.cursors.next(&scope, found.next)))
}

/// `GET /jobs/{job_id}/events`: every state change, oldest first; the owner and the hired
/// freelancers only.
pub async fn list_job_events(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let page = ListQuery::only(&req)?;
    let id = path_id(&req, "job_id", JobId::parse).ok_or(ApiError::JobNotFound)?;
    let job = app.store.job(id).await?.ok_or(ApiError::JobNotFound)?;
    if !job.is_owned_by(&user) && !app.store.is_hired_on(id, &user).await? {
        return Err(Rejection::NotJobParty.into());
    }
    let scope = format!("job-events:{id}");
    let start = app.cursors.start(&scope, page.cursor.as_deref())?;
    let found = app.store.job_events(id, page.limit, start).await?;
    Ok(list(&found.items, app.cursors.next(&scope, found.next)))
}
