//! A service's health as one shared value: liveness, and readiness made of named checks.
//!
//! - `GET /healthz` (liveness): 200 whenever the process serves HTTP at all. A failing
//!   liveness probe means "restart me", so it never depends on anything outside the process.
//! - `GET /readyz` (readiness): 200 when every check is `UP`, else 503; the body names each
//!   check's status and reason. A failing readiness probe means "send me no traffic".
//! - `GET /health`: the readiness status and reason alone, in the shape Eureka health checks
//!   and the existing tooling read (`{"status":"UP"}`).
//!
//! Each dependency reports through its own [`Check`] (`store`, `peers`, `discovery`, and
//! `service` for [`Health::set`]), so one check can't overwrite another's verdict: chaos taking
//! an instance out of service stays in force while the store probe keeps reporting `UP`. The
//! overall status is the worst check's, in the order DOWN, OUT_OF_SERVICE, STARTING, UP.
//!
//! The registry status comes from the same value ([`Health::subscribe`]), so a middle tier that
//! loses its database is reported not-ready to load balancers and to the registry at the same
//! moment.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde::Serialize;
use tokio::sync::watch;

/// Readiness states, named as Eureka names instance statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Ready to serve traffic.
    Up,
    /// Running but unable to serve (a dependency is down).
    Down,
    /// Still starting; not ready yet.
    Starting,
    /// Taken out of rotation on purpose (e.g. while shutting down).
    OutOfService,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Down => "DOWN",
            Status::Starting => "STARTING",
            Status::OutOfService => "OUT_OF_SERVICE",
        }
    }

    /// Higher is worse: what the overall status is when checks disagree.
    fn severity(self) -> u8 {
        match self {
            Status::Up => 0,
            Status::Starting => 1,
            Status::OutOfService => 2,
            Status::Down => 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub status: Status,
    /// Why the service is not up, for humans; `None` when up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The check [`Health::set`] reports through.
const SERVICE_CHECK: &str = "service";

/// Cheap to clone; every clone sees and changes the same state.
#[derive(Clone, Debug)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    checks: Mutex<BTreeMap<String, Report>>,
    overall: watch::Sender<Report>,
}

impl Health {
    /// Health whose `service` check starts at `status`.
    pub fn new(status: Status) -> Self {
        let report = Report {
            status,
            reason: None,
        };
        Self {
            inner: Arc::new(Inner {
                checks: Mutex::new(BTreeMap::from([(SERVICE_CHECK.to_owned(), report.clone())])),
                overall: watch::Sender::new(report),
            }),
        }
    }

    pub fn up() -> Self {
        Self::new(Status::Up)
    }

    /// Sets the `service` check: the service's own verdict (chaos, start-up).
    pub fn set(&self, status: Status, reason: Option<String>) {
        self.set_check(SERVICE_CHECK, status, reason);
    }

    /// A named check, e.g. `store`. It counts from now on, starting as `status`.
    pub fn check(&self, name: &str, status: Status) -> Check {
        self.set_check(name, status, None);
        Check {
            health: self.clone(),
            name: name.to_owned(),
        }
    }

    fn set_check(&self, name: &str, status: Status, reason: Option<String>) {
        let mut checks = self.lock();
        checks.insert(name.to_owned(), Report { status, reason });
        // Computed under the lock, so concurrent changes publish in the order they were made.
        let overall = checks
            .values()
            .max_by_key(|report| report.status.severity())
            .cloned()
            .unwrap_or(Report {
                status: Status::Up,
                reason: None,
            });
        self.inner.overall.send_if_modified(|current| {
            let changed = *current != overall;
            *current = overall;
            changed
        });
    }

    /// The overall readiness.
    pub fn report(&self) -> Report {
        self.inner.overall.borrow().clone()
    }

    pub fn status(&self) -> Status {
        self.inner.overall.borrow().status
    }

    /// Every check's report, by name.
    pub fn checks(&self) -> BTreeMap<String, Report> {
        self.lock().clone()
    }

    /// A receiver that wakes on every change of the overall readiness (used to push status
    /// changes to the registry).
    pub fn subscribe(&self) -> watch::Receiver<Report> {
        self.inner.overall.subscribe()
    }

    /// `GET /health`, `GET /healthz` and `GET /readyz` (see the module docs).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/health", get(health))
            .route("/healthz", get(alive))
            .route("/readyz", get(ready))
            .with_state(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Report>> {
        // Every change is one insert: a poisoned map is still consistent.
        self.inner
            .checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One dependency's say in readiness. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Check {
    health: Health,
    name: String,
}

impl Check {
    pub fn set(&self, status: Status, reason: Option<String>) {
        self.health.set_check(&self.name, status, reason);
    }

    pub fn status(&self) -> Status {
        self.health
            .lock()
            .get(&self.name)
            .map_or(Status::Up, |report| report.status)
    }
}

fn code(status: Status) -> StatusCode {
    if status == Status::Up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn health(State(health): State<Health>) -> impl IntoResponse {
    let report = health.report();
    (code(report.status), Json(report))
}

async fn alive() -> impl IntoResponse {
    Json(Report {
        status: Status::Up,
        reason: None,
    })
}

#[derive(Serialize)]
struct Readiness {
    #[serde(flatten)]
    overall: Report,
    checks: BTreeMap<String, Report>,
}

async fn ready(State(health): State<Health>) -> impl IntoResponse {
    let readiness = Readiness {
        overall: health.report(),
        checks: health.checks(),
    };
    (code(readiness.overall.status), Json(readiness))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_check_decides_and_checks_do_not_overwrite_each_other() {
        let health = Health::up();
        let store = health.check("store", Status::Starting);
        assert_eq!(health.status(), Status::Starting);
        store.set(Status::Up, None);
        assert_eq!(health.status(), Status::Up);
        health.set(Status::OutOfService, Some("chaos".to_owned()));
        // The store probe reporting UP again must not put the instance back in service.
        store.set(Status::Up, None);
        assert_eq!(health.status(), Status::OutOfService);
        store.set(Status::Down, Some("Cassandra is unreachable".to_owned()));
        assert_eq!(
            health.report(),
            Report {
                status: Status::Down,
                reason: Some("Cassandra is unreachable".to_owned())
            }
        );
        health.set(Status::Up, None);
        store.set(Status::Up, None);
        assert_eq!(health.status(), Status::Up);
        assert_eq!(health.checks().len(), 2);
    }

    #[test]
    fn subscribers_wake_only_on_overall_changes() {
        let health = Health::up();
        let mut changes = health.subscribe();
        changes.borrow_and_update();
        let store = health.check("store", Status::Up);
        assert!(!changes.has_changed().unwrap_or(true));
        store.set(Status::Down, None);
        assert!(changes.has_changed().unwrap_or(false));
    }
}
