//! Every CQL statement the store runs, prepared once per session: the one place to read what the
//! store asks of Cassandra, next to the tables in `middletier/schema/cassandra/`.

use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use super::{Connected, Logged};
use crate::store::StoreError;

/// The columns of `feeds_by_url`, in the order of `feeds::FeedRow` and of `insert_feed`'s values.
const FEED_COLUMNS: &str = "url, title, items, etag, last_modified, http_status, last_attempt, \
                            last_success, last_error, consecutive_errors, gone, next_refresh, \
                            first_seen, icon, icon_checked";

/// The columns of a mark in `item_marks_by_user_month`, in the order of `reading::MarkRow`.
const MARK_COLUMNS: &str = "item_id, read, starred, updated_at";

/// The columns of `app_passwords_by_user`, in the order of `app_passwords::Row`.
pub(super) const APP_PASSWORD_COLUMNS: &str =
    "user_id, id, name, secret_hash, fever_hash, created, last_used";

/// Prepares every statement on `session` (whose keyspace is set and schema up to date).
pub(super) async fn prepare(session: Session) -> Result<Connected, StoreError> {
    let unavailable = |what: &str, error: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("{what}: {error}"))
    };
    let prepare = |cql: &str| {
        let session = &session;
        let cql = cql.to_owned();
        async move {
            session
                .prepare(cql)
                .await
                .map_err(|e| unavailable("prepare", &e))
        }
    };
    let logged = |statements: [PreparedStatement; 2]| {
        let mut batch = Batch::new(BatchType::Logged);
        for statement in statements {
            batch.append_statement(statement);
        }
        batch
    };
    Ok(Connected {
        select_all: prepare("SELECT url, added_at FROM subscriptions_by_user WHERE user_id = ?")
            .await?,
        select_one: prepare(
            "SELECT added_at FROM subscriptions_by_user WHERE user_id = ? AND url = ?",
        )
        .await?,
        subscribe: Logged(logged([
            prepare("INSERT INTO subscriptions_by_user (user_id, url, added_at) VALUES (?, ?, ?)")
                .await?,
            prepare("INSERT INTO subscribers_by_feed (url, user_id) VALUES (?, ?)").await?,
        ])),
        unsubscribe: Logged(logged([
            prepare("DELETE FROM subscriptions_by_user WHERE user_id = ? AND url = ?").await?,
            prepare("DELETE FROM subscribers_by_feed WHERE url = ? AND user_id = ?").await?,
        ])),
        select_subscribers: prepare("SELECT user_id FROM subscribers_by_feed WHERE url = ?")
            .await?,
        select_feed: prepare(&format!(
            "SELECT {FEED_COLUMNS} FROM feeds_by_url WHERE url = ?"
        ))
        .await?,
        insert_feed: prepare(&format!(
            "INSERT INTO feeds_by_url ({FEED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .await?,
        delete_feed: prepare("DELETE FROM feeds_by_url WHERE url = ?").await?,
        scan_subscribed: prepare("SELECT DISTINCT url FROM subscribers_by_feed").await?,
        scan_schedule: prepare("SELECT url, next_refresh, gone FROM feeds_by_url").await?,
        feed_version: prepare(
            "SELECT last_attempt, history_changed FROM feeds_by_url WHERE url = ?",
        )
        .await?,
        // Only a feed with a stored state has a version to change (never create a bare row).
        history_changed: prepare(
            "UPDATE feeds_by_url SET history_changed = ? WHERE url = ? IF EXISTS",
        )
        .await?,
        select_categorized: prepare(
            "SELECT url, added_at, category, title FROM subscriptions_by_user WHERE user_id = ?",
        )
        .await?,
        select_mark_months: prepare("SELECT month FROM mark_months_by_user WHERE user_id = ?")
            .await?,
        insert_mark_month: prepare(
            "INSERT INTO mark_months_by_user (user_id, month) VALUES (?, ?)",
        )
        .await?,
        select_month_marks: prepare(&format!(
            "SELECT feed_url, {MARK_COLUMNS} FROM item_marks_by_user_month \
             WHERE user_id = ? AND month = ?"
        ))
        .await?,
        select_month_feed_marks: prepare(&format!(
            "SELECT {MARK_COLUMNS} FROM item_marks_by_user_month \
             WHERE user_id = ? AND month = ? AND feed_url = ?"
        ))
        .await?,
        select_watermarks: prepare(
            "SELECT feed_url, up_to, set_at FROM read_watermarks_by_user WHERE user_id = ?",
        )
        .await?,
        select_watermark: prepare(
            "SELECT up_to, set_at FROM read_watermarks_by_user WHERE user_id = ? AND feed_url = ?",
        )
        .await?,
        mark_read: prepare(
            "UPDATE item_marks_by_user_month SET read = ?, updated_at = ? \
             WHERE user_id = ? AND month = ? AND feed_url = ? AND item_id = ?",
        )
        .await?,
        mark_starred: prepare(
            "UPDATE item_marks_by_user_month SET starred = ? \
             WHERE user_id = ? AND month = ? AND feed_url = ? AND item_id = ?",
        )
        .await?,
        copy_mark: prepare(&format!(
            "INSERT INTO item_marks_by_user_month (user_id, month, feed_url, {MARK_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .await?,
        set_watermark: prepare(
            "UPDATE read_watermarks_by_user SET up_to = ?, set_at = ? \
             WHERE user_id = ? AND feed_url = ?",
        )
        .await?,
        // A lightweight transaction: an unsubscribe racing this cannot leave a half row behind.
        set_category: prepare(
            "UPDATE subscriptions_by_user SET category = ? WHERE user_id = ? AND url = ? IF EXISTS",
        )
        .await?,
        set_title: prepare(
            "UPDATE subscriptions_by_user SET title = ? WHERE user_id = ? AND url = ? IF EXISTS",
        )
        .await?,
        delete_mark: prepare(
            "DELETE FROM item_marks_by_user_month \
             WHERE user_id = ? AND month = ? AND feed_url = ? AND item_id = ?",
        )
        .await?,
        clear_marks: prepare(
            "DELETE FROM item_marks_by_user_month WHERE user_id = ? AND month = ? AND feed_url = ?",
        )
        .await?,
        clear_watermark: prepare(
            "DELETE FROM read_watermarks_by_user WHERE user_id = ? AND feed_url = ?",
        )
        .await?,
        select_index: prepare(
            "SELECT item_id, seen, time FROM item_index_by_feed WHERE feed_url = ?",
        )
        .await?,
        select_index_ids: prepare(
            "SELECT item_id, seen, time FROM item_index_by_feed WHERE feed_url = ? AND item_id IN ?",
        )
        .await?,
        insert_index: prepare(
            "INSERT INTO item_index_by_feed (feed_url, item_id, seen, time) VALUES (?, ?, ?, ?)",
        )
        .await?,
        delete_index: prepare("DELETE FROM item_index_by_feed WHERE feed_url = ? AND item_id = ?")
            .await?,
        insert_item: prepare(
            "INSERT INTO items_by_feed_month (feed_url, month, item_id, seen, time, item) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .await?,
        select_items: prepare(
            "SELECT item_id, item FROM items_by_feed_month \
             WHERE feed_url = ? AND month = ? AND item_id IN ?",
        )
        .await?,
        delete_item: prepare(
            "DELETE FROM items_by_feed_month WHERE feed_url = ? AND month = ? AND item_id = ?",
        )
        .await?,
        insert_posting: prepare(
            "INSERT INTO item_postings_by_feed \
             (feed_url, term, time, item_id, seen, count, positions) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .await?,
        // Newest first, a page at a time (the caller sets the page size and keeps the paging
        // state), so a search reads a partition only as far back as it needs.
        select_postings: prepare(
            "SELECT time, item_id, seen, count, positions, WRITETIME(count), WRITETIME(positions) \
             FROM item_postings_by_feed WHERE feed_url = ? AND term = ?",
        )
        .await?,
        // Some items' postings of one word, by key: how a search checks its other words.
        select_postings_of: prepare(
            "SELECT item_id, count, positions, WRITETIME(count), WRITETIME(positions) \
             FROM item_postings_by_feed WHERE feed_url = ? AND term = ? AND (time, item_id) IN ?",
        )
        .await?,
        delete_posting: prepare(
            "DELETE FROM item_postings_by_feed \
             WHERE feed_url = ? AND term = ? AND time = ? AND item_id = ?",
        )
        .await?,
        insert_account: prepare(
            "INSERT INTO accounts (user_id, password_hash, created) VALUES (?, ?, ?) IF NOT EXISTS",
        )
        .await?,
        update_password_hash: prepare(
            "UPDATE accounts SET password_hash = ? WHERE user_id = ? IF EXISTS",
        )
        .await?,
        select_account: prepare(
            "SELECT user_id, password_hash, created FROM accounts WHERE user_id = ?",
        )
        .await?,
        insert_session: prepare(
            "INSERT INTO sessions (token_hash, user_id, expires, app_password) \
             VALUES (?, ?, ?, ?) USING TTL ?",
        )
        .await?,
        select_session: prepare(
            "SELECT user_id, expires, app_password FROM sessions WHERE token_hash = ?",
        )
        .await?,
        delete_session: prepare("DELETE FROM sessions WHERE token_hash = ?").await?,
        select_user_sessions: prepare(
            "SELECT token_hash, expires, app_password FROM sessions WHERE user_id = ?",
        )
        .await?,
        // Lightweight transactions: each hash and each (user, id) is claimed once (rare writes).
        insert_app_password: prepare(&format!(
            "INSERT INTO app_passwords_by_user ({APP_PASSWORD_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
        ))
        .await?,
        claim_secret: prepare(
            "INSERT INTO app_passwords_by_secret (secret_hash, user_id, id) VALUES (?, ?, ?) \
             IF NOT EXISTS",
        )
        .await?,
        claim_fever: prepare(
            "INSERT INTO app_passwords_by_fever (fever_hash, user_id, id) VALUES (?, ?, ?) \
             IF NOT EXISTS",
        )
        .await?,
        select_app_passwords: prepare(&format!(
            "SELECT {APP_PASSWORD_COLUMNS} FROM app_passwords_by_user WHERE user_id = ?"
        ))
        .await?,
        select_app_password: prepare(&format!(
            "SELECT {APP_PASSWORD_COLUMNS} FROM app_passwords_by_user WHERE user_id = ? AND id = ?"
        ))
        .await?,
        select_by_secret: prepare(
            "SELECT user_id, id FROM app_passwords_by_secret WHERE secret_hash = ?",
        )
        .await?,
        select_by_fever: prepare("SELECT user_id, id FROM app_passwords_by_fever WHERE fever_hash = ?")
            .await?,
        delete_app_password: prepare(
            "DELETE FROM app_passwords_by_user WHERE user_id = ? AND id = ?",
        )
        .await?,
        release_secret: prepare("DELETE FROM app_passwords_by_secret WHERE secret_hash = ?")
            .await?,
        release_fever: prepare("DELETE FROM app_passwords_by_fever WHERE fever_hash = ?").await?,
        // Never recreates a revoked password's row as a bare `last_used`.
        touch_app_password: prepare(
            "UPDATE app_passwords_by_user SET last_used = ? WHERE user_id = ? AND id = ? IF EXISTS",
        )
        .await?,
        select_icon_source: prepare(
            "SELECT source, hash, checked, error FROM icon_sources WHERE source = ?",
        )
        .await?,
        insert_icon_source: prepare(
            "INSERT INTO icon_sources (source, hash, checked, error) VALUES (?, ?, ?, ?)",
        )
        .await?,
        insert_icon: prepare(
            "INSERT INTO icons (hash, content_type, bytes) VALUES (?, ?, ?) IF NOT EXISTS",
        )
        .await?,
        select_icon: prepare("SELECT content_type, bytes FROM icons WHERE hash = ?").await?,
        select_preferences: prepare("SELECT json FROM preferences WHERE user_id = ?").await?,
        insert_preferences: prepare("INSERT INTO preferences (user_id, json) VALUES (?, ?)")
            .await?,
        session,
    })
}
