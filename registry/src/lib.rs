//! The service registry: Eureka's role in the recipe, and the client the other services use.
//!
//! Middle tiers register here and renew a lease every few seconds; the edge asks for the
//! instances behind the `middletier` VIP and balances over the UP ones. The server speaks
//! Eureka's REST API and JSON, so real Eureka clients can register too, and the client works
//! against a real Eureka server.
//!
//! # Layout
//! - [`model`]: Eureka's wire types (`InstanceInfo`, `Applications`, replication batches),
//!   lenient in, exact out; [`xml`]: the same in Eureka's XML.
//! - [`domain`]: the in-memory [`Registry`]: leases, status overrides, `lastDirtyTimestamp`
//!   ordering, deltas, eviction and self-preservation, the change counter watches wait on.
//! - [`api`]: the REST API over the registry, mounted at `/eureka/v2/` and `/eureka/`;
//!   [`dashboard`]: the HTML page at `/`.
//! - [`replication`]: batches to peer registries, and the initial sync from them.
//! - [`metrics`]: Prometheus metrics read from the lease table.
//! - [`settings`]: the server's [`Settings`] (`[server]`, `[lease]`, `[self_preservation]`,
//!   `[replication]`).
//! - [`startup`]: [`Application`], which binds, serves and runs the background loops.
//! - [`client`]: [`client::RegistryClient`], and on top of it [`client::Registration`] (stay
//!   registered) and [`client::Discovery`] (know who serves a VIP).

pub mod api;
pub mod client;
pub mod dashboard;
pub mod domain;
pub mod metrics;
pub mod model;
pub mod replication;
pub mod settings;
pub mod startup;
pub mod xml;

pub use api::{AppState, router};
pub use domain::{AppName, InstanceId, Origin, Registry, RegistryError, Renewal, SelfPreservation};
pub use model::{
    ActionType, Application as EurekaApplication, Applications, DataCenterInfo, InstanceInfo,
    LeaseInfo, Port, Status,
};
pub use settings::{
    LeaseSettings, ReplicationSettings, SelfPreservationSettings, ServerSettings, Settings,
};
pub use startup::Application;
