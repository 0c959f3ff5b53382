//! [`MiddletierClient`]: the typed client for the middle tier's API, used by the edge.
//!
//! It talks to one instance per call (`base` is chosen by the caller's load balancer) and
//! classifies failures the way a balancer needs: could not connect (safe to retry anywhere),
//! timed out, rejected as a bad request (the caller's fault: never retried, never counted
//! against the instance), or failed on the server.
//!
//! Every answer is read with a cap on its decoded size ([`DEFAULT_MAX_ANSWER_BYTES`], or
//! [`MiddletierClient::with_max_answer_bytes`]): the client accepts gzip and brotli, so a few
//! kilobytes on the wire could otherwise inflate to gigabytes in the caller's memory. An
//! answer over the cap is the instance's failure ([`CallError::TooLarge`]), like a 5xx.

mod apps;
mod checks;
mod icons;
mod preferences;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use platform::config::Secret;

pub use checks::Checked;
pub use icons::IconFile;

use crate::wire::{
    Account, Candidate, CategoryChange, ErrorBody, ItemQuery, ItemStateChange, MarkRead,
    MarkedRead, NewAccount, NewSession, OpmlImport, PasswordChange, River, RiverItem, RiverQuery,
    SearchQuery, SearchResults, Session, SubscriptionChange, USER_PATH, UserFeeds,
};

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("could not connect to the middle tier: {0}")]
    Connect(String),
    #[error("the middle tier did not answer in time")]
    Timeout,
    /// 4xx: the request itself is wrong; `message` is meant for the user.
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    /// 300: the URL is a web page linking several feeds; the user picks one.
    #[error("{message}")]
    Choose {
        message: String,
        candidates: Vec<Candidate>,
    },
    #[error("the middle tier failed ({status}): {message}")]
    Server { status: StatusCode, message: String },
    #[error("unexpected answer from the middle tier: {0}")]
    Protocol(String),
    /// The answer, decoded, is over the client's cap: the instance is faulty (or not a middle
    /// tier), never the caller.
    #[error("the middle tier's answer is over {limit} bytes")]
    TooLarge { limit: usize },
}

/// The largest answer read by default, decoded: far above a river page or a large user's feed
/// list, and small enough that a few concurrent calls can't exhaust the caller's memory.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The most a body's buffer is sized to up front from its announced length; a longer body
/// grows the buffer as it arrives, counted against the cap.
const PRESIZE_MAX_BYTES: usize = 1024 * 1024;

/// Error bodies are a sentence (and a few feed candidates): read at most this much of one.
const MAX_ERROR_BYTES: usize = 64 * 1024;

impl CallError {
    /// A bad request is the caller's fault: not retried, not a failure of the instance.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, CallError::Rejected { .. } | CallError::Choose { .. })
    }

    /// The request never reached the instance, so retrying elsewhere can't apply it twice.
    pub fn is_connect(&self) -> bool {
        matches!(self, CallError::Connect(_))
    }
}

/// How long an idle connection to a middle tier is kept for the next call.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct MiddletierClient {
    http: reqwest::Client,
    /// The middle tier's service token, sent as `Authorization: Bearer` on every call.
    token: Option<Secret>,
    /// The largest answer read, decoded; larger ones fail with [`CallError::TooLarge`].
    max_answer_bytes: usize,
}

impl MiddletierClient {
    /// `read_timeout` bounds one attempt (Ribbon's ReadTimeout); callers bound the whole
    /// command, retries included, on their side.
    pub fn new(connect_timeout: Duration, read_timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = Self::builder(connect_timeout, read_timeout).build()?;
        Ok(Self {
            http,
            token: None,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
        })
    }

    /// [`MiddletierClient::new`] over mutual TLS only: `tls` (from
    /// `platform::tls::Identity::client_config("middletier")`) presents the caller's
    /// certificate and accepts only a server proving it is a middle tier; plain `http://`
    /// URLs are refused before anything is sent.
    pub fn with_tls(
        connect_timeout: Duration,
        read_timeout: Duration,
        tls: rustls::ClientConfig,
    ) -> Result<Self, reqwest::Error> {
        let http = Self::builder(connect_timeout, read_timeout)
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .build()?;
        Ok(Self {
            http,
            token: None,
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
        })
    }

    fn builder(connect_timeout: Duration, read_timeout: Duration) -> reqwest::ClientBuilder {
        platform::http::client_builder()
            .connect_timeout(connect_timeout)
            .timeout(read_timeout)
            // Kept connections make handshakes rare; dropping them while idle before the
            // middle tier's `server.header_read_timeout` (10 s) closes them on its side means
            // a request is never sent down a connection being closed.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
    }

    /// Sends `token` on every call (the middle tier's `[api] token`); `None` sends none.
    pub fn with_token(mut self, token: Option<Secret>) -> Self {
        self.token = token.filter(|token| !token.expose().is_empty());
        self
    }

    /// Reads answers up to `bytes` decoded (at least 1 KiB, so error bodies still fit).
    pub fn with_max_answer_bytes(mut self, bytes: usize) -> Self {
        self.max_answer_bytes = bytes.max(1024);
        self
    }

    /// A request carrying the service token, if any, and the id of the request being served
    /// (`X-Request-Id`), so the middle tier logs under the same id. Every call goes through
    /// here.
    fn request(&self, method: Method, url: url::Url) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, url);
        if let Some(id) = platform::server::current_request_id() {
            request = request.header(platform::server::REQUEST_ID_HEADER, id.as_str());
        }
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    pub async fn feeds(&self, base: &url::Url, user: &str) -> Result<UserFeeds, CallError> {
        self.call(Method::GET, base, user, None).await
    }

    pub async fn subscribe(
        &self,
        base: &url::Url,
        user: &str,
        feed_url: &str,
    ) -> Result<SubscriptionChange, CallError> {
        self.call(Method::POST, base, user, Some(feed_url)).await
    }

    pub async fn unsubscribe(
        &self,
        base: &url::Url,
        user: &str,
        feed_url: &str,
    ) -> Result<SubscriptionChange, CallError> {
        self.call(Method::DELETE, base, user, Some(feed_url)).await
    }

    /// The user's subscriptions as an OPML document.
    pub async fn export_opml(&self, base: &url::Url, user: &str) -> Result<String, CallError> {
        let url = user_url(base, user, Some("opml"))?;
        let response = send(self.request(Method::GET, url)).await;
        let body = self.read(response?).await?;
        String::from_utf8(body).map_err(|e| CallError::Protocol(e.to_string()))
    }

    /// Imports an OPML document (idempotent: importing twice subscribes once).
    pub async fn import_opml(
        &self,
        base: &url::Url,
        user: &str,
        opml: Vec<u8>,
    ) -> Result<OpmlImport, CallError> {
        let url = user_url(base, user, Some("opml"))?;
        let response = send(self.request(Method::POST, url).body(opml)).await;
        self.json(response?).await
    }

    /// A page of the user's river of news.
    pub async fn river(
        &self,
        base: &url::Url,
        user: &str,
        query: &RiverQuery,
    ) -> Result<River, CallError> {
        let url = user_url(base, user, Some("items"))?;
        let response = send(self.request(Method::GET, url).query(query)).await;
        self.json(response?).await
    }

    /// A page of the items of the user's feeds matching a search.
    pub async fn search(
        &self,
        base: &url::Url,
        user: &str,
        query: &SearchQuery,
    ) -> Result<SearchResults, CallError> {
        let url = user_url(base, user, Some("search"))?;
        let response = send(self.request(Method::GET, url).query(query)).await;
        self.json(response?).await
    }

    /// One item of a feed the user subscribes to; a 404 (`Rejected`) when the user does not
    /// subscribe to the feed or the feed no longer holds the item.
    pub async fn item(
        &self,
        base: &url::Url,
        user: &str,
        query: &ItemQuery,
    ) -> Result<RiverItem, CallError> {
        let url = user_url(base, user, Some("item"))?;
        let response = send(self.request(Method::GET, url).query(query)).await;
        self.json(response?).await
    }

    /// Marks one item read/unread or starred/unstarred (idempotent).
    pub async fn set_item_state(
        &self,
        base: &url::Url,
        user: &str,
        change: &ItemStateChange,
    ) -> Result<ItemStateChange, CallError> {
        let mut url = user_url(base, user, Some("items"))?;
        push_segments(&mut url, &["state"])?;
        self.send_json(Method::POST, url, change).await
    }

    /// Marks a feed, a category or everything read (idempotent).
    pub async fn mark_read(
        &self,
        base: &url::Url,
        user: &str,
        mark: &MarkRead,
    ) -> Result<MarkedRead, CallError> {
        let mut url = user_url(base, user, Some("items"))?;
        push_segments(&mut url, &["read"])?;
        self.send_json(Method::POST, url, mark).await
    }

    /// Sets or clears the category of one subscription (idempotent).
    pub async fn set_category(
        &self,
        base: &url::Url,
        user: &str,
        change: &CategoryChange,
    ) -> Result<(), CallError> {
        let url = user_url(base, user, Some("category"))?;
        let response = send(self.request(Method::PUT, url).json(change)).await;
        response.map(drop)
    }

    /// Creates an account; `None` when the name is taken.
    pub async fn create_account(
        &self,
        base: &url::Url,
        account: &NewAccount,
    ) -> Result<Option<Account>, CallError> {
        let url = api_url(base, &["accounts"])?;
        match self.send_json(Method::POST, url, account).await {
            Err(CallError::Rejected { status, .. }) if status == StatusCode::CONFLICT => Ok(None),
            other => other.map(Some),
        }
    }

    pub async fn account(&self, base: &url::Url, user: &str) -> Result<Option<Account>, CallError> {
        let url = api_url(base, &["accounts", user])?;
        self.get_optional(url).await
    }

    /// Deletes the account and everything that is the user's; `false` when there is no such
    /// account.
    pub async fn delete_account(&self, base: &url::Url, user: &str) -> Result<bool, CallError> {
        let url = api_url(base, &["accounts", user])?;
        Ok(send_found(self.request(Method::DELETE, url))
            .await?
            .is_some())
    }

    /// Replaces the account's password hash; `false` when there is no such account.
    pub async fn set_password(
        &self,
        base: &url::Url,
        user: &str,
        change: &PasswordChange,
    ) -> Result<bool, CallError> {
        let url = api_url(base, &["accounts", user, "password"])?;
        let request = self.request(Method::PUT, url).json(change);
        Ok(send_found(request).await?.is_some())
    }

    pub async fn create_session(
        &self,
        base: &url::Url,
        session: &NewSession,
    ) -> Result<(), CallError> {
        let url = api_url(base, &["sessions"])?;
        let response = send(self.request(Method::POST, url).json(session)).await;
        response.map(drop)
    }

    /// The live session with this token hash; `None` when unknown or expired.
    pub async fn session(
        &self,
        base: &url::Url,
        token_hash: &str,
    ) -> Result<Option<Session>, CallError> {
        let url = api_url(base, &["sessions", token_hash])?;
        self.get_optional(url).await
    }

    /// Ends a session (also fine when it is unknown).
    pub async fn delete_session(&self, base: &url::Url, token_hash: &str) -> Result<(), CallError> {
        let url = api_url(base, &["sessions", token_hash])?;
        let response = send(self.request(Method::DELETE, url)).await;
        response.map(drop)
    }

    /// Ends every session of `user` ("sign out everywhere"; also fine when there are none).
    pub async fn delete_sessions_of(&self, base: &url::Url, user: &str) -> Result<(), CallError> {
        let url = api_url(base, &["accounts", user, "sessions"])?;
        let response = send(self.request(Method::DELETE, url)).await;
        response.map(drop)
    }

    async fn send_json<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: url::Url,
        body: &B,
    ) -> Result<T, CallError> {
        let response = send(self.request(method, url).json(body)).await;
        self.json(response?).await
    }

    /// GET, with 404 meaning "there is none".
    async fn get_optional<T: DeserializeOwned>(
        &self,
        url: url::Url,
    ) -> Result<Option<T>, CallError> {
        match send_found(self.request(Method::GET, url)).await? {
            Some(response) => self.json(response).await.map(Some),
            None => Ok(None),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        base: &url::Url,
        user: &str,
        feed_url: Option<&str>,
    ) -> Result<T, CallError> {
        let mut url = user_url(base, user, None)?;
        if let Some(feed_url) = feed_url {
            url.query_pairs_mut().append_pair("url", feed_url);
        }
        let response = send(self.request(method, url)).await;
        self.json(response?).await
    }
}

/// Reading answers within the cap.
impl MiddletierClient {
    async fn json<T: DeserializeOwned>(&self, response: reqwest::Response) -> Result<T, CallError> {
        let body = self.read(response).await?;
        serde_json::from_slice(&body).map_err(|e| CallError::Protocol(e.to_string()))
    }

    async fn read(&self, response: reqwest::Response) -> Result<Vec<u8>, CallError> {
        read_capped(response, self.max_answer_bytes).await
    }
}

/// The body, decoded, if it is at most `limit` bytes. Counted on the decoded chunks as they
/// arrive (never trusting `Content-Length`, which describes the compressed bytes, if it is
/// sent at all), so at most `limit` plus one chunk is ever held.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, CallError> {
    // Sized for the whole body when its length is announced (a river page is a hundred
    // kilobytes or so: growing into that copies it a dozen times), but never more than a
    // modest guess on the peer's word alone.
    let announced = response.content_length().unwrap_or(0);
    let mut body = Vec::with_capacity(
        usize::try_from(announced).map_or(0, |n| n.min(limit).min(PRESIZE_MAX_BYTES)),
    );
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(CallError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `{base}/middletier/{segments...}`, each segment encoded.
fn api_url(base: &url::Url, segments: &[&str]) -> Result<url::Url, CallError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| CallError::Protocol(format!("{base} cannot be a base URL")))?
        .pop_if_empty()
        .push("middletier");
    push_segments(&mut url, segments)?;
    Ok(url)
}

fn push_segments(url: &mut url::Url, segments: &[&str]) -> Result<(), CallError> {
    let text = url.to_string();
    url.path_segments_mut()
        .map_err(|()| CallError::Protocol(format!("{text} cannot be a base URL")))?
        .extend(segments);
    Ok(())
}

/// `{base}/middletier/rss/user/{user}[/{suffix}]`, each segment encoded.
fn user_url(base: &url::Url, user: &str, suffix: Option<&str>) -> Result<url::Url, CallError> {
    let mut url = base.clone();
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| CallError::Protocol(format!("{base} cannot be a base URL")))?;
        segments
            .pop_if_empty()
            .extend(USER_PATH.split('/'))
            .push(user);
        if let Some(suffix) = suffix {
            segments.push(suffix);
        }
    }
    Ok(url)
}

/// Sends `request`: the answer if it succeeded; otherwise the error it describes (a transport
/// failure or the error status), as every call classifies them.
async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, CallError> {
    check(request.send().await.map_err(transport_error)?).await
}

/// [`send`], with 404 meaning "there is none" (`None`) rather than an error.
async fn send_found(
    request: reqwest::RequestBuilder,
) -> Result<Option<reqwest::Response>, CallError> {
    let response = request.send().await.map_err(transport_error)?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    check(response).await.map(Some)
}

/// The response if it succeeded; otherwise the error it describes.
async fn check(response: reqwest::Response) -> Result<reqwest::Response, CallError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = read_capped(response, MAX_ERROR_BYTES).await;
    let parsed = body.and_then(|body| {
        serde_json::from_slice::<ErrorBody>(&body).map_err(|e| CallError::Protocol(e.to_string()))
    });
    let (message, candidates) = match parsed {
        Ok(body) => (body.error, body.candidates),
        Err(_) => (
            status.canonical_reason().unwrap_or("error").to_owned(),
            Vec::new(),
        ),
    };
    if status == StatusCode::MULTIPLE_CHOICES {
        Err(CallError::Choose {
            message,
            candidates,
        })
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        // A missing or wrong service token is the operator's misconfiguration, never the user's
        // request: it counts against the instance and its message stays out of pages.
        Err(CallError::Server { status, message })
    } else if status.is_client_error() {
        Err(CallError::Rejected { status, message })
    } else {
        Err(CallError::Server { status, message })
    }
}

fn transport_error(error: reqwest::Error) -> CallError {
    if error.is_timeout() {
        CallError::Timeout
    } else if error.is_connect() {
        CallError::Connect(error.without_url().to_string())
    } else {
        CallError::Protocol(error.without_url().to_string())
    }
}
