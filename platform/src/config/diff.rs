//! What a reload changed: the settings flattened to dotted keys, compared leaf by leaf
//! (secrets by value, shown redacted), each changed key marked dynamic or not by the service's
//! [`Configuration::DYNAMIC`](super::Configuration::DYNAMIC) patterns.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::secret::revealed;

/// One key whose value a reload changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    /// Old and new values as shown to operators (secrets redacted).
    pub before: String,
    pub after: String,
    /// Applied while running; otherwise the running value stays until a restart.
    pub dynamic: bool,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} -> {}", self.key, self.before, self.after)
    }
}

/// Every leaf of the settings as `dotted.key -> value`; `reveal` shows secrets (for
/// comparing, never for display).
pub(super) fn leaves_of<T: Serialize>(settings: &T, reveal: bool) -> BTreeMap<String, Value> {
    let value = if reveal {
        revealed(|| serde_json::to_value(settings))
    } else {
        serde_json::to_value(settings)
    };
    let mut leaves = BTreeMap::new();
    if let Ok(value) = value {
        flatten("", &value, &mut leaves);
    }
    leaves
}

fn flatten(prefix: &str, value: &Value, leaves: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (key, field) in fields {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, field, leaves);
            }
        }
        _ => {
            leaves.insert(prefix.to_owned(), value.clone());
        }
    }
}

/// The keys whose values differ between `old` and `new`, secrets compared but not shown.
pub fn diff<T: Serialize>(old: &T, new: &T, dynamic: &[&str]) -> Vec<Change> {
    let (old_real, new_real) = (leaves_of(old, true), leaves_of(new, true));
    let (old_shown, new_shown) = (leaves_of(old, false), leaves_of(new, false));
    let keys: BTreeSet<&String> = old_real.keys().chain(new_real.keys()).collect();
    let show = |shown: &BTreeMap<String, Value>, key: &str| match shown.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => "(unset)".to_owned(),
    };
    keys.into_iter()
        .filter(|key| old_real.get(*key) != new_real.get(*key))
        .map(|key| Change {
            key: key.clone(),
            before: show(&old_shown, key),
            after: show(&new_shown, key),
            dynamic: is_dynamic(key, dynamic),
        })
        .collect()
}

/// Whether `key` is one of `patterns` or under one (`*` matches one segment).
pub fn is_dynamic(key: &str, patterns: &[&str]) -> bool {
    patterns.iter().any(|pattern| {
        let mut segments = key.split('.');
        pattern.split('.').all(|want| {
            segments
                .next()
                .is_some_and(|got| want == "*" || want == got)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_patterns_match_prefixes_and_wildcards() {
        let patterns = [
            "log",
            "commands.*.timeout",
            "middletier.retry_budget.percent",
        ];
        assert!(is_dynamic("log.level", &patterns));
        assert!(is_dynamic("commands.get.timeout", &patterns));
        assert!(is_dynamic("middletier.retry_budget.percent", &patterns));
        assert!(!is_dynamic("commands.get.breaker.buckets", &patterns));
        assert!(!is_dynamic("logging", &patterns));
        assert!(!is_dynamic("middletier.retry_budget.ttl", &patterns));
    }
}
