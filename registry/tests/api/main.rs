//! Integration tests: real registries on loopback (port 0), real HTTP clients.

mod discovery;
mod eureka;
mod helpers;
mod lease;
mod propagation;
mod registration;
mod replication;
mod server;
