//! The middle tier's integration tests, one binary: real HTTP on loopback (port 0), a real feed
//! publisher, real registries, the real `middletier` binary where a test needs a process of its
//! own, and the real Cassandra for the tests marked as needing it.
//!
//! Every module runs in this one process, in parallel, so none may rely on being alone: no
//! process-wide settings (environment variables are set on child processes only), no fixed
//! ports, metrics read from the middle tier a test started (each counts its own), and the
//! shared Cassandra node guarded by [`support::cassandra_shared`] and
//! [`support::cassandra_exclusive`]. Data the tests read stays beside this folder:
//! `tests/corpus/`, `tests/fuzz-corpus/`, `tests/fuzz-crashes/`.
//!
//! `#[ignore]`d tests need Cassandra (`deploy/cassandra/run.sh start`); `deploy/test.sh` runs
//! them with `--include-ignored`.
//!
//! # Layout
//! - [`support`]: what several modules share: an HTTP client, the Cassandra guard, wall-clock
//!   bounds.
//! - [`api`], [`reading`], [`opml_discovery`]: the REST API, reading state, feed discovery;
//!   [`app_items`]: what sync apps read and change (selections, numbers, bulk marks);
//!   [`item_lookup`]: one item of a user's feed; [`subscription_cap`]: the configured cap
//!   on a user's subscriptions; [`retention`]: the item history and its retention policy;
//!   [`search`]: search over the user's feeds.
//! - [`fetch`], [`wild_feeds`]: the fetcher against hostile publishers; odd and hostile feeds.
//! - [`check_now`]: one subscribed feed fetched at the user's request, bounded per user and
//!   feed.
//! - [`icons`]: feed icons found at refresh (and the hostile ones refused), served by hash,
//!   kept on every store.
//! - [`preferences`]: each user's reading preferences, on every store and over HTTP.
//! - [`app_accounts`]: app passwords and the sessions bound to them, users' own feed titles,
//!   category renames, over HTTP; [`app_accounts_conformance`]: the same on every store.
//! - [`store_conformance`]: one suite for every store backend; [`sqlite`]: the embedded
//!   store's file (restarts, permissions, paths it refuses); [`sqlite_history`]: its item
//!   history and search (the migration to items as rows, hostile queries); [`transfer`]: export and import
//!   between stores, and the files import refuses.
//! - [`ownership`], [`config_dynamic`], [`telemetry`], [`openapi`]: refresh sharing, dynamic
//!   configuration, `/metrics`, the OpenAPI document.
//! - [`health`], [`cassandra`], [`crash`]: lifecycle and failures with real processes and a
//!   real Cassandra; `kill -9` on the embedded store; [`cassandra_upgrade`]: a keyspace of the
//!   previous version migrated to the item history; [`cassandra_history`]: the item history
//!   across Cassandra's bounded partitions.
//! - [`admin_port`]: operator endpoints on the admin port only; [`proxy`]: proxy variables in
//!   a real process's environment never route a fetch.

mod admin_port;
mod api;
mod app_accounts;
mod app_accounts_conformance;
mod app_items;
mod cassandra;
mod cassandra_history;
mod cassandra_upgrade;
mod check_now;
mod config_dynamic;
mod crash;
mod fetch;
mod health;
mod icons;
mod item_lookup;
mod openapi;
mod opml_discovery;
mod ownership;
mod preferences;
mod proxy;
mod reading;
mod retention;
mod search;
mod sqlite;
mod sqlite_history;
mod sqlite_media;
mod store_conformance;
mod subscription_cap;
mod support;
mod telemetry;
mod transfer;
mod wild_feeds;
