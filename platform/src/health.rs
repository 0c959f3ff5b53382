//! A service's health as one shared value.
//!
//! The HTTP endpoint (`GET /health`) and the registry status read the same [`Health`], so a
//! middle tier that loses its database is reported not-ready to load balancers and to the
//! registry at the same moment.

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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub status: Status,
    /// Why the service is not up, for humans; `None` when up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Cheap to clone; every clone sees and changes the same state.
#[derive(Clone, Debug)]
pub struct Health {
    tx: watch::Sender<Report>,
}

impl Health {
    pub fn new(status: Status) -> Self {
        Self {
            tx: watch::Sender::new(Report {
                status,
                reason: None,
            }),
        }
    }

    pub fn up() -> Self {
        Self::new(Status::Up)
    }

    pub fn set(&self, status: Status, reason: Option<String>) {
        let report = Report { status, reason };
        self.tx.send_if_modified(|current| {
            let changed = *current != report;
            *current = report;
            changed
        });
    }

    pub fn report(&self) -> Report {
        self.tx.borrow().clone()
    }

    pub fn status(&self) -> Status {
        self.tx.borrow().status
    }

    /// A receiver that wakes on every change (used to push status changes to the registry).
    pub fn subscribe(&self) -> watch::Receiver<Report> {
        self.tx.subscribe()
    }

    /// `GET /health`: 200 with `{"status":"UP"}` when up, 503 with the reason otherwise.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/health", get(health))
            .with_state(self.clone())
    }
}

async fn health(State(health): State<Health>) -> impl IntoResponse {
    let report = health.report();
    let code = if report.status == Status::Up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report))
}
