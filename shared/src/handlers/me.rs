//! The caller's own things: inbox and applications.

use super::{Answer, ok};
use crate::App;
use crate::domain::transitions::MarkRead;
use crate::domain::{EventId, Fields};
use crate::http::{ApiError, ListQuery, caller, list, path_id, query_param};
use lambda_http::Request;

/// `GET /me/notifications?unread=true&limit=&cursor=`: newest delivered first.
/// `?after=<position>`: what was delivered after that position, oldest first, to catch up.
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
    let after = fields.check(
        "after",
        match query_param(&req, "after") {
            None => Ok(None),
            Some(raw) => raw
                .parse::<u64>()
                .map(Some)
                .map_err(|_| "must be a position: an integer of 0 or more".to_owned()),
        },
    );
    let page = ListQuery::parse(&req, &mut fields);
    let (unread, after, page) = fields
        .finish(|| Some((unread?, after?, page?)))
        .map_err(ApiError::Validation)?;
    if let Some(after) = after {
        // Catching up continues from the last position seen, never from a cursor.
        if page.cursor.is_some() || unread {
            return Err(ApiError::validation(
                "after",
                "takes no cursor and no unread filter: ask again from the last position",
            ));
        }
        let items = app.store.delivered_after(&user, after, page.limit).await?;
        return Ok(list(&items, None));
    }
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
    let (_, response) = app.commit(MarkRead { notification }, ok).await?;
    Ok(response)
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
