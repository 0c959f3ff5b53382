//! The reading view: one item inside the reader at `/items/{number}`, with its whole
//! (sanitized) description, author, media players, read and star buttons, the link to the
//! original, and the previous and next items of the list it was opened from.
//!
//! # Addresses
//! An item is addressed by its item number ([`middletier_api::item_number`]), the number
//! sync apps know it by: short, the same across refreshes, stores and middle tiers, and
//! answered by the middle tier for the signed-in user only, so another user's number is a
//! plain 404 that says nothing about whether it exists. The list it was opened from follows
//! as the river's own query (`?feed=…&category=…&filter=…&before=…`), so previous and next
//! are that list's neighbours, worked out from the same river page the list showed.
//!
//! # Marking read
//! Opening an item marks it read, as opening the original does, unless the user turned that
//! off in their preferences, the address says
//! `keep_unread=1` (the read and star buttons return with it, so "Mark unread" sticks), or
//! the request came from another site (a link elsewhere must not change reading state).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use askama::Template;
use askama_web::WebTemplate;
use middletier_api::{Item, ItemStateChange, River, RiverItem};

use super::WebState;
use super::items::{FeedLinks, ItemView, View};
use super::reader::{RiverParams, from_this_site, home_link, river_query};
use crate::accounts::{CurrentUser, Viewer};
use crate::upstream::RiverOutcome;

#[derive(Debug, Default, Deserialize)]
pub(super) struct ReadingParams {
    feed: Option<String>,
    category: Option<String>,
    filter: Option<String>,
    before: Option<String>,
    /// `1`: show the item without marking it read.
    keep_unread: Option<String>,
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "reading.html")]
struct ReadingPage<'a> {
    user: Viewer,
    item: ItemView<'a>,
    /// This page, where the read and star forms return (without marking read again).
    back: String,
    /// The list the item was opened from.
    list_href: String,
    /// The original opens in a new tab (the user's preference).
    new_tab: bool,
    previous: Option<String>,
    next: Option<String>,
}

/// `GET /items/{number}`: the reading view (see the module documentation).
pub(super) async fn read_item(
    State(state): State<WebState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(number): Path<String>,
    Query(params): Query<ReadingParams>,
) -> Response {
    let not_found = || {
        let message = "There is no such item in your feeds.".to_owned();
        home_link(user.viewer(), StatusCode::NOT_FOUND, message)
    };
    let Ok(number) = number.parse::<u64>() else {
        return not_found();
    };
    let keep_unread = params.keep_unread.as_deref() == Some("1");
    let view = RiverParams {
        feed: params.feed,
        category: params.category,
        filter: params.filter,
        before: params.before,
    }
    .view();
    let view = match view {
        Ok(view) => view,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    // The item and its list's page at once: the page only gives the neighbours.
    let query = river_query(&view, user.preferences.items_per_page);
    let (found, river) = tokio::join!(
        state.upstream.item_by_number(&user.name, number),
        state.upstream.river(&user.name, &query)
    );
    let found = match found {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(error) => {
            let message = format!(
                "The item can't be shown right now: {error}. Please try again in a moment."
            );
            let page = home_link(user.viewer(), StatusCode::SERVICE_UNAVAILABLE, message);
            return (error.retry_after_header(), page).into_response();
        }
    };
    let Some(content) = found.content else {
        return not_found();
    };
    let mut entry = RiverItem {
        feed_title: found.feed_title.unwrap_or_else(|| found.feed_url.clone()),
        feed_url: found.feed_url,
        item: Item {
            read: found.read,
            starred: found.starred,
            ..content
        },
        number: Some(number),
    };
    let mark_on_open = user.preferences.mark_read_on_open && !keep_unread;
    if mark_on_open && !entry.item.read && from_this_site(&headers) {
        let change = ItemStateChange {
            feed: entry.feed_url.clone(),
            item: entry.item.id.clone(),
            read: Some(true),
            starred: None,
        };
        // Reading matters more than the bookkeeping: a failure only costs the unread mark.
        match state.upstream.set_item_state(&user.name, &change).await {
            Ok(_) => entry.item.read = true,
            Err(error) => tracing::warn!(%error, "opening an item did not mark it read"),
        }
    }
    let river = match &river {
        RiverOutcome::Fresh(river) | RiverOutcome::Stale { river, .. } => Some(&**river),
        RiverOutcome::Unavailable { .. } => None,
    };
    let (previous, next) = neighbours(river, number, &view);
    let icon = river.and_then(|river| {
        river
            .feeds
            .iter()
            .find(|feed| feed.url == entry.feed_url)
            .and_then(|feed| feed.icon.as_deref())
    });
    let href = view.item_href(number);
    let separator = if href.contains('?') { '&' } else { '?' };
    ReadingPage {
        user: user.viewer(),
        new_tab: user.preferences.open_in_new_tab,
        back: format!("{href}{separator}keep_unread=1"),
        list_href: view.href(),
        previous,
        next,
        item: ItemView::new(
            &entry,
            &FeedLinks::new(&entry.feed_url, icon),
            &view,
            &state.sanitized,
        ),
    }
    .into_response()
}

/// The reading views of the items before and after item `number` in `river` (its list's
/// page). After the page's last item comes the list's next page; an item the page does not
/// hold (read since, in the unread list) has no neighbours.
fn neighbours(river: Option<&River>, number: u64, view: &View) -> (Option<String>, Option<String>) {
    let Some(river) = river else {
        return (None, None);
    };
    let Some(at) = river
        .items
        .iter()
        .position(|entry| entry.number == Some(number))
    else {
        return (None, None);
    };
    let reading = |entry: &RiverItem| entry.number.map(|number| view.item_href(number));
    let previous = at
        .checked_sub(1)
        .and_then(|before| river.items.get(before))
        .and_then(reading);
    let next = match river.items.get(at + 1) {
        Some(entry) => reading(entry),
        None => river.next.as_ref().map(|cursor| {
            View {
                before: Some(cursor.clone()),
                ..view.clone()
            }
            .href()
        }),
    };
    (previous, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn river(numbers: &[u64], next: Option<&str>) -> River {
        River {
            items: numbers
                .iter()
                .map(|&number| RiverItem {
                    feed_url: "https://a.example/feed".to_owned(),
                    feed_title: "A".to_owned(),
                    item: Item {
                        id: number.to_string(),
                        title: String::new(),
                        link: None,
                        description: String::new(),
                        published: None,
                        read: false,
                        starred: false,
                        author: None,
                        enclosures: Vec::new(),
                    },
                    number: Some(number),
                })
                .collect(),
            next: next.map(str::to_owned),
            user: "ann".to_owned(),
            unread: 0,
            feeds: Vec::new(),
        }
    }

    #[test]
    fn neighbours_are_the_list_pages_items_around_it_then_the_next_page() {
        let view = View::default();
        let page = river(&[30, 20, 10], Some("c1"));
        assert_eq!(
            neighbours(Some(&page), 20, &view),
            (Some("/items/30".to_owned()), Some("/items/10".to_owned()))
        );
        assert_eq!(
            neighbours(Some(&page), 10, &view),
            (Some("/items/20".to_owned()), Some("/?before=c1".to_owned()))
        );
        assert_eq!(neighbours(Some(&page), 30, &view).0, None);
        assert_eq!(neighbours(Some(&page), 99, &view), (None, None));
        assert_eq!(neighbours(None, 20, &view), (None, None));
    }
}
