//! The Eureka REST API over [`Registry`](crate::domain::Registry), with Eureka's status codes
//! and formats.
//!
//! Served under both `/eureka/v2/` (Netflix's clients) and `/eureka/` (Spring Cloud's and the
//! Python client's defaults), so any Eureka client finds it with its default path. Reads answer
//! XML unless `Accept` contains `json`, exactly Eureka's rule; registrations may be JSON or
//! XML; responses are gzipped when asked. Beyond Eureka, reads take `?index=&wait=` to wait for
//! the next change (see [`registry_client::INDEX_HEADER`]).
//!
//! Who may call what is [`crate::auth`]'s: each change handler takes an
//! [`Authorized`](crate::auth::Authorized) naming the roles it admits. Changes made by clients
//! are replicated to the peers; changes marked with `x-netflix-discovery-replication: true`
//! come from a peer (the auth layer drops the mark from anyone else) and are not replicated
//! again.
//!
//! # Layout
//! - this module: [`routes`], and reading who is asking and the query parameters;
//! - `registration`: what instances do (register, renew, cancel) and what operators do to
//!   them (status overrides, metadata);
//! - `discovery`: what clients read, and watches;
//! - `replication`: the batch endpoint peers send their changes to;
//! - `status`: `GET /status` for operators, on the admin port ([`operator_routes`]);
//! - `negotiate`: JSON or XML by `Accept`;
//! - `error`: [`ApiError`], mapped to Eureka's status codes in one place;
//! - `openapi`: [`RegistryApi`], the OpenAPI document at `/openapi.json`.

mod discovery;
mod error;
mod negotiate;
mod openapi;
mod registration;
mod replication;
mod status;

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use registry_client::model::Status;

pub use error::{ApiError, ErrorBody};
pub use openapi::RegistryApi;

use crate::domain::Origin;
use crate::replication::REPLICATION_HEADER;
use crate::state::AppState;

/// Every call is a map lookup or a bounded wait; anything slower is stuck, and must not hold
/// up shutdown.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a watch may wait, safely inside [`REQUEST_TIMEOUT`].
const MAX_WATCH_WAIT: Duration = Duration::from_secs(8);
const DEFAULT_WATCH_WAIT: Duration = Duration::from_secs(5);

/// The API's routes: the Eureka endpoints under both mount points and `/openapi.json`.
/// [`crate::routes`] adds the state and the layers.
pub fn routes() -> Router<AppState> {
    let eureka = Router::new()
        .route("/apps", get(discovery::applications))
        // Jersey ignores a trailing slash, and the Python and JavaScript clients send one.
        .route("/apps/", get(discovery::applications))
        .route("/apps/delta", get(discovery::delta))
        .route(
            "/apps/{app}",
            post(registration::register).get(discovery::application),
        )
        .route(
            "/apps/{app}/{id}",
            get(discovery::instance)
                .put(registration::renew)
                .delete(registration::cancel),
        )
        .route(
            "/apps/{app}/{id}/status",
            put(registration::override_status).delete(registration::remove_status_override),
        )
        .route(
            "/apps/{app}/{id}/metadata",
            put(registration::update_metadata),
        )
        .route("/instances/{id}", get(discovery::instance_by_id))
        .route("/vips/{vip}", get(discovery::vip))
        .route("/svips/{svip}", get(discovery::svip))
        .route(
            "/peerreplication/batch",
            post(replication::replication_batch),
        );
    Router::new()
        .route("/openapi.json", get(openapi::openapi))
        .nest("/eureka/v2", eureka.clone())
        .nest("/eureka", eureka)
}

/// The API's operator endpoint, `GET /status`, for the admin listener.
pub fn operator_routes() -> Router<AppState> {
    Router::new().route("/status", get(status::status))
}

type Params = Query<HashMap<String, String>>;

/// Who asked: a peer marks the changes it replicates with the replication header.
fn origin(headers: &HeaderMap) -> Origin {
    let replicated = headers
        .get(REPLICATION_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    if replicated {
        Origin::Peer
    } else {
        Origin::Client
    }
}

fn parse_status(params: &HashMap<String, String>, key: &str) -> Option<Status> {
    params.get(key).map(|value| Status::parse(value))
}

fn parse_millis(params: &HashMap<String, String>, key: &str) -> Option<u64> {
    params.get(key).and_then(|value| value.trim().parse().ok())
}
