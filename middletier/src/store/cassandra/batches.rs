//! Same-partition writes in unlogged batches: how `history`, `terms` and `upgrade` write many
//! rows of one partition in one request (atomic and isolated within the partition, without the
//! batch log's cost), each batch bounded so none trips Cassandra's batch-size limits.

use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use super::{Connected, query_failed};
use crate::store::StoreError;

/// The most rows one batch of small rows (index entries, postings, deletions) carries.
pub(super) const BATCH_ROWS: usize = 100;

/// Runs `statement` for each of `rows`, all in one partition, in unlogged batches of
/// [`BATCH_ROWS`].
pub(super) async fn in_batches<V: SerializeRow>(
    connected: &Connected,
    statement: &PreparedStatement,
    mut rows: Vec<V>,
) -> Result<(), StoreError> {
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(BATCH_ROWS));
        send(connected, statement, rows).await?;
        rows = rest;
    }
    Ok(())
}

/// One same-partition write: a single row as a plain statement, several as one unlogged batch.
pub(super) async fn send<V: SerializeRow>(
    connected: &Connected,
    statement: &PreparedStatement,
    mut rows: Vec<V>,
) -> Result<(), StoreError> {
    match rows.len() {
        0 => Ok(()),
        1 => {
            let row = rows.pop().expect("one row");
            connected
                .session
                .execute_unpaged(statement, row)
                .await
                .map(drop)
                .map_err(query_failed)
        }
        n => {
            let mut batch = Batch::new(BatchType::Unlogged);
            for _ in 0..n {
                batch.append_statement(statement.clone());
            }
            connected
                .session
                .batch(&batch, rows)
                .await
                .map(drop)
                .map_err(query_failed)
        }
    }
}
