//! Where settings come from and loading them once: the embedded defaults, then the service's
//! files, then `RSS_*` variables (see the [module docs](super) for the order), deserialized
//! whole and checked against the service's rules, with errors naming the key, the variable and
//! the layer the value came from.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::secret::revealed;
use super::{ConfigError, Configuration, variable_name};

/// Variables that steer loading itself rather than naming a setting.
const CONFIG_DIR_VAR: &str = "RSS_CONFIG_DIR";
const ENVIRONMENT_VAR: &str = "RSS_ENV";

/// Where a service's configuration comes from: its name, the directory and environment of
/// its files, and the variables on top.
#[derive(Clone, Debug)]
pub struct Source {
    service: String,
    dir: PathBuf,
    environment: Option<String>,
    /// `None`: the process environment, read at every load. `Some`: exactly these (tests).
    vars: Option<HashMap<String, String>>,
}

impl Source {
    /// As a binary sees it: `$RSS_CONFIG_DIR` (default `./config`), `$RSS_ENV`, `RSS_*`.
    pub fn from_env(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            dir: std::env::var_os(CONFIG_DIR_VAR)
                .map_or_else(|| PathBuf::from("config"), PathBuf::from),
            environment: std::env::var(ENVIRONMENT_VAR)
                .ok()
                .filter(|env| !env.is_empty()),
            vars: None,
        }
    }

    /// Files in `dir` and no variables, whatever the process environment holds (tests).
    pub fn new(service: &str, dir: impl Into<PathBuf>) -> Self {
        Self {
            service: service.to_owned(),
            dir: dir.into(),
            environment: None,
            vars: Some(HashMap::new()),
        }
    }

    /// Adds the `<service>.<environment>.toml` layer.
    pub fn environment(mut self, environment: &str) -> Self {
        self.environment = Some(environment.to_owned());
        self
    }

    /// Sets a variable for a source made with [`Source::new`], e.g. `RSS_SERVER__PORT`.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars
            .get_or_insert_with(HashMap::new)
            .insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn environment_name(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// The directory of the files (watched for changes).
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files this source reads, in layer order (whether or not they exist).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.dir.join(format!("{}.toml", self.service))];
        if let Some(environment) = &self.environment {
            files.push(
                self.dir
                    .join(format!("{}.{environment}.toml", self.service)),
            );
        }
        files
    }

    /// Loads and validates the settings.
    pub fn load<T: Configuration>(&self) -> Result<T, ConfigError> {
        self.load_pinned(&BTreeMap::new())
    }

    /// Loads with `pinned` keys (dotted, revealed JSON values) set over every layer: how a
    /// reload keeps the running value of static keys.
    pub(super) fn load_pinned<T: Configuration>(
        &self,
        pinned: &BTreeMap<String, Value>,
    ) -> Result<T, ConfigError> {
        let error = |key: Option<String>, detail: String| ConfigError {
            service: self.service.clone(),
            key,
            detail,
        };
        let defaults = revealed(|| config::Config::try_from(&T::default()))
            .map_err(|source| error(None, format!("the defaults do not serialize: {source}")))?;
        let mut builder = config::Config::builder().add_source(defaults);
        for file in self.files() {
            builder = builder.add_source(config::File::from(file).required(false));
        }
        let mut environment = config::Environment::with_prefix("RSS")
            .prefix_separator("_")
            .separator("__");
        if let Some(vars) = &self.vars {
            environment = environment.source(Some(vars.clone().into_iter().collect()));
        }
        builder = builder.add_source(environment);
        for (key, value) in pinned {
            builder = builder
                .set_override(key.as_str(), config_value(value))
                .map_err(|source| error(Some(key.clone()), source.to_string()))?;
        }
        // File syntax errors name the file and line.
        let layered = builder
            .build()
            .map_err(|source| error(None, source.to_string()))?;
        let settings: T = serde_path_to_error::deserialize(layered.clone()).map_err(|failure| {
            let key = failure.path().to_string();
            let origin = origin_of(&layered, &key);
            let from = match origin {
                Some(origin) => format!(" from {origin}"),
                None => String::new(),
            };
            let variable = variable_name(&key);
            let message = describe(failure.inner());
            error(
                Some(key.clone()),
                format!("`{key}` ({variable}){from}: {message}"),
            )
        })?;
        settings.validate().map_err(|invalid| {
            let variable = variable_name(&invalid.key);
            error(
                Some(invalid.key.clone()),
                format!("`{}` ({variable}): {}", invalid.key, invalid.message),
            )
        })?;
        Ok(settings)
    }
}

/// Where the value of `key` came from (a file path, or the environment).
fn origin_of(layered: &config::Config, key: &str) -> Option<String> {
    let mut table = config::Source::collect(layered).ok()?;
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let value = table.remove(segment)?;
        if segments.peek().is_none() {
            return value.origin().map(ToOwned::to_owned);
        }
        table = value.into_table().ok()?;
    }
    None
}

/// The message of a deserialization failure without the key (which the caller names).
fn describe(error: &config::ConfigError) -> String {
    match error {
        config::ConfigError::Type {
            unexpected,
            expected,
            ..
        } => format!("invalid type: {unexpected}, expected {expected}"),
        config::ConfigError::At { error, .. } => describe(error),
        other => other.to_string(),
    }
}

/// A JSON leaf as a `config` value, for pinning.
fn config_value(value: &Value) -> config::Value {
    let kind = match value {
        Value::Null => config::ValueKind::Nil,
        Value::Bool(b) => config::ValueKind::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => config::ValueKind::I64(i),
            (None, Some(u), _) => config::ValueKind::U64(u),
            (None, None, f) => config::ValueKind::Float(f.unwrap_or_default()),
        },
        Value::String(s) => config::ValueKind::String(s.clone()),
        Value::Array(items) => config::ValueKind::Array(items.iter().map(config_value).collect()),
        Value::Object(fields) => config::ValueKind::Table(
            fields
                .iter()
                .map(|(key, field)| (key.clone(), config_value(field)))
                .collect(),
        ),
    };
    config::Value::new(None, kind)
}

/// Loads the settings of `service` from the layers described in the module docs, once.
pub fn load<T: Configuration>(service: &str) -> Result<T, ConfigError> {
    Source::from_env(service).load()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::config::fixtures::{Call, Sample, directory};

    #[test]
    fn defaults_apply_key_by_key() {
        let dir = directory("defaults");
        std::fs::write(dir.join("sample.toml"), "[server]\nport = 1\n").unwrap();
        let sample: Sample = Source::new("sample", &dir).load().expect("loads");
        assert_eq!(sample.server.port, 1);
        assert_eq!(
            sample.server.host, "127.0.0.1",
            "the other keys keep defaults"
        );
        assert_eq!(sample.call, Call::default());
    }

    #[test]
    fn layers_apply_in_order_file_then_environment_file_then_variables() {
        let dir = directory("layers");
        std::fs::write(
            dir.join("sample.toml"),
            "[call]\ntimeout = \"1s\"\npercent = 1\n",
        )
        .unwrap();
        std::fs::write(dir.join("sample.prod.toml"), "[call]\ntimeout = \"2s\"\n").unwrap();
        std::fs::write(dir.join("sample.test.toml"), "[call]\ntimeout = \"3s\"\n").unwrap();
        let prod: Sample = Source::new("sample", &dir)
            .environment("prod")
            .load()
            .unwrap();
        assert_eq!(prod.call.timeout, Duration::from_secs(2));
        assert_eq!(prod.call.percent, 1);
        let overridden: Sample = Source::new("sample", &dir)
            .environment("prod")
            .var("RSS_CALL__TIMEOUT", "250ms")
            .load()
            .unwrap();
        assert_eq!(overridden.call.timeout, Duration::from_millis(250));
    }

    #[test]
    fn a_bad_variable_fails_loading_naming_the_key_and_the_variable() {
        let dir = directory("bad-var");
        let error = Source::new("sample", &dir)
            .var("RSS_CALL__TIMEOUT", "abc")
            .load::<Sample>()
            .unwrap_err();
        assert_eq!(error.key(), Some("call.timeout"));
        let message = error.to_string();
        assert!(message.contains("`call.timeout`"), "{message}");
        assert!(message.contains("RSS_CALL__TIMEOUT"), "{message}");
    }

    #[test]
    fn a_bad_value_in_a_file_fails_loading_naming_the_key_and_the_file() {
        let dir = directory("bad-file");
        std::fs::write(dir.join("sample.test.toml"), "[call]\npercent = \"many\"\n").unwrap();
        let error = Source::new("sample", &dir)
            .environment("test")
            .load::<Sample>()
            .unwrap_err();
        assert_eq!(error.key(), Some("call.percent"));
        let message = error.to_string();
        assert!(message.contains("sample.test.toml"), "{message}");
    }

    #[test]
    fn a_rule_the_service_states_fails_loading_naming_the_key() {
        let dir = directory("rule");
        let error = Source::new("sample", &dir)
            .var("RSS_CALL__PERCENT", "101")
            .load::<Sample>()
            .unwrap_err();
        assert_eq!(error.key(), Some("call.percent"));
        let error = Source::new("sample", &dir)
            .var("RSS_LOG__LEVEL", "info,=[")
            .load::<Sample>()
            .unwrap_err();
        assert_eq!(error.key(), Some("log.level"), "{error}");
    }
}
