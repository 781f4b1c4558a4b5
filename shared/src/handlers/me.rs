//! The caller's own things: inbox and applications.

use crate::App;
use crate::domain::{EventId, Fields};
use crate::http::{ApiError, ListQuery, caller, json, list, path_id, query_param};
use http::StatusCode;
use lambda_http::{Body, Request, Response};

type Answer = Result<Response<Body>, ApiError>;

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
    let scope = format!("notifications:{user}:unread={unread}");
    let start = app.cursors.start(&scope, page.cursor.as_deref())?;
    let found = app
        .store
        .notifications(&user, unread, page.limit, start)
        .await?;
    Ok(list(&found.items, app.cursors.next(&scope, found.next)))
}

/// `POST /me/notifications/{notification_id}/read`
pub async fn read_notification(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let id =
        path_id(&req, "notification_id", EventId::parse).ok_or(ApiError::NotificationNotFound)?;
    let notification = app
        .store
        .mark_read(&user, id)
        .await?
        .ok_or(ApiError::NotificationNotFound)?;
    Ok(json(StatusCode::OK, &notification))
}

/// `GET /me/applications?limit=&cursor=`
pub async fn list_my_applications(app: App, req: Request) -> Answer {
    let user = caller(&req)?;
    let page = ListQuery::only(&req)?;
    let scope = format!("my-applications:{user}");
    let start = app.cursors.start(&scope, page.cursor.as_deref())?;
    let found = app.store.applications_of(&user, page.limit, start).await?;
    Ok(list(&found.items, app.cursors.next(&scope, found.next)))
}
