//! The caller's own things: inbox and applications.

use super::Answer;
use crate::App;
use crate::domain::transitions::MarkRead;
use crate::domain::{EventId, Fields};
use crate::http::{ApiError, ListQuery, caller, json, path_id, query_param};
use http::StatusCode;
use lambda_http::Request;

/// `GET /me/notifications?unread=true&limit=&cursor=`
pub async fn list_notifications(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let mut fields = Fields::new();
    let unread = fields.check(
        "unread",
        match query_param(&req, "unread").as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err("must be true or false".to_owned()),
        },
    );
    let page = ListQuery::parse(&req, &mut fields);
    let (unread, page) = fields
        .finish(|| Some((unread?, page?)))
        .map_err(ApiError::Validation)?;
    let listing = app
        .cursors
        .listing(format!("notifications:{user}:unread={unread}"), page)?;
    let found = app
        .store
        .notifications(&user, unread, listing.limit, listing.start.clone())
        .await?;
    Ok(listing.answer(found))
}

/// `POST /me/notifications/{notification_id}/read`
pub async fn read_notification(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let id =
        path_id(&req, "notification_id", EventId::parse).ok_or(ApiError::NotificationNotFound)?;
    let notification = app
        .store
        .notification(&user, id)
        .await?
        .ok_or(ApiError::NotificationNotFound)?;
    let notification = app.commit(MarkRead { notification }).await?;
    Ok(json(StatusCode::OK, &notification))
}

/// `GET /me/applications?limit=&cursor=`
pub async fn list_my_applications(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let listing = app
        .cursors
        .listing(format!("my-applications:{user}"), ListQuery::only(&req)?)?;
    let found = app
        .store
        .applications_of(&user, listing.limit, listing.start.clone())
        .await?;
    Ok(listing.answer(found))
}
