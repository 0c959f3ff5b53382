//! The middle tier's contract: what a caller needs to speak its API.
//!
//! The edge depends on this crate, never on the middle tier server, so calling the middle tier
//! compiles neither the Cassandra driver nor the feed parser. The server depends on it too and
//! serves exactly these types, so the two sides cannot drift apart.
//!
//! # Layout
//! - `wire` (re-exported at the root): the JSON bodies of `/middletier/rss/user/{user}`,
//!   `/middletier/accounts` and `/middletier/sessions` ([`UserFeeds`], [`River`],
//!   [`ErrorBody`]...), and the feed [`Candidate`]s a web page offers. With the `openapi`
//!   feature they derive `utoipa::ToSchema` for the server's OpenAPI document.
//! - `client` (re-exported at the root): [`MiddletierClient`], the typed client, and
//!   [`CallError`], which classifies failures the way a load balancer needs.
//! - `apps` (re-exported at the root): what sync apps need (item numbers, [`AppItemsQuery`],
//!   bulk state changes, app passwords).
//! - `preferences` (re-exported at the root): a user's reading [`Preferences`] (theme, page
//!   size, list style...), with their bounds.
//! - [`domain`]: [`domain::UserId`] and [`domain::FeedUrl`], parsed once at the boundary, and
//!   the parsers for the other inputs.
//! - [`limits`]: the bounds the middle tier enforces (OPML size, item id and category length...).

mod apps;
mod client;
pub mod domain;
pub mod limits;
mod preferences;
mod wire;

pub use apps::*;
pub use client::{CallError, Checked, DEFAULT_MAX_ANSWER_BYTES, IconFile, MiddletierClient};
pub use preferences::*;
pub use wire::*;
