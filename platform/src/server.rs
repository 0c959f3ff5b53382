//! Serving HTTP the same way in every service: one middleware stack, one accept loop
//! ([`serve_with`]: optional mutual TLS, a header-read timeout, a connection cap), graceful
//! shutdown.
//!
//! Every request gets a request id: the one in an incoming `X-Request-Id` header when it is
//! well-formed (1 to 64 of `A-Z a-z 0-9 . _ : -`), else a new one. It is put back in the
//! request's headers, returned in the response's, recorded as `request_id` on the request's
//! span (so every log line written while serving it carries it), and kept in a task-local for
//! the duration of the request, where [`current_request_id`] finds it: the edge's middle-tier
//! client sends it on every call, and the middle tier takes it from the header, so one user
//! request has one id in every service's logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Semaphore;
use tower::Service as _;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument;

use crate::lifecycle::Shutdown;
use crate::metrics::Metrics;

/// The header carrying the request id between the browser, the edge and the middle tier.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from outside; longer ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The internal cause of a 5xx. Handlers' error types put it in the response's extensions
/// instead of the body (which must say nothing internal); [`with_standard_layers`] logs it, so
/// every error is logged exactly once, by the transport.
#[derive(Clone, Debug)]
pub struct InternalError(pub String);

/// A validated request id (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Accepts `value` if it is 1 to 64 characters of `A-Z a-z 0-9 . _ : -`: enough for UUIDs
    /// and most tracing ids, and nothing that could forge a log line or a header.
    pub fn parse(value: &str) -> Option<RequestId> {
        let valid = !value.is_empty()
            && value.len() <= MAX_REQUEST_ID_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        valid.then(|| RequestId(value.to_owned()))
    }

    /// A new id: 32 hex digits, unique within the process and unlikely to repeat across
    /// processes (a per-process random key hashes a counter and the clock). Not a secret.
    pub fn generate() -> RequestId {
        use std::hash::{BuildHasher, Hasher};
        use std::sync::LazyLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static KEYS: LazyLock<(std::hash::RandomState, std::hash::RandomState)> =
            LazyLock::new(|| (std::hash::RandomState::new(), std::hash::RandomState::new()));
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let half = |keys: &std::hash::RandomState| {
            let mut hasher = keys.build_hasher();
            hasher.write_u64(count);
            hasher.write_u128(nanos);
            hasher.finish()
        };
        RequestId(format!("{:016x}{:016x}", half(&KEYS.0), half(&KEYS.1)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0)
            .unwrap_or_else(|_| unreachable!("request ids are validated header-safe ASCII"))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The id of the request being served by the current task, if any.
pub fn current_request_id() -> Option<RequestId> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `future` as part of the request `id` (what [`with_standard_layers`] does for each
/// request; tests and background work started on a request's behalf use it too).
pub async fn with_request_id<F: Future>(id: RequestId, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}

/// Wraps `router` in the stack every service uses (outermost first):
/// - request id, span and metrics (see the module docs and [`crate::metrics::HttpMetrics`]);
///   the registry is served at `/metrics` on the admin listener ([`crate::admin`]), not here;
/// - internal-error logging (see [`InternalError`]);
/// - `TimeoutLayer`: no request outlives `request_timeout` (also bounds graceful shutdown).
pub fn with_standard_layers(
    router: Router,
    request_timeout: Duration,
    metrics: &Metrics,
) -> Router {
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::map_response(log_internal_error))
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            observe,
        ))
}

async fn log_internal_error(response: Response) -> Response {
    if let Some(InternalError(cause)) = response.extensions().get::<InternalError>() {
        tracing::error!(status = %response.status(), %cause, "request failed");
    }
    response
}

/// One span per request with its id, route and method; the request counted and timed.
async fn observe(State(metrics): State<Metrics>, mut request: Request, next: Next) -> Response {
    let incoming = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok());
    let id = incoming
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    request
        .headers_mut()
        .insert(REQUEST_ID_HEADER, id.header_value());
    // The route template (`/middletier/rss/user/{user}`), never the raw path: bounded labels.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        service = metrics.service(),
        request_id = %id,
        method = %method,
        route = %route,
    );
    let started = Instant::now();
    let in_flight = metrics.http().start();
    let mut response = with_request_id(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    drop(in_flight);
    let elapsed = started.elapsed();
    metrics
        .http()
        .record(&method, &route, response.status(), elapsed);
    span.in_scope(|| {
        tracing::debug!(
            target: "access",
            status = response.status().as_u16(),
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    response
        .headers_mut()
        .insert(REQUEST_ID_HEADER, id.header_value());
    response
}

/// How a listener accepts connections: every service's listener is guarded the same way.
#[derive(Clone, Debug)]
pub struct Listening {
    /// Serve HTTPS with this configuration (which decides which client certificates are
    /// accepted, see [`crate::tls`]); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// A client must send a request's headers (and, with TLS, finish the handshake) within
    /// this long, or its connection is closed: a client trickling bytes can't hold a
    /// connection. An idle keep-alive connection is closed after it too.
    pub header_read_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog until one
    /// closes, so a flood of connections can't exhaust memory or file descriptors.
    pub max_connections: usize,
}

impl Default for Listening {
    fn default() -> Self {
        Self {
            tls: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The default of [`Listening::header_read_timeout`] (`server.header_read_timeout`).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default of [`Listening::max_connections`] (`server.max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// [`serve_with`] plain HTTP and the default limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, Listening::default()).await
}

/// Serves until `shutdown` is cancelled, then stops accepting and lets in-flight requests
/// finish (bounded by the request timeout); idle connections are closed at once.
///
/// Each connection is HTTP/1.1 (hyper), over TLS when `listening.tls` is set. Handlers may ask
/// for the peer's address (`ConnectInfo<SocketAddr>`): the edge limits sign-ins per address.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: Shutdown,
    listening: Listening,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(listening.max_connections));
    let tls = listening.tls.map(tokio_rustls::TlsAcceptor::from);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(listening.header_read_timeout);
    let http = Arc::new(http);
    let connections = GracefulShutdown::new();
    loop {
        // A slot first, then accept: beyond the cap, connections wait in the kernel's backlog.
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_closed) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let (http, tls, watcher) = (http.clone(), tls.clone(), connections.watcher());
        let handshake_timeout = listening.header_read_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let served = match tls {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
                Some(tls) => {
                    // The handshake is bounded like the headers: it can be trickled too.
                    let stream =
                        match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake refused");
                                return;
                            }
                            Err(_elapsed) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// What axum's own loop does: a client that hung up before accept is not our problem; running
/// out of file descriptors is, but retrying at once would spin, so wait a moment.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn request_ids_from_outside_are_bounded_and_plain() {
        assert!(RequestId::parse("3f2a9c1e-7b4d-4e8f-9a6b-1c2d3e4f5a6b").is_some());
        assert!(RequestId::parse("trace:abc_1.2").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse(&"a".repeat(65)).is_none());
        assert!(RequestId::parse("a b").is_none());
        assert!(RequestId::parse("a\r\nX-Evil: 1").is_none());
        assert!(RequestId::parse("\"quoted\"").is_none());
    }

    #[test]
    fn generated_ids_are_distinct_and_valid() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(RequestId::parse(a.as_str()), Some(a));
    }

    #[tokio::test]
    async fn the_request_id_is_visible_to_the_task_only_while_serving() {
        assert_eq!(current_request_id(), None);
        let id = RequestId::parse("abc").unwrap();
        let seen = with_request_id(id.clone(), async { current_request_id() }).await;
        assert_eq!(seen, Some(id));
    }
}
