//! The writer: one thread that owns the store's only writing connection and commits the
//! writes queued for it in groups.
//!
//! Every commit waits for an fsync of the WAL (`synchronous=FULL`, see `open`), and the
//! refresher saves many feeds at once, so one transaction per write spends most of its time
//! waiting on the disk. Instead the writer takes every write queued while the previous group
//! committed (at most [`GROUP_LIMIT`]) into ONE transaction, each write inside its own
//! savepoint, and answers each caller only once that transaction's COMMIT has returned:
//!
//! - durability is unchanged: nothing is acknowledged before the fsync that makes it last, so
//!   a `kill -9` or a power loss loses only writes nobody was told succeeded;
//! - a write that fails rolls back to its savepoint and gets its own error, while the others
//!   in its group commit (a write sees the ones queued before it, exactly as if each had its
//!   own transaction in queue order);
//! - a write that panics is rolled back the same way, and its caller hears the write failed.
//!
//! An error that ends the whole transaction (SQLite rolls it back itself on a full disk or an
//! I/O error) fails the writes already run in it, none of them acknowledged, and the writes
//! still queued get a transaction of their own.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::store::StoreError;

/// The most writes committed together. A queue longer than this is committed in several
/// groups, so a write's wait stays a few fsyncs at most; a group of feed saves (about 50 items
/// each) is a few megabytes of WAL.
pub(super) const GROUP_LIMIT: usize = 64;

/// Where the store hands its writes: cheap to share, answered in queue order.
#[derive(Debug)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Queued>>,
}

impl Writer {
    /// Starts the writer thread with `connection`; it stops (closing the connection) once the
    /// last handle is dropped and the writes queued before have committed.
    pub(super) fn start(connection: Connection) -> std::io::Result<Self> {
        let (queue, queued) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(connection, &queued))?;
        Ok(Self { queue })
    }

    /// Queues `work` now (writes run in the order they were queued) and answers once it has
    /// committed (durable) or failed.
    pub(super) fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> impl Future<Output = Result<R, StoreError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let queued = self.queue.send(Box::new(Write { work, reply }));
        async move {
            queued.map_err(|_| StoreError::Unavailable("the sqlite writer has stopped".into()))?;
            // The reply is dropped unanswered only when the work panicked.
            answer.await.map_err(|_| {
                StoreError::Unavailable("store task failed: the write panicked".into())
            })?
        }
    }
}

/// A write waiting in the queue, its result type erased.
trait Queued: Send {
    /// Does the work inside the group's transaction; the result waits for the commit.
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn Ran>;
    /// Answers the caller with `error`: the work never ran.
    fn fail(self: Box<Self>, error: StoreError);
}

/// A write that has run, waiting for its group's commit.
trait Ran: Send {
    fn succeeded(&self) -> bool;
    /// Answers the caller: its result if the group committed (or its own error), else the
    /// commit's error.
    fn answer(self: Box<Self>, committed: Result<(), &str>);
}

struct Write<W, R> {
    work: W,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<W, R> Queued for Write<W, R>
where
    W: FnOnce(&Transaction<'_>) -> Result<R, StoreError> + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn Ran> {
        let result = (self.work)(tx);
        Box::new(Done {
            result,
            reply: self.reply,
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        // A caller that stopped waiting has nobody to tell.
        let _ = self.reply.send(Err(error));
    }
}

struct Done<R> {
    result: Result<R, StoreError>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<R: Send + 'static> Ran for Done<R> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn answer(self: Box<Self>, committed: Result<(), &str>) {
        let answer = match (self.result, committed) {
            (Err(error), _) => Err(error),
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(error)) => Err(StoreError::Unavailable(error.to_owned())),
        };
        let _ = self.reply.send(answer);
    }
}

/// The writer thread: one group per turn, until every handle is gone.
fn run(mut connection: Connection, queued: &mpsc::Receiver<Box<dyn Queued>>) {
    while let Ok(first) = queued.recv() {
        let mut group = vec![first];
        group.extend(queued.try_iter().take(GROUP_LIMIT - 1));
        let mut left = group;
        while !left.is_empty() {
            left = commit_group(&mut connection, left);
        }
    }
}

/// Runs `group` in one transaction and answers every write in it once the commit is known;
/// the writes left unrun when the transaction ended early, for a transaction of their own.
fn commit_group(connection: &mut Connection, group: Vec<Box<dyn Queued>>) -> Vec<Box<dyn Queued>> {
    let tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(error) => {
            let error = message(&error);
            for write in group {
                write.fail(StoreError::Unavailable(error.clone()));
            }
            return Vec::new();
        }
    };
    let mut ran: Vec<Box<dyn Ran>> = Vec::with_capacity(group.len());
    let mut writes = group.into_iter();
    let mut ended = None;
    for write in writes.by_ref() {
        if let Err(error) = tx.execute_batch("SAVEPOINT write") {
            write.fail(error.into());
            ended = Some(rolled_back("starting a savepoint failed"));
            break;
        }
        let done = catch_unwind(AssertUnwindSafe(|| write.run(&tx))).ok();
        let kept = done.as_ref().is_some_and(|done| done.succeeded());
        let closed = if kept {
            tx.execute_batch("RELEASE write")
        } else {
            tx.execute_batch("ROLLBACK TO write; RELEASE write")
        };
        ran.extend(done);
        if closed.is_err() || tx.is_autocommit() {
            // The failure ended the transaction (SQLite rolled all of it back): nothing run
            // in it is kept.
            ended = Some(rolled_back("a write in the same group ended it"));
            break;
        }
    }
    let left: Vec<_> = writes.collect();
    let committed = match ended {
        Some(error) => Err(error),
        None => tx.commit().map_err(|error| message(&error)),
    };
    for done in ran {
        done.answer(committed.as_ref().copied().map_err(String::as_str));
    }
    left
}

/// The text of a [`StoreError::Unavailable`] for `error`, as `From<rusqlite::Error>` writes it.
fn message(error: &rusqlite::Error) -> String {
    format!("sqlite: {error}")
}

fn rolled_back(why: &str) -> String {
    format!("sqlite: the transaction was rolled back: {why}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc as std_mpsc;

    use super::*;

    /// A database file of its own, removed with its directory when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            Self(
                std::env::temp_dir()
                    .join(format!("middletier-writer-{name}-{}", std::process::id())),
            )
        }

        /// A connection with the store's settings to a fresh file holding one table whose
        /// `n` must be unique.
        fn connect(&self) -> Connection {
            let _ = std::fs::remove_dir_all(&self.0);
            let path = self.0.join("rss.db");
            super::super::open::prepare_path(&path).expect("file");
            let connection = super::super::open::connect(&path).expect("open");
            connection
                .execute_batch("CREATE TABLE t (n INTEGER NOT NULL UNIQUE)")
                .expect("table");
            connection
        }

        fn count(&self) -> i64 {
            Connection::open(self.0.join("rss.db"))
                .expect("open")
                .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
                .expect("count")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn insert(n: i64) -> impl FnOnce(&Transaction<'_>) -> Result<i64, StoreError> {
        move |tx| {
            tx.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
            Ok(n)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_write_of_a_concurrent_burst_is_committed_before_it_is_acknowledged() {
        let scratch = Scratch::new("burst");
        let writer = Arc::new(Writer::start(scratch.connect()).expect("writer"));
        let writes: Vec<_> = (0..200)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.write(insert(n)).await })
            })
            .collect();
        for (n, write) in writes.into_iter().enumerate() {
            let n = i64::try_from(n).expect("small");
            assert_eq!(write.await.expect("task").expect("write"), n);
            // Acknowledged means committed: a connection of its own sees it.
            let visible: i64 = Connection::open(scratch.0.join("rss.db"))
                .expect("open")
                .query_row("SELECT count(*) FROM t WHERE n = ?1", [n], |row| row.get(0))
                .expect("read");
            assert_eq!(visible, 1, "write {n} acknowledged before its commit");
        }
        assert_eq!(scratch.count(), 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_fails_alone_and_the_rest_of_its_group_commits() {
        let scratch = Scratch::new("one-fails");
        let writer = Arc::new(Writer::start(scratch.connect()).expect("writer"));
        writer.write(insert(1)).await.expect("first write");

        let (entered, in_write) = std_mpsc::channel();
        let (release, released) = std_mpsc::channel::<()>();
        let held = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .write(move |_| {
                        entered.send(()).expect("test waits");
                        released.recv().expect("test releases");
                        Ok(())
                    })
                    .await
            }
        });
        tokio::task::spawn_blocking(move || in_write.recv())
            .await
            .expect("task")
            .expect("the holding write began");
        // Queued (at the call) behind the held write, so one group: good, a duplicate that
        // violates UNIQUE after writing a row of its own, a panic, good.
        let good = writer.write(insert(2));
        let duplicate = writer.write(|tx| {
            tx.execute("INSERT INTO t (n) VALUES (3)", [])?;
            tx.execute("INSERT INTO t (n) VALUES (1)", [])?;
            Ok(())
        });
        let panicking = writer.write(|tx| -> Result<(), StoreError> {
            tx.execute("INSERT INTO t (n) VALUES (4)", [])?;
            panic!("a bug in a write");
        });
        let also_good = writer.write(insert(5));
        release.send(()).expect("writer waits");

        held.await.expect("task").expect("held write");
        assert_eq!(good.await.expect("good write"), 2);
        let error = duplicate.await.expect_err("duplicate");
        assert!(
            error.to_string().contains("UNIQUE"),
            "its own error: {error}"
        );
        let error = panicking.await.expect_err("panic");
        assert!(error.to_string().contains("panicked"), "{error}");
        assert_eq!(also_good.await.expect("write after"), 5);

        let kept: Vec<i64> = Connection::open(scratch.0.join("rss.db"))
            .expect("open")
            .prepare("SELECT n FROM t ORDER BY n")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            kept,
            [1, 2, 5],
            "failed writes leave nothing, the others everything"
        );
    }
}
