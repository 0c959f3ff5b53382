//! The configuration files in `deploy/config/` and start-up with a bad configuration.
//!
//! Every environment file must load for its service (so `RSS_ENV=prod` never fails on a file
//! we ship), name only keys the service has (a misspelt key would silently do nothing), and
//! hold no secret. A bad value, in a variable or in a file, stops the binary before it serves,
//! with a message naming the key.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use platform::config::{Configuration, Source};
use serde_json::Value;

const ENVIRONMENTS: [&str; 3] = ["local", "test", "prod"];

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/config")
}

/// Dotted keys of every leaf of a JSON or TOML document.
fn leaves(prefix: &str, value: &Value, keys: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(&path, field, keys);
            }
        }
        _ => {
            keys.insert(prefix.to_owned());
        }
    }
}

fn keys_of<T: serde::Serialize>(value: &T) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    leaves("", &serde_json::to_value(value).unwrap(), &mut keys);
    keys
}

/// Loads `service`'s file for `environment` (without the process's variables) and checks its
/// keys against the settings type.
fn check_environment_file<T: Configuration>(service: &str, environment: &str) {
    let dir = config_dir();
    let file = dir.join(format!("{service}.{environment}.toml"));
    assert!(file.is_file(), "{} is missing", file.display());
    let mut source = Source::new(service, &dir).environment(environment);
    if service == "middletier" && environment == "prod" {
        // Production refuses to start without its token, which comes from the environment.
        source = source.var("RSS_API__TOKEN", "from-the-secret-store");
    }
    source
        .load::<T>()
        .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    // The file alone, read by the same parser the services use.
    let document: Value = config::Config::builder()
        .add_source(config::File::from(file.as_path()))
        .build()
        .and_then(config::Config::try_deserialize)
        .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    let mut in_file = BTreeSet::new();
    leaves("", &document, &mut in_file);
    let known = keys_of(&T::default());
    let unknown: Vec<&String> = in_file.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "{} sets keys {service} does not have: {unknown:?}",
        file.display()
    );
    for secret in ["token", "password"] {
        assert!(
            !in_file.iter().any(|key| key.ends_with(secret)),
            "{} holds a secret; secrets come from the environment",
            file.display()
        );
    }
}

#[test]
fn every_environment_file_loads_and_names_only_real_keys() {
    for environment in ENVIRONMENTS {
        check_environment_file::<registry::Settings>("registry", environment);
        check_environment_file::<middletier::Settings>("middletier", environment);
        check_environment_file::<edge::Settings>("edge", environment);
    }
}

/// Runs the edge binary with `vars` and returns its exit status and everything it printed.
fn start_edge(vars: &[(&str, &str)], dir: &Path) -> (std::process::ExitStatus, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_edge"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RSS_CONFIG_DIR", dir)
        .env("RSS_SERVER__PORT", "0")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, printed)
}

fn empty_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edge-config-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_bad_variable_stops_start_up_naming_the_key() {
    let (status, printed) = start_edge(
        &[("RSS_COMMANDS__GET__TIMEOUT", "abc")],
        &empty_dir("variable"),
    );
    assert!(!status.success(), "started with a bad timeout: {printed}");
    assert!(printed.contains("commands.get.timeout"), "{printed}");
    assert!(printed.contains("RSS_COMMANDS__GET__TIMEOUT"), "{printed}");
}

#[test]
fn a_bad_value_in_a_file_stops_start_up_naming_the_key_and_the_file() {
    let dir = empty_dir("file");
    std::fs::write(
        dir.join("edge.test.toml"),
        "[commands.get.breaker]\nerror_threshold_percentage = \"half\"\n",
    )
    .unwrap();
    let (status, printed) = start_edge(&[("RSS_ENV", "test")], &dir);
    assert!(!status.success(), "started with a bad file: {printed}");
    assert!(
        printed.contains("commands.get.breaker.error_threshold_percentage"),
        "{printed}"
    );
    assert!(printed.contains("edge.test.toml"), "{printed}");
}

#[test]
fn a_value_breaking_a_rule_stops_start_up_naming_the_key() {
    let (status, printed) = start_edge(
        &[(
            "RSS_COMMANDS__ADD__BREAKER__ERROR_THRESHOLD_PERCENTAGE",
            "150",
        )],
        &empty_dir("rule"),
    );
    assert!(!status.success(), "started with 150 %: {printed}");
    assert!(
        printed.contains("commands.add.breaker.error_threshold_percentage"),
        "{printed}"
    );
}

#[test]
fn a_concurrency_limit_that_would_refuse_everything_stops_start_up() {
    for (variable, value, key) in [
        (
            "RSS_COMMANDS__GET__CONCURRENCY__LIMIT",
            "0",
            "commands.get.concurrency.limit",
        ),
        (
            "RSS_COMMANDS__GET__CONCURRENCY__MAX_LIMIT",
            "2",
            "commands.get.concurrency.max_limit",
        ),
        (
            "RSS_COMMANDS__GET__CONCURRENCY__LIMITER",
            "magic",
            "commands.get.concurrency.limiter",
        ),
        (
            "RSS_COMMANDS__GET__CONCURRENCY__QUEUE",
            "-1",
            "commands.get.concurrency.queue",
        ),
    ] {
        let (status, printed) = start_edge(&[(variable, value)], &empty_dir("concurrency"));
        assert!(
            !status.success(),
            "started with {variable}={value}: {printed}"
        );
        assert!(printed.contains(key), "{variable}={value}: {printed}");
    }
}
