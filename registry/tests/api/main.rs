//! Integration tests: real registries on loopback (port 0), real HTTP clients.

mod discovery;
mod helpers;
mod lease;
mod registration;
mod server;
