//! Hystrix's and Finagle's resilience pieces, generic: nothing here knows the middle tier, the
//! registry, HTTP or the rest of the edge, so each layer can be read and tested on its own.
//! The edge's `upstream` module puts them around its calls to the middle tier.
//!
//! Each layer imports only the layers below it:
//!
//! ```text
//!                 command          a call through breaker, admission and timeout,
//!            ┌──────┼───────┐      with every outcome counted
//!            ▼      ▼       ▼
//!       breaker   stats   admission   budget      budget: the retry budget (used beside
//!            │      │       ▼           │          commands, by the retry loop)
//!            │      │     limiter       │
//!            └──────┴──────┬────────────┘
//!                          ▼
//!                        window         the rolling bucketed window
//! ```
//!
//! `bulkhead` stands apart: a plain count with a live limit, used by `/hystrix.stream` for its
//! open streams.
//!
//! Time is always passed in (`tokio::time::Instant`), so tests drive every window, sleep
//! window and timeout on paused time.
//!
//! # Layout
//! - [`window`]: the rolling bucketed window, under everything that counts over time.
//! - [`breaker`]: the circuit breaker, a sans-IO state machine on the window.
//! - [`limiter`]: a command's concurrency limit, fixed or adaptive (latency-based, after
//!   Netflix's Gradient2), a sans-IO state machine fed each execution's outcome.
//! - [`admission`]: executions in flight under the limit, and the bounded FIFO queue with a
//!   deadline in front of it.
//! - [`bulkhead`]: a live-limited count of holders and its permit (open streams).
//! - [`stats`]: rolling event counts and latency percentiles per command, and totals.
//! - [`budget`]: the retry budget on the window.
//! - [`command`]: a Hystrix-style command, generic over its call's error ([`command::Classify`]).

pub mod admission;
pub mod breaker;
pub mod budget;
pub mod bulkhead;
pub mod command;
pub mod limiter;
pub mod stats;
pub mod window;
