//! Secret settings (passwords, tokens): read like strings, never shown. What operators see
//! of the settings (`/admin/config`, the change log) goes through serialization, so a
//! [`Secret`] redacts itself there; loading and comparing settings reveal it for the moment
//! they need the value ([`revealed`]). [`SecretUrl`] does the same for the password a URL
//! carries (`http://user:password@host/`), so the rest of the URL stays visible.

use serde::Serialize;
use serde_json::Value;

/// A secret setting (password, token). It deserializes like a string but never prints: its
/// `Debug` and its serialization (what `/admin/config` and the change log show) say
/// `[redacted]`. An empty secret serializes as `""`, since there is nothing to hide and the
/// loader round-trips defaults through serialization.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// What a set [`Secret`] shows instead of its value.
pub const REDACTED: &str = "[redacted]";

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() || REVEAL.with(std::cell::Cell::get) {
            serializer.serialize_str(&self.0)
        } else {
            serializer.serialize_str(REDACTED)
        }
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: call this only where it is handed to the system that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A URL setting, or a comma-separated list of them, whose passwords are secrets: the
/// registry URL every service reads (`http://edge:<secret>@registry:8761/eureka/v2/`) and the
/// registry's peers. It deserializes like a string; its `Debug`, `Display` and serialization
/// show each URL with its password replaced by `[redacted]` (the user name stays, so operators
/// still see who the service calls as).
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The URL with its password: call this only where it is parsed for use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretUrl {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for SecretUrl {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if REVEAL.with(std::cell::Cell::get) {
            serializer.serialize_str(&self.0)
        } else {
            serializer.serialize_str(&redact_url_passwords(&self.0))
        }
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretUrl({:?})", redact_url_passwords(&self.0))
    }
}

impl std::fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url_passwords(&self.0))
    }
}

/// `text` (a URL or a comma-separated list) with the password of every `user:password@` in
/// a URL's authority replaced by `[redacted]`: what may be logged or shown of a URL that
/// carries credentials, including one that does not parse.
pub fn redact_url_passwords(text: &str) -> String {
    text.split(',')
        .map(|url| {
            let Some(start) = url.find("://").map(|scheme| scheme + 3) else {
                return url.to_owned();
            };
            let rest = &url[start..];
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            let Some(at) = authority.rfind('@') else {
                return url.to_owned();
            };
            let Some(colon) = authority[..at].find(':') else {
                return url.to_owned();
            };
            format!(
                "{}{REDACTED}{}",
                &url[..start + colon + 1],
                &url[start + at..]
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The settings as JSON with every [`Secret`] shown as `"[redacted]"`.
pub fn redacted_json<T: Serialize>(settings: &T) -> Value {
    serde_json::to_value(settings).unwrap_or_else(
        |error| serde_json::json!({ "error": format!("settings do not serialize: {error}") }),
    )
}

thread_local! {
    /// Set while settings are serialized for comparison or as the bottom layer of loading,
    /// the only times a [`Secret`] serializes as itself.
    static REVEAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with secrets serializing as their values (in this thread only).
pub(super) fn revealed<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            REVEAL.with(|reveal| reveal.set(self.0));
        }
    }
    let _reset = Reset(REVEAL.with(|reveal| reveal.replace(true)));
    f()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::fixtures::{Sample, directory};
    use crate::config::{Configuration, Source, diff};

    #[test]
    fn secrets_never_print_nor_serialize_but_changes_to_them_are_seen() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.expose(), "hunter2");
        let old = Sample {
            token: Secret::new("hunter2"),
            ..Sample::default()
        };
        let shown = redacted_json(&old).to_string();
        assert!(
            !shown.contains("hunter2") && shown.contains(REDACTED),
            "{shown}"
        );
        let new = Sample {
            token: Secret::new("swordfish"),
            ..Sample::default()
        };
        let changes = diff(&old, &new, Sample::DYNAMIC);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].to_string(), "token: [redacted] -> [redacted]");
        assert!(!format!("{changes:?}").contains("hunter2"));
    }

    #[test]
    fn url_passwords_never_print_but_the_rest_of_the_url_does() {
        let url = SecretUrl::new(
            "http://edge:hunter2@registry:8761/eureka/v2/, https://ops:p@ss:w@b/x?y=z@q,http://plain/",
        );
        let shown = [
            format!("{url}"),
            format!("{url:?}"),
            serde_json::to_string(&url).unwrap(),
        ];
        for text in shown {
            assert!(
                !text.contains("hunter2") && !text.contains("ss:w"),
                "{text}"
            );
            assert!(
                text.contains("http://edge:[redacted]@registry:8761/eureka/v2/"),
                "{text}"
            );
            assert!(text.contains("https://ops:[redacted]@b/x?y=z@q"), "{text}");
            assert!(text.contains("http://plain/"), "{text}");
        }
        assert_eq!(
            revealed(|| serde_json::to_string(&url).unwrap()),
            serde_json::to_string(url.expose()).unwrap()
        );
        // Not a URL at all: shown as it is, since there is no password to find.
        assert_eq!(redact_url_passwords("not a url"), "not a url");
        assert_eq!(
            redact_url_passwords("http://user@host/"),
            "http://user@host/"
        );
    }

    #[test]
    fn a_secret_set_by_a_variable_is_read() {
        let dir = directory("secret");
        let sample: Sample = Source::new("sample", &dir)
            .var("RSS_TOKEN", "hunter2")
            .load()
            .unwrap();
        assert_eq!(sample.token.expose(), "hunter2");
    }
}
