//! HTTP caching headers, read and written: the validators a conditional GET sends back,
//! and the hints (`Cache-Control`, `Expires`, `Retry-After`) the refresh scheduler follows.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

/// Validators from the previous successful fetch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Caching hints from the response, for scheduling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheHints {
    /// `Cache-Control: max-age` (`s-maxage` is for shared caches, not us), else `Expires`
    /// minus `Date` (zero when `Expires` is in the past or invalid, as RFC 9111 says).
    pub max_age: Option<Duration>,
    /// `Cache-Control: no-cache` or `no-store`.
    pub no_cache: bool,
}

/// `request` made conditional on the validators of the previous success.
pub(super) fn with_validators(
    mut request: reqwest::RequestBuilder,
    validators: &Validators,
) -> reqwest::RequestBuilder {
    let value = |text: &Option<String>| text.as_deref().and_then(|t| HeaderValue::from_str(t).ok());
    if let Some(etag) = value(&validators.etag) {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(date) = value(&validators.last_modified) {
        request = request.header(header::IF_MODIFIED_SINCE, date);
    }
    request
}

/// A header's value as text, trimmed, if it has a non-empty one.
pub(super) fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    (!text.is_empty() && text.len() <= MAX_HEADER_TEXT).then(|| text.to_owned())
}

/// Longest header value kept (validators are stored with the feed and sent back): real
/// `ETag`s and dates are under a hundred bytes; a longer one is ignored, not cut.
const MAX_HEADER_TEXT: usize = 1024;

fn http_date(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|date| date.to_utc())
}

/// `Retry-After` as delay-seconds or an HTTP-date (a date in the past means "now").
pub(super) fn retry_after(
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let text = header_text(headers, header::RETRY_AFTER)?;
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = http_date(&text)?;
    Some((at - now).to_std().unwrap_or_default())
}

/// The caching hints of a response received at `now`.
pub(super) fn cache_hints(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> CacheHints {
    let mut hints = CacheHints::default();
    let directives = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for directive in directives {
        let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "max-age" => {
                hints.max_age = argument
                    .trim()
                    .trim_matches('"')
                    .parse()
                    .ok()
                    .map(Duration::from_secs);
            }
            "no-cache" | "no-store" => hints.no_cache = true,
            _ => {}
        }
    }
    if hints.max_age.is_none()
        && let Some(expires) = header_text(headers, header::EXPIRES)
    {
        let date = header_text(headers, header::DATE)
            .and_then(|date| http_date(&date))
            .unwrap_or(now);
        hints.max_age = Some(
            http_date(&expires)
                .and_then(|expires| (expires - date).to_std().ok())
                .unwrap_or_default(),
        );
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_header_values_are_ignored_not_stored() {
        let etag = |value: &str| {
            let headers = HeaderMap::from_iter([(
                header::ETAG,
                header::HeaderValue::from_str(value).expect("header"),
            )]);
            header_text(&headers, header::ETAG)
        };
        assert_eq!(etag("\"v1\"").as_deref(), Some("\"v1\""));
        assert_eq!(etag(&"x".repeat(MAX_HEADER_TEXT + 1)), None);
    }

    #[test]
    fn cache_control_max_age_wins_over_expires() {
        let now = chrono::Utc::now();
        let headers = HeaderMap::from_iter([
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, s-maxage=60, max-age=600"),
            ),
            (
                header::EXPIRES,
                HeaderValue::from_static("Thu, 01 Jan 2099 00:00:00 GMT"),
            ),
        ]);
        assert_eq!(
            cache_hints(&headers, now),
            CacheHints {
                max_age: Some(Duration::from_secs(600)),
                no_cache: false
            }
        );
        let no_cache =
            HeaderMap::from_iter([(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))]);
        assert!(cache_hints(&no_cache, now).no_cache);
    }

    #[test]
    fn expires_counts_from_the_date_header() {
        let headers = HeaderMap::from_iter([
            (
                header::DATE,
                HeaderValue::from_static("Tue, 10 Jun 2025 04:00:00 GMT"),
            ),
            (
                header::EXPIRES,
                HeaderValue::from_static("Tue, 10 Jun 2025 05:00:00 GMT"),
            ),
        ]);
        assert_eq!(
            cache_hints(&headers, chrono::Utc::now()).max_age,
            Some(Duration::from_secs(3600))
        );
        let invalid = HeaderMap::from_iter([(header::EXPIRES, HeaderValue::from_static("0"))]);
        assert_eq!(
            cache_hints(&invalid, chrono::Utc::now()).max_age,
            Some(Duration::ZERO),
            "an invalid Expires means already expired"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = http_date("Tue, 10 Jun 2025 04:00:00 GMT").expect("date");
        let seconds =
            HeaderMap::from_iter([(header::RETRY_AFTER, HeaderValue::from_static("120"))]);
        assert_eq!(retry_after(&seconds, now), Some(Duration::from_secs(120)));
        let date = HeaderMap::from_iter([(
            header::RETRY_AFTER,
            HeaderValue::from_static("Tue, 10 Jun 2025 04:01:30 GMT"),
        )]);
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(90)));
        let past = HeaderMap::from_iter([(
            header::RETRY_AFTER,
            HeaderValue::from_static("Tue, 10 Jun 2025 03:00:00 GMT"),
        )]);
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        let junk = HeaderMap::from_iter([(header::RETRY_AFTER, HeaderValue::from_static("soon"))]);
        assert_eq!(retry_after(&junk, now), None);
    }
}
