//! What clients read: every application, the recent changes, one application or instance,
//! the instances behind a VIP. Reads of several applications may wait for the next change
//! (`?index=N&wait=5s`), and every client read answers 503 until the node has copied its
//! peers.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use registry_client::model::{ApplicationDocument, ApplicationsDocument, InstanceDocument};

use super::negotiate::{applications_response, instance_response, negotiate};
use super::{
    ApiError, DEFAULT_WATCH_WAIT, ErrorBody, MAX_WATCH_WAIT, Params, origin, parse_millis,
};
use crate::domain::Origin;
use crate::state::AppState;
use crate::xml;

/// Client reads wait for the initial sync; a peer's reads (its own initial sync) never do.
fn check_ready(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if origin(headers) == Origin::Client && !state.ready.load(Ordering::Acquire) {
        return Err(ApiError::NotReady);
    }
    Ok(())
}

/// `?index=N&wait=5s`: holds the read until the registry's version differs from `N`, `wait`
/// passes (capped at 8 s) or the server shuts down. Without `index`, answers at once.
async fn wait_for_change(state: &AppState, params: &HashMap<String, String>) {
    let Some(index) = parse_millis(params, "index") else {
        return;
    };
    let wait = params
        .get("wait")
        .and_then(|wait| parse_wait(wait))
        .unwrap_or(DEFAULT_WATCH_WAIT)
        .min(MAX_WATCH_WAIT);
    let mut versions = state.registry.subscribe();
    tokio::select! {
        _ = versions.wait_for(|version| *version != index) => {}
        () = tokio::time::sleep(wait) => {}
        () = state.shutdown.cancelled() => {}
    }
}

/// `500ms`, `5s` or plain seconds.
fn parse_wait(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(millis) = text.strip_suffix("ms") {
        return millis.trim().parse().ok().map(Duration::from_millis);
    }
    let seconds = text.strip_suffix('s').unwrap_or(text);
    seconds.trim().parse().ok().map(Duration::from_secs)
}

#[utoipa::path(
    get,
    path = "/eureka/v2/apps",
    tag = "discovery",
    summary = "Every application and its instances (`?index=N&wait=5s` waits for a change)",
    responses(
        (status = 200, description = "The registry; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationsDocument = "application/json"), (String = "application/xml")), headers(("X-Registry-Index" = String, description = "The registry version this answer reflects"))),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
pub(super) async fn applications(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    // A peer copying this node at start-up takes each instance's owner along.
    let applications = if origin(&headers) == Origin::Peer {
        state.registry.replicas()
    } else {
        state.registry.applications()
    };
    Ok(applications_response(&headers, applications))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/apps/delta",
    tag = "discovery",
    summary = "Changes of the last few minutes, with the whole registry's hash code",
    responses(
        (status = 200, description = "Recent changes; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationsDocument = "application/json"), (String = "application/xml")), headers(("X-Registry-Index" = String, description = "The registry version this answer reflects"))),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
pub(super) async fn delta(
    State(state): State<AppState>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    Ok(applications_response(&headers, state.registry.delta()))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/apps/{app}",
    tag = "discovery",
    summary = "One application and its instances",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER")),
    responses(
        (status = 200, description = "The application; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationDocument = "application/json"), (String = "application/xml"))),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 404, description = "No such application or instance (empty body, as Eureka's)"),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
pub(super) async fn application(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    let document = ApplicationDocument {
        application: state.registry.application(&app)?,
    };
    Ok(negotiate(&headers, &document, || {
        xml::application(&document.application)
    }))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/apps/{app}/{id}",
    tag = "discovery",
    summary = "One instance",
    params(("app" = String, Path, description = "Application name (case-insensitive)", example = "MIDDLETIER"), ("id" = String, Path, description = "Instance id", example = "127.0.0.1:middletier:9191")),
    responses(
        (status = 200, description = "The instance; JSON when `Accept` contains `json`, else Eureka's XML", content((InstanceDocument = "application/json"), (String = "application/xml"))),
        (status = 400, description = "Malformed or missing input", body = ErrorBody),
        (status = 404, description = "No such application or instance (empty body, as Eureka's)"),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
pub(super) async fn instance(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    Ok(instance_response(
        &headers,
        state.registry.instance(&app, &id)?,
    ))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/instances/{id}",
    tag = "discovery",
    summary = "One instance, by id alone",
    params(("id" = String, Path, description = "Instance id", example = "127.0.0.1:middletier:9191")),
    responses(
        (status = 200, description = "The instance; JSON when `Accept` contains `json`, else Eureka's XML", content((InstanceDocument = "application/json"), (String = "application/xml"))),
        (status = 404, description = "No such instance"),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
pub(super) async fn instance_by_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    match state.registry.instance_by_id(&id) {
        Some(info) => Ok(instance_response(&headers, info)),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

#[utoipa::path(
    get,
    path = "/eureka/v2/vips/{vip}",
    tag = "discovery",
    summary = "The instances serving a VIP address",
    params(("vip" = String, Path, description = "VIP address", example = "middletier")),
    responses(
        (status = 200, description = "The applications with instances serving it; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationsDocument = "application/json"), (String = "application/xml")), headers(("X-Registry-Index" = String, description = "The registry version this answer reflects"))),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
pub(super) async fn vip(
    State(state): State<AppState>,
    Path(vip): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    Ok(applications_response(&headers, state.registry.vip(&vip)))
}

#[utoipa::path(
    get,
    path = "/eureka/v2/svips/{svip}",
    tag = "discovery",
    summary = "The instances serving a secure VIP address",
    params(("svip" = String, Path, description = "Secure VIP address")),
    responses(
        (status = 200, description = "The applications with instances serving it; JSON when `Accept` contains `json`, else Eureka's XML", content((ApplicationsDocument = "application/json"), (String = "application/xml")), headers(("X-Registry-Index" = String, description = "The registry version this answer reflects"))),
        (status = 503, description = "The node is still copying its peers' registry; read another node", body = ErrorBody),
    )
)]
pub(super) async fn svip(
    State(state): State<AppState>,
    Path(svip): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_ready(&state, &headers)?;
    wait_for_change(&state, &params).await;
    Ok(applications_response(&headers, state.registry.svip(&svip)))
}
