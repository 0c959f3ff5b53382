//! Typed client for the middle tier's API, used by the edge.
//!
//! It talks to one instance per call (`base` is chosen by the caller's load balancer) and
//! classifies failures the way a balancer needs: could not connect (safe to retry anywhere),
//! timed out, rejected as a bad request (the caller's fault: never retried, never counted
//! against the instance), or failed on the server.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::api::{ErrorBody, OpmlImport, SubscriptionChange, USER_PATH, UserFeeds};
use crate::discover::Candidate;

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
}

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

#[derive(Clone, Debug)]
pub struct MiddletierClient {
    http: reqwest::Client,
}

impl MiddletierClient {
    /// `read_timeout` bounds one attempt (Ribbon's ReadTimeout); callers bound the whole
    /// command, retries included, on their side.
    pub fn new(connect_timeout: Duration, read_timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = platform::http::client_builder()
            .connect_timeout(connect_timeout)
            .timeout(read_timeout)
            .build()?;
        Ok(Self { http })
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
        let response = self.http.get(url).send().await.map_err(transport_error)?;
        let response = check(response).await?;
        response
            .text()
            .await
            .map_err(|e| CallError::Protocol(e.to_string()))
    }

    /// Imports an OPML document (idempotent: importing twice subscribes once).
    pub async fn import_opml(
        &self,
        base: &url::Url,
        user: &str,
        opml: Vec<u8>,
    ) -> Result<OpmlImport, CallError> {
        let url = user_url(base, user, Some("opml"))?;
        let response = self
            .http
            .post(url)
            .body(opml)
            .send()
            .await
            .map_err(transport_error)?;
        let response = check(response).await?;
        response
            .json()
            .await
            .map_err(|e| CallError::Protocol(e.to_string()))
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
        let response = self
            .http
            .request(method, url)
            .send()
            .await
            .map_err(transport_error)?;
        let response = check(response).await?;
        response
            .json()
            .await
            .map_err(|e| CallError::Protocol(e.to_string()))
    }
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

/// The response if it succeeded; otherwise the error it describes.
async fn check(response: reqwest::Response) -> Result<reqwest::Response, CallError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let (message, candidates) = match response.json::<ErrorBody>().await {
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
