//! Secret settings (passwords, tokens): read like strings, never shown. What operators see
//! of the settings (`/admin/config`, the change log) goes through serialization, so a
//! [`Secret`] redacts itself there; loading and comparing settings reveal it for the moment
//! they need the value ([`revealed`]).

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
    fn a_secret_set_by_a_variable_is_read() {
        let dir = directory("secret");
        let sample: Sample = Source::new("sample", &dir)
            .var("RSS_TOKEN", "hunter2")
            .load()
            .unwrap();
        assert_eq!(sample.token.expose(), "hunter2");
    }
}
