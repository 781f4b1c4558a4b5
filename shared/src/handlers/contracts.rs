//! Escrow contracts and a job's audit trail.

use super::jobs::job_id;
use super::{Answer, ok};
use crate::App;
use crate::domain::transitions::ChangeContract;
use crate::domain::{Contract, ContractAction, ContractId, Rejection, UserId};
use crate::http::{ApiError, ListQuery, caller, json, path_id};
use crate::time;
use http::StatusCode;
use lambda_http::Request;

/// The contract, if the caller is a party to it; anyone else is told it does not exist.
async fn party_contract(app: &App, req: &Request) -> Result<(UserId, Contract), ApiError> {
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
    let (caller, contract) = party_contract(&app, &req).await?;
    let change = ChangeContract {
        contract,
        action,
        caller,
        release_window: app.release_window,
    };
    let (contract, response) = app.commit(change, ok).await?;
    tracing::info!(contract_id = %contract.contract_id, job_id = %contract.job_id, status = contract.status.as_str(), "contract changed");
    Ok(response)
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
    let listing = app
        .cursors
        .listing(format!("my-contracts:{user}"), ListQuery::only(&req)?)?;
    let found = app
        .store
        .contracts_of(&user, listing.limit, listing.start.clone())
        .await?;
    let now = time::now();
    Ok(listing.answer(found.map(|c| c.as_of(now))))
}

/// `GET /jobs/{job_id}/events`: every state change, oldest first; the owner and the hired
/// freelancers only.
pub async fn list_job_events(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let id = job_id(&req)?;
    let listing = app
        .cursors
        .listing(format!("job-events:{id}"), ListQuery::only(&req)?)?;
    let job = app.store.job(id).await?.ok_or(ApiError::JobNotFound)?;
    if !job.is_owned_by(&user) && !app.store.is_hired_on(id, &user).await? {
        return Err(Rejection::NotJobParty.into());
    }
    let found = app
        .store
        .job_events(id, listing.limit, listing.start.clone())
        .await?;
    Ok(listing.answer(found))
}
