//! The service registry: Eureka's role in the recipe.
//!
//! Middle tiers register here and renew a lease every few seconds; the edge asks for the
//! instances behind the `middletier` VIP and balances over the UP ones. The server speaks
//! Eureka's REST API and JSON, so real Eureka clients can register too. Its contract, the
//! Eureka model and the client every service registers and discovers with, is the
//! `registry-client` crate ([`registry_client`]): services depend on that, never on this crate.
//!
//! # Layout
//! - [`xml`]: Eureka's XML, read and written over [`registry_client::model`]'s wire types.
//! - [`domain`]: the in-memory [`Registry`]: leases, status overrides, `lastDirtyTimestamp`
//!   ordering, deltas, eviction and self-preservation, the change counter watches wait on.
//! - [`auth`]: the trust boundary: principals (services, operators, peers) by HTTP Basic,
//!   the layer naming the caller, and the extractors handlers state their roles with.
//! - [`api`]: the REST API over the registry, mounted at `/eureka/v2/` and `/eureka/`;
//!   [`dashboard`]: the HTML page operators open on the admin port. Both take [`state`]'s
//!   [`AppState`] and neither imports the other: [`routes`] composes them into the public
//!   [`router`] and the admin listener's operator pages.
//! - [`replication`]: batches to peer registries (sent with [`registry_client::RegistryClient`]),
//!   and the initial sync from them.
//! - [`metrics`]: Prometheus metrics read from the lease table.
//! - [`settings`]: the server's [`Settings`] (`[server]`, `[lease]`, `[self_preservation]`,
//!   `[replication]`, `[limits]`, `[auth]`).
//! - [`startup`]: [`Application`], which binds, serves and runs the background loops, and is
//!   what `main` runs through [`platform::service::run`].
//! - `testing` (feature `test-support`): credentials minted per test run, for the tests and
//!   benches of the services that register here.

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod domain;
pub mod metrics;
pub mod replication;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod xml;

pub use domain::{AppName, InstanceId, Origin, Registry, RegistryError, Renewal, SelfPreservation};
pub use routes::router;
pub use settings::{
    AuthSettings, LeaseSettings, ReadAccess, RecordLimits, ReplicationSettings,
    SelfPreservationSettings, ServerSettings, Settings,
};
pub use startup::{Application, StartupError};
pub use state::AppState;
