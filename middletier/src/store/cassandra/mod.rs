//! Subscriptions in Apache Cassandra, through the scylla driver (Astyanax's role in the recipe).
//!
//! Data model (designed by query; CQL in `middletier/schema/cassandra/`, applied in order at
//! start-up and recorded in `schema_version`):
//! - `subscriptions_by_user ((user_id), url, added_at)`: one partition per user holds the whole
//!   subscription list, read in one request per page view.
//! - `subscribers_by_feed ((url), user_id)`: the same relation from the feed's side, written in
//!   the same logged batch; its partition keys are the feeds that need refreshing.
//! - `feeds_by_url ((url), ...)`: the feed cache: the current document, validators, status and
//!   schedule.
//! - The item history, every partition bounded: `items_by_feed_month ((feed_url, month),
//!   item_id)` (content), `item_index_by_feed ((feed_url), item_id)` (what a page pages
//!   through) and `item_postings_by_feed ((feed_url, term), time desc, item_id)` (search,
//!   newest first; a term is a word or a pair of adjacent words, which phrases are looked up
//!   by), written with each save and removed together by retention.
//! - `item_marks_by_user_month ((user_id, month), feed_url, item_id)`, listed by
//!   `mark_months_by_user ((user_id), month)`, and `read_watermarks_by_user ((user_id),
//!   feed_url)`: per-user reading state, a few partition reads per page view.
//! - `accounts ((user_id))` and `sessions ((token_hash))`, the latter written with a TTL;
//!   `preferences ((user_id))`, each user's reading preferences as JSON.
//! - `app_passwords_by_user ((user_id), id)` (the truth, listed on the settings page) and the
//!   lookup tables `app_passwords_by_secret ((secret_hash))` and `app_passwords_by_fever
//!   ((fever_hash))`, each hash claimed with a lightweight transaction.
//! - `icon_sources ((source))` and `icons ((hash))`: feed icons, found by the refresher and
//!   stored once by content hash.
//!
//! Every read decodes what it reads. A middle tier keeps the feeds page views read decoded in
//! front of this store ([`FeedCache`](super::FeedCache)), revalidating them with the small
//! version read this store offers ([`FeedVersions`](super::FeedVersions)).
//!
//! Connection is resilient: [`CassandraStore::start`] returns at once and connects in the
//! background with capped exponential backoff, reporting `STARTING` health until the schema is
//! ready; afterwards a probe keeps health `UP`/`DOWN` in step with Cassandra, and the driver
//! reconnects by itself. Requests made while Cassandra is unreachable fail fast with
//! [`StoreError::Unavailable`] (503), never with wrong data.
//!
//! # Layout
//! - `settings`: the `[cassandra]` settings ([`CassandraSettings`]).
//! - `connect`: connecting in the background, health probes.
//! - `schema`: the versioned CQL files, applied at start-up; `upgrade`: the data migrations
//!   (the item blobs and per-user marks of earlier versions into the history, the search index
//!   into newest-first postings, the word pairs of items stored before pairs were indexed),
//!   some of its steps.
//! - `statements`: every CQL statement the store runs, prepared once per session; `batches`:
//!   same-partition writes in bounded unlogged batches.
//! - One file per table family, each implementing its store trait: `subscriptions`
//!   (`subscriptions_by_user`, `subscribers_by_feed`), `feeds` (`feeds_by_url`), `history`
//!   (`items_by_feed_month`, `item_index_by_feed`), `terms` and `search` (`item_postings_by_feed`:
//!   written, read), `reading`
//!   (`item_marks_by_user_month`, `mark_months_by_user`, `read_watermarks_by_user`),
//!   `accounts` (`accounts`, `sessions`, `preferences`), `app_passwords` (the three `app_passwords_by_*`),
//!   `icons` (`icon_sources`, `icons`).

mod accounts;
mod app_passwords;
mod batches;
mod connect;
mod feeds;
mod history;
mod icons;
mod reading;
mod schema;
mod search;
mod settings;
mod statements;
mod subscriptions;
mod terms;
mod upgrade;

use std::sync::{Arc, OnceLock};

use scylla::client::session::Session;
use scylla::response::query_result::QueryRowsResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;

pub use settings::{CassandraSettings, ConsistencyLevel};

use super::StoreError;

/// A logged batch (`Batch` has no `Debug`).
struct Logged(Batch);

impl std::fmt::Debug for Logged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Logged(batch)")
    }
}

/// A live session with the statements prepared once (their CQL is in `statements`).
#[derive(Debug)]
struct Connected {
    session: Session,
    select_all: PreparedStatement,
    select_one: PreparedStatement,
    /// Logged batches: the two sides of a subscription change together or not at all.
    subscribe: Logged,
    unsubscribe: Logged,
    select_subscribers: PreparedStatement,
    select_feed: PreparedStatement,
    insert_feed: PreparedStatement,
    delete_feed: PreparedStatement,
    scan_subscribed: PreparedStatement,
    scan_schedule: PreparedStatement,
    feed_version: PreparedStatement,
    history_changed: PreparedStatement,
    select_categorized: PreparedStatement,
    select_mark_months: PreparedStatement,
    insert_mark_month: PreparedStatement,
    select_month_marks: PreparedStatement,
    select_month_feed_marks: PreparedStatement,
    select_watermarks: PreparedStatement,
    select_watermark: PreparedStatement,
    mark_read: PreparedStatement,
    mark_starred: PreparedStatement,
    copy_mark: PreparedStatement,
    set_watermark: PreparedStatement,
    set_category: PreparedStatement,
    set_title: PreparedStatement,
    delete_mark: PreparedStatement,
    clear_marks: PreparedStatement,
    clear_watermark: PreparedStatement,
    select_index: PreparedStatement,
    select_index_ids: PreparedStatement,
    insert_index: PreparedStatement,
    delete_index: PreparedStatement,
    insert_item: PreparedStatement,
    select_items: PreparedStatement,
    delete_item: PreparedStatement,
    insert_posting: PreparedStatement,
    select_postings: PreparedStatement,
    select_postings_of: PreparedStatement,
    delete_posting: PreparedStatement,
    insert_account: PreparedStatement,
    select_account: PreparedStatement,
    update_password_hash: PreparedStatement,
    insert_session: PreparedStatement,
    select_session: PreparedStatement,
    delete_session: PreparedStatement,
    select_user_sessions: PreparedStatement,
    insert_app_password: PreparedStatement,
    claim_secret: PreparedStatement,
    claim_fever: PreparedStatement,
    select_app_passwords: PreparedStatement,
    select_app_password: PreparedStatement,
    select_by_secret: PreparedStatement,
    select_by_fever: PreparedStatement,
    delete_app_password: PreparedStatement,
    release_secret: PreparedStatement,
    release_fever: PreparedStatement,
    touch_app_password: PreparedStatement,
    select_icon_source: PreparedStatement,
    insert_icon_source: PreparedStatement,
    insert_icon: PreparedStatement,
    select_icon: PreparedStatement,
    select_preferences: PreparedStatement,
    insert_preferences: PreparedStatement,
}

/// The store on Cassandra: cheap to clone (every clone shares one session).
#[derive(Clone, Debug)]
pub struct CassandraStore {
    /// Set once the session is up and the schema ready; until then every call fails fast.
    connected: Arc<OnceLock<Connected>>,
}

impl CassandraStore {
    fn connection(&self) -> Result<&Connected, StoreError> {
        self.connected
            .get()
            .ok_or_else(|| StoreError::Unavailable("not connected to Cassandra yet".to_owned()))
    }
}

fn query_failed(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// Whether a lightweight transaction was applied. Its answer is `[applied]` alone when it
/// was, and `[applied]` followed by the row in the way when it was not.
fn applied(result: &QueryRowsResult) -> bool {
    result
        .rows::<(bool,)>()
        .ok()
        .and_then(|mut rows| rows.next())
        .and_then(Result::ok)
        .is_some_and(|(applied,)| applied)
}

/// Runs `statement` for one page and reads its rows: the shape of every read here.
async fn query_rows(
    session: &Session,
    statement: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<QueryRowsResult, StoreError> {
    session
        .execute_unpaged(statement, values)
        .await
        .map_err(query_failed)?
        .into_rows_result()
        .map_err(query_failed)
}
