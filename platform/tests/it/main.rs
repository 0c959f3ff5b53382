//! Integration tests of what every service shares, one module per area: real servers on
//! loopback ports (port 0), called with real HTTP clients.

#![allow(clippy::unwrap_used)]

mod listener;
mod server;
mod telemetry;
