//! Fault injection for demos and tests: makes this middle tier slow, failing, hanging or out of
//! service on purpose, so the edge's breakers, fallbacks and balancing can be watched at work.
//!
//! Off unless `[chaos] enabled = true` (`RSS_CHAOS__ENABLED=true`): without it the middleware
//! is not installed and `/chaos` does not exist, whatever the other chaos settings say. The
//! switch is configuration, never a request, so a production deployment (which doesn't set it)
//! can't be made to misbehave by anyone who can reach the port. With it, faults start as
//! configured and can be changed at run time on the admin port (never the public one:
//! [`Chaos::wrap`] puts the faults on the API, [`Chaos::routes`] is what the admin listener
//! serves):
//!
//! - `GET /chaos`: the faults in force;
//! - `PUT /chaos` with a JSON body (any subset of `latency`, `error_rate`, `hang`,
//!   `out_of_service`; durations as `"300ms"`): changes them; `DELETE /chaos` clears them all.
//!
//! Faults apply to the API (`/middletier/...`) only; `/health` answers truthfully, except that
//! `out_of_service` reports `OUT_OF_SERVICE` so the registry, and through it every edge, stops
//! sending traffic while the process keeps running (the Eureka way of taking an instance out).
//! Errors follow the rate exactly and evenly (every other request at 0.5), not at random, so
//! tests and demos behave the same every run.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use middletier_api::ErrorBody;
use platform::health::{Health, Status};

/// `[chaos]`: all off by default. The fields after `enabled` are the faults in force at start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChaosSettings {
    /// The arming switch: without it nothing below has any effect and `/chaos` is absent.
    pub enabled: bool,
    /// Added before every API request is handled.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Share of API requests answered with 503, from 0.0 to 1.0.
    pub error_rate: f64,
    /// API requests never get an answer (until the client gives up).
    pub hang: bool,
    /// Report `OUT_OF_SERVICE`, so discovery stops routing here.
    pub out_of_service: bool,
}

impl ChaosSettings {
    pub fn faults(&self) -> Faults {
        Faults {
            latency: self.latency,
            error_rate: self.error_rate,
            hang: self.hang,
            out_of_service: self.out_of_service,
        }
    }
}

/// The faults in force.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added before every API request is handled.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Share of API requests answered with 503, from 0.0 to 1.0.
    pub error_rate: f64,
    /// API requests never get an answer (until the client gives up).
    pub hang: bool,
    /// Report `OUT_OF_SERVICE`, so discovery stops routing here.
    pub out_of_service: bool,
}

/// A partial update from `PUT /chaos`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsUpdate {
    #[serde(default, with = "humantime_serde")]
    latency: Option<Duration>,
    error_rate: Option<f64>,
    hang: Option<bool>,
    out_of_service: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct Chaos {
    enabled: bool,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    faults: Mutex<(Faults, ErrorPacer)>,
    health: Health,
}

/// Spreads errors evenly at exactly the configured rate.
#[derive(Debug, Default)]
struct ErrorPacer {
    requests: u64,
    errors: u64,
}

impl ErrorPacer {
    fn should_fail(&mut self, rate: f64) -> bool {
        let rate = rate.clamp(0.0, 1.0);
        self.requests += 1;
        let due = (self.requests as f64 * rate).floor() as u64;
        if due > self.errors {
            self.errors = due;
            true
        } else {
            false
        }
    }
}

impl Chaos {
    pub fn new(settings: ChaosSettings, health: Health) -> Self {
        let chaos = Self {
            enabled: settings.enabled,
            shared: Arc::new(Shared {
                faults: Mutex::new((Faults::default(), ErrorPacer::default())),
                health,
            }),
        };
        if chaos.enabled {
            tracing::warn!("chaos is enabled: this instance may misbehave on purpose");
            chaos.set(settings.faults());
        }
        chaos
    }

    /// `api` with the faults applied; `api` untouched when chaos is disabled.
    pub fn wrap(&self, api: Router) -> Router {
        if !self.enabled {
            return api;
        }
        api.layer(middleware::from_fn_with_state(self.clone(), inject))
    }

    /// `/chaos`, to see and change the faults, for the admin listener; no route at all when
    /// chaos is disabled.
    pub fn routes(&self) -> Router {
        if !self.enabled {
            return Router::new();
        }
        Router::new()
            .route("/chaos", get(show).put(update).delete(clear))
            .with_state(self.clone())
    }

    pub fn faults(&self) -> Faults {
        self.lock().0.clone()
    }

    pub fn set(&self, faults: Faults) {
        let was_out = std::mem::replace(&mut self.lock().0, faults.clone()).out_of_service;
        if faults.out_of_service && !was_out {
            self.shared.health.set(
                Status::OutOfService,
                Some("taken out of service by chaos".to_owned()),
            );
        } else if !faults.out_of_service && was_out {
            self.shared.health.set(Status::Up, None);
        }
        tracing::warn!(?faults, "chaos faults changed");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Faults, ErrorPacer)> {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

async fn inject(State(chaos): State<Chaos>, request: Request, next: Next) -> Response {
    let (latency, hang, fail) = {
        let mut guard = chaos.lock();
        let (faults, pacer) = &mut *guard;
        let fail = faults.error_rate > 0.0 && pacer.should_fail(faults.error_rate);
        (faults.latency, faults.hang, fail)
    };
    if hang {
        // Until the client (or the server's request timeout) gives up.
        std::future::pending::<()>().await;
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if fail {
        let body = ErrorBody {
            error: "injected failure (chaos)".to_owned(),
            candidates: Vec::new(),
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    next.run(request).await
}

async fn show(State(chaos): State<Chaos>) -> Json<Faults> {
    Json(chaos.faults())
}

async fn update(
    State(chaos): State<Chaos>,
    Json(update): Json<FaultsUpdate>,
) -> Result<Json<Faults>, (StatusCode, String)> {
    let mut faults = chaos.faults();
    if let Some(rate) = update.error_rate {
        if !(0.0..=1.0).contains(&rate) {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                "error_rate must be between 0.0 and 1.0\n".to_owned(),
            ));
        }
        faults.error_rate = rate;
    }
    if let Some(latency) = update.latency {
        faults.latency = latency;
    }
    if let Some(hang) = update.hang {
        faults.hang = hang;
    }
    if let Some(out) = update.out_of_service {
        faults.out_of_service = out;
    }
    chaos.set(faults);
    Ok(Json(chaos.faults()))
}

async fn clear(State(chaos): State<Chaos>) -> Json<Faults> {
    chaos.set(Faults::default());
    Json(chaos.faults())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use reqwest::Method;

    fn api() -> Router {
        Router::new().route("/middletier/rss/user/{user}", get(|| async { "ok" }))
    }

    /// Serves `router` on a loopback port; returns its base URL.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{address}")
    }

    async fn status(base: &str, method: Method, path: &str, body: &str) -> StatusCode {
        let response = platform::http::client_builder()
            .build()
            .unwrap()
            .request(method, format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        StatusCode::from_u16(response.status().as_u16()).unwrap()
    }

    async fn get_api(base: &str) -> StatusCode {
        status(base, Method::GET, "/middletier/rss/user/a", "").await
    }

    async fn armed(faults: Faults, health: Health) -> (Chaos, String) {
        let settings = ChaosSettings {
            enabled: true,
            ..ChaosSettings::default()
        };
        let chaos = Chaos::new(settings, health);
        chaos.set(faults);
        let base = serve(chaos.wrap(api()).merge(chaos.routes())).await;
        (chaos, base)
    }

    #[tokio::test]
    async fn disabled_chaos_injects_nothing_and_has_no_endpoint() {
        let settings = ChaosSettings {
            enabled: false,
            error_rate: 1.0,
            hang: true,
            ..ChaosSettings::default()
        };
        let chaos = Chaos::new(settings, Health::up());
        let base = serve(chaos.wrap(api()).merge(chaos.routes())).await;
        assert_eq!(get_api(&base).await, StatusCode::OK);
        let put = status(&base, Method::PUT, "/chaos", r#"{"error_rate":1.0}"#).await;
        assert_eq!(put, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn errors_follow_the_rate_exactly() {
        let faults = Faults {
            error_rate: 0.5,
            ..Faults::default()
        };
        let (_, base) = armed(faults, Health::up()).await;
        let mut failed = 0;
        for _ in 0..10 {
            if get_api(&base).await == StatusCode::SERVICE_UNAVAILABLE {
                failed += 1;
            }
        }
        assert_eq!(failed, 5);
    }

    #[tokio::test]
    async fn latency_is_added_and_hang_never_answers() {
        let faults = Faults {
            latency: Duration::from_millis(200),
            ..Faults::default()
        };
        let (chaos, base) = armed(faults, Health::up()).await;
        let started = std::time::Instant::now();
        assert_eq!(get_api(&base).await, StatusCode::OK);
        assert!(started.elapsed() >= Duration::from_millis(200));

        chaos.set(Faults {
            hang: true,
            ..Faults::default()
        });
        let answered = tokio::time::timeout(Duration::from_millis(500), get_api(&base)).await;
        assert!(answered.is_err(), "a hung request never answers");
    }

    #[tokio::test]
    async fn faults_change_at_run_time_and_out_of_service_reaches_health() {
        let health = Health::up();
        let (_, base) = armed(Faults::default(), health.clone()).await;
        let body = r#"{"error_rate":1.0,"out_of_service":true}"#;
        assert_eq!(
            status(&base, Method::PUT, "/chaos", body).await,
            StatusCode::OK
        );
        assert_eq!(health.status(), Status::OutOfService);
        assert_eq!(get_api(&base).await, StatusCode::SERVICE_UNAVAILABLE);
        let invalid = status(&base, Method::PUT, "/chaos", r#"{"error_rate":2}"#).await;
        assert_eq!(invalid, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            status(&base, Method::DELETE, "/chaos", "").await,
            StatusCode::OK
        );
        assert_eq!(health.status(), Status::Up);
        assert_eq!(get_api(&base).await, StatusCode::OK);
    }
}
