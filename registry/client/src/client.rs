//! [`RegistryClient`]: typed calls to Eureka's REST API, failing over across a list of
//! registries, and the `[registry]` settings every service reads.
//!
//! Credentials travel the way every Eureka client carries them: in the registry URL
//! (`http://user:secret@host:8761/eureka/v2/`). They are taken out of the URL when it is parsed
//! ([`RegistryUrl`]) and sent as `Authorization: Basic` on every call, so the URLs that errors
//! and logs print never hold the secret.

use std::sync::Arc;
use std::time::Duration;

use platform::config::{Secret, SecretUrl, redact_url_passwords};
use reqwest::{Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::model::{Applications, ApplicationsDocument, InstanceDocument, InstanceInfo};

/// Bounds each call to one registry, so an unreachable one fails over to the next quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A service's `[registry]` section (`RSS_REGISTRY__URL`, `RSS_REGISTRY__RENEWAL_INTERVAL`...).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSettings {
    /// Base URL of the Eureka API, with this service's registry credentials as its user
    /// info (`http://middletier:<secret>@host:8761/eureka/v2/`). A comma-separated list names
    /// several registries, tried in order on every call until one answers. Shown with its
    /// passwords redacted.
    pub url: SecretUrl,
    /// How often the lease is renewed.
    #[serde(with = "humantime_serde")]
    pub renewal_interval: Duration,
    /// How long the registry keeps the instance after the last renewal (sent as
    /// `leaseInfo.durationInSecs`, whole seconds rounded up).
    #[serde(with = "humantime_serde")]
    pub lease_duration: Duration,
    /// How often a [`Discovery`](crate::Discovery) refetches its VIP from a registry that cannot be watched (a
    /// plain Eureka) or after an error. The recipe used 2 s rather than Eureka's 30 s so new
    /// middle tiers take traffic quickly. Our registry is watched instead: a [`Discovery`](crate::Discovery)
    /// hears of a change as soon as it is made.
    #[serde(with = "humantime_serde")]
    pub fetch_interval: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            url: SecretUrl::new("http://127.0.0.1:8761/eureka/v2/"),
            renewal_interval: Duration::from_secs(30),
            lease_duration: Duration::from_secs(90),
            fetch_interval: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid registry URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    #[error("instance {id} of {app} is not registered")]
    NotRegistered { app: String, id: String },
    #[error("cannot reach the registry at {url}")]
    Unreachable {
        url: Url,
        #[source]
        source: reqwest::Error,
    },
    #[error("the registry at {url} answered {status}")]
    Status { url: Url, status: StatusCode },
    #[error("the registry at {url} sent an unreadable body")]
    Decode {
        url: Url,
        #[source]
        source: serde_json::Error,
    },
}

/// The response header carrying the registry's version, and the query parameters that make a
/// read wait for the next change (our extension; a plain Eureka ignores them).
pub const INDEX_HEADER: &str = "x-registry-index";
/// How long one watch waits before the registry answers unchanged.
pub const WATCH_WAIT: Duration = Duration::from_secs(5);

/// Typed calls to the Eureka API. Cheap to clone: clones share connections.
#[derive(Clone, Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    /// Each ends with `/` so endpoints are appended, not substituted.
    registries: Arc<[RegistryUrl]>,
    /// Sent with every request (peer replication marks its reads).
    extra_header: Option<(&'static str, &'static str)>,
}

/// The instances behind a VIP and, from a registry that supports watches, its version.
#[derive(Clone, Debug, Default)]
pub struct VipAnswer {
    pub instances: Vec<InstanceInfo>,
    /// `X-Registry-Index`; `None` from a plain Eureka.
    pub index: Option<u64>,
}

impl RegistryClient {
    pub fn new(settings: &ClientSettings) -> Result<RegistryClient, ClientError> {
        let registries = parse_registry_urls(settings.url.expose())?;
        let http = platform::http::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(ClientError::Build)?;
        Ok(RegistryClient {
            http,
            registries: registries.into(),
            extra_header: None,
        })
    }

    /// This client, sending `name: value` with every request.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> RegistryClient {
        self.extra_header = Some((name, value));
        self
    }

    /// The registries this client calls, in the order it tries them.
    pub fn registries(&self) -> &[RegistryUrl] {
        &self.registries
    }

    /// `POST /apps/{app}`.
    pub async fn register(&self, instance: &InstanceInfo) -> Result<(), ClientError> {
        let body = InstanceDocument {
            instance: instance.clone(),
        };
        let (url, response) = self
            .send(Method::POST, &["apps", &instance.app], Some(&body))
            .await?;
        expect_success(url, response.status())
    }

    /// `PUT /apps/{app}/{id}`; [`ClientError::NotRegistered`] when the registry has forgotten
    /// the instance, which the caller answers by registering again.
    pub async fn renew(&self, app: &str, id: &str) -> Result<(), ClientError> {
        let (url, response) = self.send(Method::PUT, &["apps", app, id], None).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(ClientError::NotRegistered {
                app: app.to_owned(),
                id: id.to_owned(),
            });
        }
        expect_success(url, response.status())
    }

    /// `DELETE /apps/{app}/{id}`.
    pub async fn cancel(&self, app: &str, id: &str) -> Result<(), ClientError> {
        let (url, response) = self.send(Method::DELETE, &["apps", app, id], None).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(ClientError::NotRegistered {
                app: app.to_owned(),
                id: id.to_owned(),
            });
        }
        expect_success(url, response.status())
    }

    /// `GET /apps`: the whole registry.
    pub async fn applications(&self) -> Result<Applications, ClientError> {
        let (url, response) = self.send(Method::GET, &["apps"], None).await?;
        expect_success(url.clone(), response.status())?;
        Ok(decode::<ApplicationsDocument>(url, response)
            .await?
            .applications)
    }

    /// `GET /vips/{vip}`: every instance serving `vip`, whatever its status.
    pub async fn vip(&self, vip: &str) -> Result<Vec<InstanceInfo>, ClientError> {
        Ok(self.vip_watch(vip, None).await?.instances)
    }

    /// `GET /vips/{vip}?index=&wait=`: with `since`, a registry that supports watches answers
    /// when its version differs from `since` (at once if it already does) or after
    /// [`WATCH_WAIT`]; a plain Eureka answers at once.
    pub async fn vip_watch(&self, vip: &str, since: Option<u64>) -> Result<VipAnswer, ClientError> {
        let query = since.map(|index| [("index", index.to_string()), ("wait", "5s".to_owned())]);
        let (url, response) = self
            .send_with(
                Method::GET,
                &["vips", vip],
                None,
                query.as_ref().map(|q| &q[..]),
            )
            .await?;
        let index = response
            .headers()
            .get(INDEX_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        // Eureka answers 404 rather than an empty list for a VIP nobody serves.
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(VipAnswer {
                instances: Vec::new(),
                index,
            });
        }
        expect_success(url.clone(), response.status())?;
        let applications = decode::<ApplicationsDocument>(url, response)
            .await?
            .applications;
        Ok(VipAnswer {
            instances: applications
                .application
                .into_iter()
                .flat_map(|app| app.instance)
                .collect(),
            index,
        })
    }

    /// Tries each registry in order; moves on when one is unreachable or failing (5xx).
    /// A 4xx is the registry's considered answer and is returned as is.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&InstanceDocument>,
    ) -> Result<(Url, reqwest::Response), ClientError> {
        self.send_with(method, segments, body, None).await
    }

    /// [`RegistryClient::send`] with query parameters; a watch (`wait`) gets the time it may
    /// wait on top of the usual request timeout.
    async fn send_with(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&InstanceDocument>,
        query: Option<&[(&str, String)]>,
    ) -> Result<(Url, reqwest::Response), ClientError> {
        let mut last_error = None;
        for base in self.registries.iter() {
            let url = endpoint(base.url(), segments);
            // Without it Eureka answers XML.
            let mut request = base.authorize(
                self.http
                    .request(method.clone(), url.clone())
                    .header(header::ACCEPT, "application/json"),
            );
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(query) = query {
                request = request.query(query).timeout(REQUEST_TIMEOUT + WATCH_WAIT);
            }
            if let Some((name, value)) = self.extra_header {
                request = request.header(name, value);
            }
            match request.send().await {
                Ok(response) if response.status().is_server_error() => {
                    last_error = Some(ClientError::Status {
                        url,
                        status: response.status(),
                    });
                }
                Ok(response) => return Ok((url, response)),
                Err(source) => last_error = Some(ClientError::Unreachable { url, source }),
            }
            if self.registries.len() > 1 {
                tracing::debug!(registry = %base.url(), "registry failed, trying the next one");
            }
        }
        Err(last_error.unwrap_or_else(|| ClientError::InvalidUrl {
            url: String::new(),
            reason: "no registry configured".to_owned(),
        }))
    }
}

/// One registry's base URL and the credentials to call it with, taken out of the URL's user
/// info so that the URL can be printed.
#[derive(Clone, Debug)]
pub struct RegistryUrl {
    /// Without user info; ends with `/`.
    url: Url,
    credentials: Option<Credentials>,
}

/// HTTP Basic credentials (`user:password@` in a registry URL, percent-decoded).
#[derive(Clone, Debug)]
struct Credentials {
    user: String,
    password: Secret,
}

impl RegistryUrl {
    /// The base URL, without credentials: safe to log.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The user name the URL carried, if any.
    pub fn user(&self) -> Option<&str> {
        self.credentials
            .as_ref()
            .map(|credentials| credentials.user.as_str())
    }

    /// `request` with this registry's credentials, if it has any (`Authorization: Basic`,
    /// marked sensitive so it is never logged).
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some(credentials) => {
                request.basic_auth(&credentials.user, Some(credentials.password.expose()))
            }
            None => request,
        }
    }
}

impl std::fmt::Display for RegistryUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.url.fmt(f)
    }
}

/// A comma-separated list of registry URLs, each checked to be `http(s)` and ended with `/`,
/// with its credentials taken out of the user info (the registry's peer list is read the same
/// way). Errors show the text with its passwords redacted.
pub fn parse_registry_urls(list: &str) -> Result<Vec<RegistryUrl>, ClientError> {
    let invalid = |url: &str, reason: &str| ClientError::InvalidUrl {
        url: redact_url_passwords(url),
        reason: reason.to_owned(),
    };
    let registries = list
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|text| {
            // `url`'s own message never quotes the input, so it cannot leak the password.
            let mut url = Url::parse(text).map_err(|error| invalid(text, &error.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                return Err(invalid(text, "expected an http or https URL"));
            }
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            let credentials = if url.username().is_empty() && url.password().is_none() {
                None
            } else {
                let decode = |part: &str| {
                    percent_encoding::percent_decode_str(part)
                        .decode_utf8()
                        .map(String::from)
                        .map_err(|_| invalid(text, "the user info is not UTF-8 once decoded"))
                };
                let credentials = Credentials {
                    user: decode(url.username())?,
                    password: Secret::new(decode(url.password().unwrap_or_default())?),
                };
                // Cannot fail on an http(s) URL, which always has a host.
                let _ = url.set_username("");
                let _ = url.set_password(None);
                Some(credentials)
            };
            Ok(RegistryUrl { url, credentials })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if registries.is_empty() {
        return Err(invalid(list, "no registry URL given"));
    }
    Ok(registries)
}

/// `base` with `segments` appended, each percent-encoded (instance ids contain `:`).
fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

fn expect_success(url: Url, status: StatusCode) -> Result<(), ClientError> {
    if status.is_success() {
        Ok(())
    } else {
        Err(ClientError::Status { url, status })
    }
}

async fn decode<T: serde::de::DeserializeOwned>(
    url: Url,
    response: reqwest::Response,
) -> Result<T, ClientError> {
    let body = response
        .bytes()
        .await
        .map_err(|source| ClientError::Unreachable {
            url: url.clone(),
            source,
        })?;
    serde_json::from_slice(&body).map_err(|source| ClientError::Decode { url, source })
}

/// An error and its causes on one line, for logs: `cannot reach ...: connection refused`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn settings(url: &str) -> ClientSettings {
        ClientSettings {
            url: url.into(),
            ..ClientSettings::default()
        }
    }

    #[test]
    fn new_rejects_urls_that_are_not_http() {
        for url in [
            "",
            " , ",
            "not a url",
            "mailto:someone@example.com",
            "ftp://host/eureka/",
        ] {
            let error = RegistryClient::new(&settings(url)).unwrap_err();
            assert!(
                matches!(error, ClientError::InvalidUrl { .. }),
                "{url:?}: {error}"
            );
        }
    }

    #[test]
    fn new_accepts_a_comma_separated_failover_list() {
        let client =
            RegistryClient::new(&settings("http://a:8761/eureka/v2, http://b:8761/eureka/"))
                .unwrap();
        let urls: Vec<_> = client
            .registries()
            .iter()
            .map(|r| r.url().as_str())
            .collect();
        assert_eq!(urls, ["http://a:8761/eureka/v2/", "http://b:8761/eureka/"]);
    }

    #[test]
    fn credentials_are_taken_out_of_the_url_so_it_prints_without_them() {
        let registries =
            parse_registry_urls("http://middle%20tier:s3cr%3At@a:8761/eureka/v2/,http://b/")
                .unwrap();
        assert_eq!(registries[0].url().as_str(), "http://a:8761/eureka/v2/");
        assert_eq!(registries[0].user(), Some("middle tier"));
        assert_eq!(registries[0].to_string(), "http://a:8761/eureka/v2/");
        assert!(!format!("{:?}", registries[0]).contains("s3cr"));
        let request = registries[0]
            .authorize(
                platform::http::client_builder()
                    .build()
                    .unwrap()
                    .get(registries[0].url().clone()),
            )
            .build()
            .unwrap();
        let authorization = request.headers()[header::AUTHORIZATION].clone();
        assert!(authorization.is_sensitive());
        // base64("middle tier:s3cr:t")
        assert_eq!(authorization, "Basic bWlkZGxlIHRpZXI6czNjcjp0");
        assert_eq!(registries[1].user(), None);
    }

    #[test]
    fn an_invalid_url_is_reported_without_its_password() {
        let error = parse_registry_urls("ftp://svc:hunter2@host/").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(error.to_string().contains("svc:[redacted]@host"), "{error}");
    }

    #[test]
    fn endpoints_encode_each_segment() {
        let base = Url::parse("http://a:8761/eureka/v2/").unwrap();
        let url = endpoint(&base, &["apps", "MIDDLETIER", "host:middletier/x:9191"]);
        assert_eq!(
            url.as_str(),
            "http://a:8761/eureka/v2/apps/MIDDLETIER/host:middletier%2Fx:9191"
        );
    }

    #[test]
    fn settings_read_human_readable_durations() {
        let parsed: ClientSettings =
            serde_json::from_str(r#"{"renewal_interval": "100ms", "fetch_interval": "1s"}"#)
                .unwrap();
        assert_eq!(parsed.renewal_interval, Duration::from_millis(100));
        assert_eq!(parsed.fetch_interval, Duration::from_secs(1));
        assert_eq!(parsed.lease_duration, Duration::from_secs(90));
        assert_eq!(parsed.url.expose(), "http://127.0.0.1:8761/eureka/v2/");
    }
}
