//! The registry's integration tests, one module per area: real registries on loopback ports
//! (port 0), real HTTP clients, real Eureka clients, and the real binary where a test must own
//! a process.

#![allow(clippy::unwrap_used)]

mod helpers;

// The Eureka API and the clients built on it.
mod auth;
mod discovery;
mod eureka;
mod hostile;
mod lease;
mod propagation;
mod registration;
mod replication;
mod server;

// Real Eureka clients (Python, JavaScript, Java) against our registry.
mod interop;

// Operating it: the admin port, configuration, the OpenAPI document, metrics and readiness,
// the binary.
mod admin_port;
mod config_admin;
mod lifecycle;
mod openapi;
mod telemetry;
