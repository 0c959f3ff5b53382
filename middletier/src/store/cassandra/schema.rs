//! The schema: versioned CQL files (and data migrations, `upgrade`) applied in order at start-up
//! and recorded in `schema_version`, so every middle tier starting finds (or brings) the tables
//! and data it needs.

use std::time::Duration;

use chrono::Utc;
use scylla::client::session::Session;
use scylla::statement::Statement;

use super::settings::CassandraSettings;
use super::upgrade;
use crate::store::StoreError;

/// One versioned step: a CQL file, or a data migration written in Rust.
enum Step {
    Cql(&'static str),
    /// `upgrade::history_from_blobs`.
    HistoryFromBlobs,
    /// `upgrade::postings_from_terms`.
    PostingsFromTerms,
    /// `upgrade::pairs_from_content`.
    PairsFromContent,
}

/// Versioned steps, applied in this order; never edit one that has shipped, add one.
const MIGRATIONS: &[(i32, &str, Step)] = &[
    (
        1,
        "subscriptions",
        Step::Cql(include_str!(
            "../../../schema/cassandra/001_subscriptions.cql"
        )),
    ),
    (
        2,
        "feed_cache",
        Step::Cql(include_str!("../../../schema/cassandra/002_feed_cache.cql")),
    ),
    (
        3,
        "item_state",
        Step::Cql(include_str!("../../../schema/cassandra/003_item_state.cql")),
    ),
    (
        4,
        "reading",
        Step::Cql(include_str!("../../../schema/cassandra/004_reading.cql")),
    ),
    (
        5,
        "sessions_by_user",
        Step::Cql(include_str!(
            "../../../schema/cassandra/005_sessions_by_user.cql"
        )),
    ),
    (
        6,
        "item_history",
        Step::Cql(include_str!(
            "../../../schema/cassandra/006_item_history.cql"
        )),
    ),
    (7, "history_from_blobs", Step::HistoryFromBlobs),
    (
        8,
        "history_changed",
        Step::Cql(include_str!(
            "../../../schema/cassandra/008_history_changed.cql"
        )),
    ),
    (
        9,
        "item_postings",
        Step::Cql(include_str!(
            "../../../schema/cassandra/009_item_postings.cql"
        )),
    ),
    (10, "postings_from_terms", Step::PostingsFromTerms),
    (
        11,
        "posting_positions",
        Step::Cql(include_str!(
            "../../../schema/cassandra/011_posting_positions.cql"
        )),
    ),
    (12, "phrase_pairs", Step::PairsFromContent),
    (
        14,
        "app_passwords",
        Step::Cql(include_str!(
            "../../../schema/cassandra/014_app_passwords.cql"
        )),
    ),
    (
        15,
        "subscription_titles",
        Step::Cql(include_str!(
            "../../../schema/cassandra/015_subscription_titles.cql"
        )),
    ),
    (
        16,
        "feed_icons",
        Step::Cql(include_str!("../../../schema/cassandra/016_feed_icons.cql")),
    ),
    (
        17,
        "preferences",
        Step::Cql(include_str!(
            "../../../schema/cassandra/017_preferences.cql"
        )),
    ),
];

/// How long one schema change may take. A schema change is written, flushed and announced by
/// every node before it is answered, which on a busy node takes far longer than the reads and
/// writes `request_timeout` is set for; and it runs once, at start-up.
const SCHEMA_CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// `cql`, a schema change, with its own longer timeout.
fn schema_change(cql: impl Into<String>) -> Statement {
    let mut statement = Statement::new(cql.into());
    statement.set_request_timeout(Some(SCHEMA_CHANGE_TIMEOUT));
    statement
}

/// Creates the keyspace, switches the session to it, and applies every migration not yet
/// recorded in `schema_version`. Every statement is idempotent (`IF NOT EXISTS`; the data
/// migration as `upgrade` explains), so a migration interrupted half-way, or run by two middle
/// tiers starting together, is safe to run
/// again.
pub(super) async fn migrate(
    session: &Session,
    settings: &CassandraSettings,
) -> Result<(), StoreError> {
    let failed =
        |error: &dyn std::fmt::Display| StoreError::Unavailable(format!("schema: {error}"));
    let create_keyspace = format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}",
        settings.keyspace,
        settings.replication()?
    );
    session
        .query_unpaged(schema_change(create_keyspace), ())
        .await
        .map_err(|e| failed(&e))?;
    session
        .await_schema_agreement()
        .await
        .map_err(|e| failed(&e))?;
    session
        .use_keyspace(&settings.keyspace, false)
        .await
        .map_err(|e| failed(&e))?;
    session
        .query_unpaged(
            schema_change(
                "CREATE TABLE IF NOT EXISTS schema_version \
                 (version int PRIMARY KEY, name text, applied_at timestamp)",
            ),
            (),
        )
        .await
        .map_err(|e| failed(&e))?;
    session
        .await_schema_agreement()
        .await
        .map_err(|e| failed(&e))?;
    let applied: Vec<i32> = session
        .query_unpaged("SELECT version FROM schema_version", ())
        .await
        .map_err(|e| failed(&e))?
        .into_rows_result()
        .map_err(|e| failed(&e))?
        .rows::<(i32,)>()
        .map_err(|e| failed(&e))?
        .map(|row| row.map(|(version,)| version))
        .collect::<Result<_, _>>()
        .map_err(|e| failed(&e))?;
    for (version, name, step) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        match step {
            Step::Cql(cql) => {
                for statement in cql_statements(cql) {
                    session
                        .query_unpaged(schema_change(statement), ())
                        .await
                        .map_err(|e| failed(&e))?;
                }
            }
            Step::HistoryFromBlobs => upgrade::history_from_blobs(session).await?,
            Step::PostingsFromTerms => upgrade::postings_from_terms(session).await?,
            Step::PairsFromContent => upgrade::pairs_from_content(session).await?,
        }
        session
            .await_schema_agreement()
            .await
            .map_err(|e| failed(&e))?;
        session
            .query_unpaged(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, Utc::now()),
            )
            .await
            .map_err(|e| failed(&e))?;
        tracing::info!(version, name, "applied schema migration");
    }
    Ok(())
}

/// The statements of a CQL file: `--` comments dropped, split on `;`.
fn cql_statements(cql: &str) -> Vec<String> {
    let without_comments: String = cql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cql_files_split_into_statements_without_comments() {
        let statements = cql_statements(
            "-- a comment\nCREATE TABLE IF NOT EXISTS t (a int PRIMARY KEY); -- x\n\n",
        );
        assert_eq!(
            statements,
            ["CREATE TABLE IF NOT EXISTS t (a int PRIMARY KEY)"]
        );
        for (_, _, step) in MIGRATIONS {
            let Step::Cql(cql) = step else { continue };
            assert!(
                cql_statements(cql)
                    .iter()
                    .all(|s| s.contains("IF NOT EXISTS ")),
                "idempotent DDL only"
            );
        }
    }
}
