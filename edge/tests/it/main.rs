//! The edge's integration tests, one binary: the whole recipe on loopback (a real registry,
//! real middle tiers and the edge, each on a runtime of its own and on port 0), real feed
//! publishers, a real browser (headless Chromium over WebDriver), the real `edge` binary where
//! a test needs a process of its own, a real Eureka client in Python, and the real Cassandra
//! for the tests marked as needing it.
//!
//! Every module runs in this one process, in parallel, so none may rely on being alone: no
//! process-wide settings (environment variables are set on child processes only), no fixed
//! ports (chromedriver too picks its own), metrics read from the services a test started (each
//! counts its own), a browser and its driver per test, and fresh names on the shared Cassandra
//! keyspace. The one process-wide thing is the log subscriber [`telemetry`] installs to read
//! the services' JSON logs: it only adds lines, and [`telemetry`] reads only its own request
//! ids. Files the tests read are found from the crate's directory (`CARGO_MANIFEST_DIR`):
//! `deploy/`, `docs/`, `registry/tests/it/interop/`; screenshots go to `target/screenshots/`.
//!
//! `#[ignore]`d tests need Cassandra (`deploy/cassandra/run.sh start`); `deploy/test.sh` runs
//! them with `--include-ignored`. None of them stops the node, so they need no lock.
//!
//! # Layout
//! - [`support`]: the running system ([`support::System`]), an HTTP "browser", polling and
//!   wall-clock bounds; [`support::webdriver`] drives the real browser.
//! - [`end_to_end`], [`adding_feeds`]: a reader subscribing, reading and unsubscribing through
//!   the edge's forms; choosing among a site's feeds, OPML import and export.
//! - [`accounts`]: signing up, in and out, sessions across edges, rate limits, and one user
//!   never reaching another's data.
//! - [`settings`]: the settings page: changing the password (and which sessions that ends),
//!   in HTTP and in the real browser; [`preferences`]: reading preferences kept with the
//!   account, seen on every edge, refused when bad, and chosen in the real browser.
//! - [`browser`]: the reader in headless Chromium, with its script and the real CSP.
//! - [`icons`]: feed icons beside each feed, served as cached images only, loaded by a real
//!   browser.
//! - [`feed_health`]: the feed health page and "Check now": publishers failing and recovering,
//!   checks bounded per user and feed, and in a real browser.
//! - [`search`]: the search page: highlighting, escaping, failure and hostile input.
//! - [`resilience`], [`discovery`]: middle tiers killed, failing, joining and restarting under
//!   load; the breaker, the Hystrix stream and the dashboard.
//! - [`load`]: many readers against healthy middle tiers get real pages; overload is shed
//!   deliberately and recovered from.
//! - [`greader`]: the Google Reader API apps sync with, endpoint by endpoint, and newsboat
//!   driving it for real.
//! - [`interop_eureka`], [`cassandra`]: a middle tier registered by py-eureka-client; two middle
//!   tiers sharing one real Cassandra.
//! - [`config_files`], [`config_keys`], [`config_dynamic`]: the shipped configuration, the
//!   variables the deployment material and docs name, and changes applied while running.
//! - [`service_identity`]: mutual TLS between edge and middle tier: registered impostors get
//!   nothing, and middle tiers serve only edges.
//! - [`telemetry`]: request ids through both services' logs, `/metrics`, readiness.
//! - [`untrusted_input`]: hostile input at the edge: the open redirect, sign-up enumeration,
//!   lock-outs from elsewhere, oversized middle-tier answers, the cookie prefix and HSTS.
//! - [`fever`]: the Fever API: every endpoint, marks between apps and the reader, keys and
//!   lock-outs, isolation between users, hostile input, no middle tier; and the real Fever
//!   client `freshrss-api` syncing. [`app_passwords`]: the Apps page, in a real browser too.
//! - [`admin_port`]: operator pages on the admin port only, bound to loopback; a stream
//!   client that reads nothing losing its place.

mod accounts;
mod adding_feeds;
mod admin_port;
mod app_passwords;
mod browser;
mod browser_reading;
mod cassandra;
mod config_dynamic;
mod config_files;
mod config_keys;
mod discovery;
mod end_to_end;
mod feed_health;
mod fever;
mod greader;
mod icons;
mod interop_eureka;
mod load;
mod preferences;
mod reading;
mod resilience;
mod search;
mod service_identity;
mod settings;
mod support;
mod telemetry;
mod untrusted_input;
