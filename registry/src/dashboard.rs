//! The registry dashboard at `/` and `/dashboard` of the admin port: applications, instances,
//! status, lease age, replication peers and self-preservation, in the spirit of Eureka's
//! status page.
//!
//! Rendered with askama from `templates/registry*.html` (auto-escaped, like the edge's pages),
//! with its own stylesheet served by the registry and no script: it reloads itself. The page
//! itself is mounted by [`crate::routes::operator_routes`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use registry_client::model::Status;

use crate::domain::{LeaseView, SelfPreservation};
use crate::state::AppState;

const REFRESH_SECS: u32 = 5;

#[derive(Template)]
#[template(path = "registry.html")]
struct Dashboard {
    node: String,
    refresh_secs: u32,
    ready: bool,
    instances: usize,
    version: u64,
    renewals: u64,
    preservation: SelfPreservation,
    threshold_percent: String,
    allowance: String,
    peers: Vec<PeerRow>,
    apps: Vec<AppRows>,
}

struct PeerRow {
    url: String,
    queued: usize,
    sent: u64,
    dropped: u64,
    last_success: String,
    last_error: Option<String>,
    error: String,
}

struct AppRows {
    name: String,
    rows: Vec<InstanceRow>,
}

struct InstanceRow {
    id: String,
    status: &'static str,
    overridden: &'static str,
    class: &'static str,
    address: String,
    /// `homePageUrl` when it is an http(s) URL, the only kind linked; anything else a client
    /// registered (`javascript:`...) is shown as text.
    home: Option<String>,
    vip: String,
    age: String,
    since_renewal: String,
    lease: String,
    expired: bool,
}

impl InstanceRow {
    fn from_view(view: &LeaseView) -> InstanceRow {
        let info = &view.info;
        let class = match info.status {
            Status::Up => "up",
            Status::OutOfService => "out",
            Status::Down | Status::Unknown => "down",
            Status::Starting => "starting",
        };
        let overridden = match info.overridden_status {
            Status::Unknown => "",
            status => status.as_str(),
        };
        InstanceRow {
            id: info.instance_id.clone(),
            status: info.status.as_str(),
            overridden,
            class,
            address: format!("{}:{}", info.host_name, info.port.port),
            home: web_link(&info.home_page_url),
            vip: info.vip_address.clone(),
            age: short(view.age),
            since_renewal: short(view.since_renewal),
            lease: short(view.duration),
            expired: view.expired,
        }
    }
}

/// `3.2s`, `4m 10s`, `2h 5m`: enough precision to tell a fresh lease from a stale one.
fn short(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{:.1}s", duration.as_secs_f64()),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// The dashboard page for the registry as it is now.
pub fn render(state: &AppState) -> Result<String, askama::Error> {
    let snapshot = state.registry.snapshot();
    let preservation = snapshot.self_preservation;
    let peers = state
        .peers
        .status()
        .into_iter()
        .map(|peer| PeerRow {
            url: peer.url,
            queued: peer.queued,
            sent: peer.sent,
            dropped: peer.dropped,
            last_success: peer.last_success_ms_ago.map_or_else(
                || "never".to_owned(),
                |ms| short(Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))) + " ago",
            ),
            error: peer.last_error.clone().unwrap_or_default(),
            last_error: peer.last_error,
        })
        .collect();
    let apps: Vec<AppRows> = snapshot
        .apps
        .iter()
        .map(|(name, views)| AppRows {
            name: name.clone(),
            rows: views.iter().map(InstanceRow::from_view).collect(),
        })
        .collect();
    Dashboard {
        node: state.node.clone(),
        refresh_secs: REFRESH_SECS,
        ready: state.ready.load(Ordering::Acquire),
        instances: apps.iter().map(|app| app.rows.len()).sum(),
        version: snapshot.version,
        renewals: snapshot.renewals,
        threshold_percent: format!("{:.0}", preservation.threshold * 100.0),
        allowance: if preservation.allowance == usize::MAX {
            "any".to_owned()
        } else {
            preservation.allowance.to_string()
        },
        preservation,
        peers,
        apps,
    }
    .render()
}

/// The dashboard's own assets: `/registry.css`.
/// `url` if it is an absolute http(s) URL, the only links the dashboard makes of what clients
/// registered.
fn web_link(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .filter(|parsed| matches!(parsed.scheme(), "http" | "https"))
        .map(|_| url.to_owned())
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/registry.css", get(stylesheet))
}

/// `GET /registry.css`.
async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/registry.css"),
    )
}

#[cfg(test)]
mod tests {
    use super::web_link;

    #[test]
    fn only_http_urls_become_links() {
        assert!(web_link("http://10.0.0.1:9191/").is_some());
        assert!(web_link("https://host/").is_some());
        for hostile in [
            "javascript:alert(1)",
            "data:text/html,<b>",
            "//evil/",
            "vbscript:x",
        ] {
            assert_eq!(web_link(hostile), None, "{hostile}");
        }
    }
}
