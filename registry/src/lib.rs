//! The service registry: Eureka's role in the recipe, and the client the other services use.
//!
//! Middle tiers register here and renew a lease every few seconds; the edge asks for the
//! instances behind the `middletier` VIP and balances over the UP ones. The server speaks
//! Eureka's REST API and JSON, so real Eureka clients can register too, and the client works
//! against a real Eureka server.
//!
//! # Layout
//! - [`model`]: Eureka's wire types (`InstanceInfo`, `Applications`, ...), lenient in, exact out.
//! - [`domain`]: the in-memory [`Registry`]: leases, expiry, the change counter.
//! - [`api`]: the REST API over the registry, mounted at `/eureka/v2/` and `/eureka/`.
//! - [`settings`]: the server's [`Settings`] (`[server]`, `[lease]`).
//! - [`startup`]: [`Application`], which binds, serves and runs the eviction loop.
//! - [`client`]: [`client::RegistryClient`], and on top of it [`client::Registration`] (stay
//!   registered) and [`client::Discovery`] (know who serves a VIP).

pub mod api;
pub mod client;
pub mod domain;
pub mod model;
pub mod settings;
pub mod startup;

pub use api::{AppState, router};
pub use domain::{AppName, InstanceId, Registry, RegistryError};
pub use model::{
    ActionType, Application as EurekaApplication, Applications, DataCenterInfo, InstanceInfo,
    LeaseInfo, Port, Status,
};
pub use settings::{LeaseSettings, ServerSettings, Settings};
pub use startup::Application;
