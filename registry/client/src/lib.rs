//! The registry's contract: what a service needs to register itself and find others.
//!
//! Every service depends on this crate rather than on the registry server, so registering or
//! discovering never compiles the server's lease table, REST API or dashboard. The client
//! speaks Eureka's REST API and JSON, so it works against a real Eureka as well as against ours,
//! and the model is the one the server serves, so the two cannot drift apart.
//!
//! # Layout
//! - [`model`]: Eureka's wire types (`InstanceInfo`, `Applications`, `LeaseInfo`, replication
//!   batches), lenient in, exact out. With the `openapi` feature they derive
//!   `utoipa::ToSchema` for the server's OpenAPI document.
//! - `client`: [`RegistryClient`], typed calls failing over across a list of registries, and
//!   the `[registry]` section every service reads ([`ClientSettings`]).
//! - `instance`: [`InstanceConfig`], how a service describes itself.
//! - `registration`: [`Registration`], which keeps one instance registered (Eureka's
//!   heartbeat).
//! - `discovery`: [`Discovery`], a fresh list of the [`Instance`]s behind one VIP, which is
//!   what a caller balances over (Ribbon's server list).

mod client;
mod discovery;
mod instance;
pub mod model;
mod registration;

pub use client::{
    ClientError, ClientSettings, INDEX_HEADER, RegistryClient, RegistryUrl, VipAnswer, WATCH_WAIT,
    error_chain, parse_registry_urls,
};
pub use discovery::{Discovery, Instance, Selection};
pub use instance::InstanceConfig;
pub use model::{
    ActionType, Application, Applications, DataCenterInfo, InstanceInfo, LeaseInfo, Port, Status,
};
pub use registration::Registration;
