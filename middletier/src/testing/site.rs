//! [`Site`]: a website on loopback whose every path a test chooses (a feed, its home page, its
//! icons, hostile answers), for tests of what the refresher fetches beside feeds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use platform::lifecycle::Shutdown;

/// A real 16x16 orange PNG (79 bytes) that browsers decode: an icon for tests to serve.
pub const PNG_16: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00\x90\x91\x68\x36\x00\x00\x00\x16\x49\x44\x41\x54\x78\xda\x63\x78\x10\xa5\x4d\x12\x62\x18\xd5\x30\xaa\x61\xf8\x6a\x00\x00\x80\x1d\x65\x10\x35\x28\xca\xcc\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

/// What the site answers on one path.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 200 with this `Content-Type` and body.
    Body(&'static str, Vec<u8>),
    /// 302 to this URL.
    Redirect(String),
    /// 200, then one byte every 100 ms, forever.
    Slow,
    /// This status with an empty body (a failing publisher: 500, 404...).
    Status(u16),
}

impl Answer {
    /// 200 with a text body.
    pub fn text(content_type: &'static str, body: impl Into<String>) -> Self {
        Answer::Body(content_type, body.into().into_bytes())
    }
}

/// A website on `127.0.0.1:<random port>` answering only the paths it was given (404
/// elsewhere), stopped when dropped. Every request is counted by path.
#[derive(Debug)]
pub struct Site {
    base: String,
    state: Arc<SiteState>,
    shutdown: Shutdown,
}

#[derive(Debug, Default)]
struct SiteState {
    answers: Mutex<HashMap<String, Answer>>,
    requests: Mutex<HashMap<String, usize>>,
}

impl Site {
    /// Starts the site; `answers` gets its base URL (`http://127.0.0.1:port`, no slash) to
    /// write absolute links with.
    pub async fn start(answers: impl FnOnce(&str) -> Vec<(&'static str, Answer)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind site");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(SiteState::default());
        let site = Self {
            base,
            state,
            shutdown: Shutdown::new(),
        };
        for (path, answer) in answers(&site.base) {
            site.set(path, answer);
        }
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&site.state));
        let stop = site.shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .expect("site serves");
        });
        site
    }

    /// Answers `path` with `answer` from now on.
    pub fn set(&self, path: &str, answer: Answer) {
        lock(&self.state.answers).insert(path.to_owned(), answer);
    }

    /// The absolute URL of `path` on this site.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many requests for `path` (without the query) the site has received.
    pub fn requests(&self, path: &str) -> usize {
        lock(&self.state.requests).get(path).copied().unwrap_or(0)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn answer(State(state): State<Arc<SiteState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    *lock(&state.requests).entry(path.clone()).or_default() += 1;
    let found = lock(&state.answers).get(&path).cloned();
    match found {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Answer::Body(content_type, body)) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Some(Answer::Redirect(to)) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Some(Answer::Status(code)) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Some(Answer::Slow) => {
            let drip = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok::<_, Infallible>(Bytes::from_static(b"\0")), ()))
            });
            (
                [(header::CONTENT_TYPE, "image/png")],
                Body::from_stream(drip),
            )
                .into_response()
        }
    }
}
