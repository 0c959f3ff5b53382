//! The deployment material names only settings the binaries really read.
//!
//! `platform::config` maps `RSS_<SECTION>__<KEY>` onto each service's `Settings` and ignores
//! variables that match no field, so a misspelt or stale variable in the Compose file or the
//! documentation would silently do nothing. These tests derive every variable a service reads
//! from its `Settings::default()` (the same serialization `platform::config::load` uses as its
//! bottom layer) and check the deployment files and the Markdown against that list: every
//! variable they name is real, and the reference tables in `docs/configuration.md` name every
//! one. The Compose file is scanned as text,
//! service block by service block, following `<<: *anchor` merges; no YAML parser is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

/// `RSS_*` variables that steer loading or tests rather than naming a setting.
const NOT_SETTINGS: &[&str] = &[
    "RSS_CONFIG_DIR",
    "RSS_ENV",
    "RSS_TEST_CASSANDRA",
    // The configuration page's description of the naming scheme itself.
    "RSS_<SECTION>__<KEY>",
];

/// The three binaries, each reading its own `Settings`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Service {
    Registry,
    Middletier,
    Edge,
}

impl Service {
    const ALL: [Service; 3] = [Service::Registry, Service::Middletier, Service::Edge];

    /// The service a container runs, from its `command:` (the Dockerfile's binary names).
    fn from_binary(binary: &str) -> Option<Service> {
        Service::ALL
            .into_iter()
            .find(|service| service.binary() == binary)
    }

    fn binary(self) -> &'static str {
        match self {
            Service::Registry => "registry",
            Service::Middletier => "middletier",
            Service::Edge => "edge",
        }
    }

    fn defaults(self) -> Value {
        let value = match self {
            Service::Registry => serde_json::to_value(registry::Settings::default()),
            Service::Middletier => serde_json::to_value(middletier::Settings::default()),
            Service::Edge => serde_json::to_value(edge::Settings::default()),
        };
        value.expect("settings serialize to JSON")
    }

    /// Every `RSS_<SECTION>__<KEY>` variable this service reads.
    fn variables(self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        flatten("RSS", &self.defaults(), &mut names);
        if self == Service::Middletier {
            // `skip_serializing` keeps the secret out of the serialized defaults; it is read
            // all the same (see `the_cassandra_password_is_read_though_never_serialized`).
            names.insert("RSS_CASSANDRA__PASSWORD".to_owned());
        }
        if self == Service::Middletier {
            // The service token: a secret, likewise never serialized.
            names.insert("RSS_API__TOKEN".to_owned());
            names.insert("RSS_API__NEXT_TOKEN".to_owned());
        }
        if self == Service::Edge {
            // The service token the edge sends: a secret, likewise never serialized.
            names.insert("RSS_MIDDLETIER__TOKEN".to_owned());
        }
        names
    }
}

/// Every variable any of the three services reads.
fn all_variables() -> BTreeSet<String> {
    Service::ALL
        .into_iter()
        .flat_map(Service::variables)
        .collect()
}

/// `{"server": {"port": 1}}` becomes `RSS_SERVER__PORT`: `_` after the prefix, `__` between
/// nested keys, upper-cased (the loader lower-cases variable names).
fn flatten(name: &str, value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            let separator = if name == "RSS" { "_" } else { "__" };
            for (key, field) in fields {
                flatten(
                    &format!("{name}{separator}{}", key.to_uppercase()),
                    field,
                    names,
                );
            }
        }
        _ => {
            names.insert(name.to_owned());
        }
    }
}

fn read_repository_file(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// `RSS_...` names in `text`, keeping `{A,B}` and `<PLACEHOLDER>` parts for [`expand`].
fn rss_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("RSS_") {
        let preceded_by_name = rest[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let candidate = &rest[start..];
        let mut end = "RSS_".len();
        while let Some(c) = candidate[end..].chars().next() {
            let group_end = match c {
                '{' => candidate[end..].find('}'),
                '<' => candidate[end..].find('>'),
                c if c.is_ascii_alphanumeric() || c == '_' => Some(0),
                _ => None,
            };
            match group_end {
                Some(offset) => end += offset + 1,
                None => break,
            }
        }
        if !preceded_by_name && end > "RSS_".len() {
            tokens.push(candidate[..end].to_owned());
        }
        rest = &candidate[end..];
    }
    tokens
}

/// Expands the configuration tables' shorthand: `{GET,ADD}` to each alternative, `<CMD>` to every command
/// the edge configures.
fn expand(token: &str) -> Vec<String> {
    if let (Some(open), Some(close)) = (token.find('{'), token.find('}')) {
        return token[open + 1..close]
            .split(',')
            .flat_map(|alternative| {
                expand(&format!(
                    "{}{}{}",
                    &token[..open],
                    alternative.trim(),
                    &token[close + 1..]
                ))
            })
            .collect();
    }
    if token.contains("<CMD>") {
        return edge_commands()
            .iter()
            .flat_map(|command| expand(&token.replacen("<CMD>", command, 1)))
            .collect();
    }
    vec![token.to_owned()]
}

/// `GET`, `ADD`, `DELETE`: the keys of the edge's `[commands]` section.
fn edge_commands() -> Vec<String> {
    match &Service::Edge.defaults()["commands"] {
        Value::Object(commands) => commands.keys().map(|key| key.to_uppercase()).collect(),
        other => panic!("edge settings have no commands section: {other}"),
    }
}

/// Every variable a Markdown page names, with shorthand expanded. A table row whose first cell
/// reads "`RSS_A__B` / `C`" names `RSS_A__B` and `RSS_A__C`.
fn documented_variables(markdown: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in markdown.lines() {
        names.extend(rss_tokens(line).iter().flat_map(|token| expand(token)));
        let Some(first_cell) = line.strip_prefix('|').and_then(|row| row.split('|').next()) else {
            continue;
        };
        let spans: Vec<&str> = first_cell.split('`').skip(1).step_by(2).collect();
        let Some((first, others)) = spans
            .split_first()
            .filter(|(first, _)| first.starts_with("RSS_"))
        else {
            continue;
        };
        let Some((prefix, _)) = first.rsplit_once("__") else {
            continue;
        };
        for short in others.iter().filter(|span| !span.starts_with("RSS_")) {
            names.extend(expand(&format!("{prefix}__{short}")));
        }
    }
    names
}

/// One service block of the Compose file, with what it merges from anchors.
#[derive(Debug)]
struct ComposeService {
    /// The binaries its `command:` lines run; empty for other images (Cassandra).
    binaries: BTreeSet<String>,
    /// `RSS_*` variable names and the value each is given.
    variables: BTreeMap<String, String>,
}

/// The Compose file's services, by name. Anchored blocks merged with `<<: *name` count as
/// part of the service; a key that overrides a merged one is still seen, which can only make
/// the check stricter.
fn compose_services(compose: &str) -> BTreeMap<String, ComposeService> {
    let lines: Vec<(usize, &str)> = compose
        .lines()
        .map(strip_comment)
        .filter(|line| !line.trim().is_empty())
        .map(|line| (line.len() - line.trim_start().len(), line.trim()))
        .collect();
    // The lines nested under line `at` (its own included, for inline anchors).
    let block = |at: usize| -> Vec<&str> {
        let indent = lines[at].0;
        std::iter::once(lines[at].1)
            .chain(
                lines[at + 1..]
                    .iter()
                    .take_while(|(inner, _)| *inner > indent)
                    .map(|(_, text)| *text),
            )
            .collect()
    };

    let mut anchors = BTreeMap::new();
    for (at, (_, text)) in lines.iter().enumerate() {
        if let Some(name) = marker_name(text, '&') {
            anchors.insert(name, block(at));
        }
    }

    let mut services = BTreeMap::new();
    let start = lines
        .iter()
        .position(|line| *line == (0, "services:"))
        .expect("the Compose file has a services section");
    let service_indent = lines[start + 1].0;
    for (at, &(indent, text)) in lines.iter().enumerate().skip(start + 1) {
        if indent < service_indent {
            break;
        }
        if indent > service_indent {
            continue;
        }
        let name = text.trim_end_matches(':').to_owned();
        let mut resolved = Vec::new();
        resolve(&block(at), &anchors, &mut BTreeSet::new(), &mut resolved);
        services.insert(name, parse_service(&resolved));
    }
    services
}

/// `text` and every anchored block it merges, transitively.
fn resolve<'a>(
    text: &[&'a str],
    anchors: &BTreeMap<String, Vec<&'a str>>,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<&'a str>,
) {
    for line in text {
        out.push(line);
        if let Some(name) = marker_name(line, '*') {
            let merged = anchors
                .get(&name)
                .unwrap_or_else(|| panic!("the Compose file has no anchor &{name}"));
            if seen.insert(name) {
                resolve(merged, anchors, seen, out);
            }
        }
    }
}

fn parse_service(lines: &[&str]) -> ComposeService {
    let mut binaries = BTreeSet::new();
    let mut variables = BTreeMap::new();
    for line in lines {
        if let Some(command) = line.strip_prefix("command:") {
            binaries.insert(command_binary(command));
        }
        for name in rss_tokens(line) {
            let value = line
                .split_once([':', '='])
                .map(|(_, value)| value.trim().to_owned())
                .unwrap_or_default();
            variables.insert(name, value);
        }
    }
    ComposeService {
        binaries,
        variables,
    }
}

/// What a `command:` runs: its first word (`["edge"]`), the word after `exec` in a shell line
/// (`["sh", "-c", "... exec edge"]`), and a tool's subcommand with its binary
/// (`["middletier", "mint-certs", ...]` is `middletier mint-certs`, not the service).
fn command_binary(command: &str) -> String {
    let words: Vec<&str> = command
        .split(['[', ']', '"', '\'', ',', ' '])
        .filter(|word| !word.is_empty())
        .collect();
    match words[..] {
        ["sh", ..] => words
            .iter()
            .skip_while(|word| **word != "exec")
            .nth(1)
            .map_or_else(String::new, |binary| (*binary).to_owned()),
        [binary, subcommand, ..] if !subcommand.starts_with('-') => {
            format!("{binary} {subcommand}")
        }
        [binary, ..] => binary.to_owned(),
        [] => String::new(),
    }
}

/// The name after `&` (anchor) or `*` (alias) in a YAML line, if any.
fn marker_name(line: &str, marker: char) -> Option<String> {
    let at = line.find(marker)?;
    let name: String = line[at + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Drops a YAML comment: `#` at the start of a line or after a space.
fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    line.find(" #").map_or(line, |at| &line[..at])
}

#[test]
fn settings_flatten_to_the_variables_platform_config_reads() {
    let registry = Service::Registry.variables();
    assert!(registry.contains("RSS_SERVER__PORT"));
    assert!(registry.contains("RSS_LEASE__EVICTION_INTERVAL"));
    assert!(
        !registry.contains("RSS_REGISTRY__URL"),
        "the registry is no client"
    );

    let middletier = Service::Middletier.variables();
    assert!(middletier.contains("RSS_SERVER__ADVERTISED_HOST"));
    assert!(middletier.contains("RSS_CASSANDRA__NODES"));
    assert!(middletier.contains("RSS_CASSANDRA__PASSWORD"));

    let edge = Service::Edge.variables();
    assert!(edge.contains("RSS_COMMANDS__GET__BREAKER__SLEEP_WINDOW"));
    assert!(edge.contains("RSS_REGISTRY__FETCH_INTERVAL"));
}

#[test]
fn the_cassandra_password_is_read_though_never_serialized() {
    let mut settings = Service::Middletier.defaults();
    assert!(
        settings["cassandra"].get("password").is_none(),
        "the password must stay out of serialized settings"
    );
    settings["cassandra"]["password"] = Value::from("hunter2");
    let settings: middletier::Settings =
        serde_json::from_value(settings).expect("settings with a password deserialize");
    let password = settings.cassandra.password.expect("the password is read");
    assert_eq!(password.expose(), "hunter2");
}

#[test]
fn every_variable_in_the_compose_file_is_a_setting_the_service_reads() {
    let compose = read_repository_file("deploy/docker-compose.yml");
    let services = compose_services(&compose);
    let runs = |binary: &str| {
        services
            .values()
            .any(|service| service.binaries.contains(binary))
    };
    assert!(
        Service::ALL.iter().all(|service| runs(service.binary())),
        "every binary runs in some Compose service: {services:#?}"
    );

    let mut wrong = Vec::new();
    for (name, service) in &services {
        if service.variables.is_empty() {
            continue;
        }
        let [binary] = Vec::from_iter(&service.binaries)[..] else {
            panic!("service {name} runs none or several of our binaries: {service:?}");
        };
        let known = Service::from_binary(binary)
            .unwrap_or_else(|| panic!("service {name} runs {binary:?}, not one of ours"))
            .variables();
        wrong.extend(
            service
                .variables
                .keys()
                .filter(|variable| !known.contains(*variable))
                .map(|variable| format!("{name} ({binary}): {variable}")),
        );
    }
    assert!(
        wrong.is_empty(),
        "variables the service's binary does not read: {wrong:#?}"
    );

    // Comments too: anything named RSS_ in the file is a real setting somewhere.
    let known = all_variables();
    let unknown: Vec<String> = rss_tokens(&compose)
        .into_iter()
        .filter(|name| !known.contains(name))
        .collect();
    assert!(unknown.is_empty(), "unknown variables: {unknown:?}");
}

#[test]
fn every_middletier_in_the_compose_file_advertises_its_own_service_name() {
    let services = compose_services(&read_repository_file("deploy/docker-compose.yml"));
    let middletiers: Vec<_> = services
        .iter()
        .filter(|(_, service)| service.binaries.contains("middletier"))
        .collect();
    assert!(middletiers.len() >= 2, "the demo runs several middle tiers");
    for (name, service) in middletiers {
        // The registry hands this name to the edge, so it must resolve to this container.
        assert_eq!(
            service
                .variables
                .get("RSS_SERVER__ADVERTISED_HOST")
                .map(String::as_str),
            Some(name.as_str()),
            "{name} advertises another host"
        );
        assert_eq!(
            service.variables.get("RSS_STORE__KIND").map(String::as_str),
            Some("cassandra"),
            "{name} must share the Cassandra store"
        );
    }
}

#[test]
fn every_variable_in_the_dockerfile_is_a_setting_all_three_services_read() {
    let dockerfile = read_repository_file("deploy/Dockerfile");
    // One image runs every binary, so its variables apply to all three. (The loader's own
    // variables, such as RSS_CONFIG_DIR, are read by `platform::config` for every service.)
    for name in rss_tokens(&dockerfile)
        .into_iter()
        .filter(|name| !NOT_SETTINGS.contains(&name.as_str()))
    {
        for service in Service::ALL {
            assert!(
                service.variables().contains(&name),
                "{name} is not read by {service:?}"
            );
        }
    }
}

/// The configuration reference: the one page whose tables must name every setting.
const CONFIGURATION_PAGE: &str = "docs/configuration.md";

/// The README and every page under `docs/`, each with its path: all the prose that names
/// settings.
fn markdown_pages() -> Vec<(String, String)> {
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let mut paths: Vec<String> = std::fs::read_dir(&docs)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", docs.display()))
        .map(|entry| entry.expect("a docs/ entry").file_name())
        .filter_map(|name| name.to_str().map(str::to_owned))
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    paths.sort();
    paths.insert(0, "README.md".to_owned());
    assert!(
        paths.iter().any(|path| path == CONFIGURATION_PAGE),
        "{CONFIGURATION_PAGE} is among the pages: {paths:?}"
    );
    paths
        .into_iter()
        .map(|path| {
            let text = read_repository_file(&path);
            (path, text)
        })
        .collect()
}

#[test]
fn every_variable_in_the_documentation_is_a_setting_some_service_reads() {
    let reference = documented_variables(&read_repository_file(CONFIGURATION_PAGE));
    assert!(
        reference.len() > 20,
        "the tables of {CONFIGURATION_PAGE} were found: {reference:?}"
    );
    let known = all_variables();
    let unknown: Vec<String> = markdown_pages()
        .iter()
        .flat_map(|(path, text)| {
            documented_variables(text)
                .into_iter()
                .filter(|name| !known.contains(name) && !NOT_SETTINGS.contains(&name.as_str()))
                .map(move |name| format!("{path}: {name}"))
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "the documentation names variables no service reads: {unknown:#?}"
    );
}

#[test]
fn every_setting_is_in_the_configuration_reference() {
    let documented = documented_variables(&read_repository_file(CONFIGURATION_PAGE));
    let undocumented: Vec<String> = all_variables()
        .into_iter()
        .filter(|name| !documented.contains(name))
        .collect();
    assert!(
        undocumented.is_empty(),
        "settings missing from the reference tables of {CONFIGURATION_PAGE}: {undocumented:#?}"
    );
}

#[test]
fn table_shorthand_expands_to_every_variable_it_stands_for() {
    let names = documented_variables(
        "| `RSS_COMMANDS__{GET,ADD,DELETE}__TIMEOUT` | x |\n\
         | `RSS_COMMANDS__<CMD>__BREAKER__ROLLING_WINDOW` / `BUCKETS` | x |\n\
         | `RSS_INSTANCE__APP` / `RSS_INSTANCE__VIP` | x |\n\
         Layers: `$RSS_CONFIG_DIR/<service>.$RSS_ENV.toml`, `RSS_LOG_FORMAT=json` logs JSON.",
    );
    let mut expected: BTreeSet<String> = [
        "RSS_COMMANDS__GET__TIMEOUT",
        "RSS_COMMANDS__ADD__TIMEOUT",
        "RSS_COMMANDS__DELETE__TIMEOUT",
        "RSS_INSTANCE__APP",
        "RSS_INSTANCE__VIP",
        "RSS_CONFIG_DIR",
        "RSS_ENV",
        "RSS_LOG_FORMAT",
    ]
    .map(str::to_owned)
    .into();
    // `<CMD>` stands for every command the edge configures, whatever they are now.
    let commands = edge_commands();
    assert!(commands.len() >= 4, "{commands:?}");
    for command in commands {
        for key in ["ROLLING_WINDOW", "BUCKETS"] {
            expected.insert(format!("RSS_COMMANDS__{command}__BREAKER__{key}"));
        }
    }
    assert_eq!(names, expected);
}

/// `RSS_COMMANDS__GET__TIMEOUT` is the key `commands.get.timeout`.
fn key_of(variable: &str) -> String {
    variable
        .trim_start_matches("RSS_")
        .to_lowercase()
        .replace("__", ".")
}

/// The configuration page's table of dynamic settings, by service (`all` counts for each).
fn dynamic_table_variables(markdown: &str) -> BTreeMap<Service, BTreeSet<String>> {
    let mut dynamic: BTreeMap<Service, BTreeSet<String>> = BTreeMap::new();
    let mut in_table = false;
    for line in markdown.lines() {
        if line.starts_with("| Service | Dynamic") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let Some(first) = line.split('|').nth(1).map(str::trim) else {
            continue;
        };
        let services: Vec<Service> = match first {
            "all" => Service::ALL.to_vec(),
            name => Service::from_binary(name).into_iter().collect(),
        };
        let names: BTreeSet<String> = rss_tokens(line).iter().flat_map(|t| expand(t)).collect();
        for service in services {
            dynamic.entry(service).or_default().extend(names.clone());
        }
    }
    dynamic
}

fn dynamic_patterns(service: Service) -> &'static [&'static str] {
    use platform::config::Configuration;
    match service {
        Service::Registry => <registry::Settings as Configuration>::DYNAMIC,
        Service::Middletier => <middletier::Settings as Configuration>::DYNAMIC,
        Service::Edge => <edge::Settings as Configuration>::DYNAMIC,
    }
}

#[test]
fn the_configuration_page_lists_exactly_the_settings_each_service_changes_at_run_time() {
    let documented = dynamic_table_variables(&read_repository_file(CONFIGURATION_PAGE));
    for service in Service::ALL {
        let patterns = dynamic_patterns(service);
        let in_code: BTreeSet<String> = service
            .variables()
            .into_iter()
            .filter(|variable| platform::config::is_dynamic(&key_of(variable), patterns))
            .collect();
        assert!(
            !in_code.is_empty(),
            "{service:?} has dynamic settings (its log level at least)"
        );
        assert_eq!(
            documented.get(&service).cloned().unwrap_or_default(),
            in_code,
            "{service:?}: the dynamic table of {CONFIGURATION_PAGE} and `Configuration::DYNAMIC` differ"
        );
    }
}
