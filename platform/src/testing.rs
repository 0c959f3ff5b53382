//! Test helpers every crate's tests share (feature `test-support`).

use std::future::Future;
use std::time::Duration;

/// Polls `condition` every 20 ms until it holds; fails the test with `what` after `within`.
/// The way to wait for something in a test: never a fixed sleep.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh random secret (32 hex digits from the OS's generator), so tests mint their own
/// credentials per run and none is ever committed.
pub fn mint_secret() -> String {
    use std::io::Read;
    let mut bytes = [0_u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .unwrap_or_else(|error| panic!("cannot read /dev/urandom: {error}"));
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Log lines captured in memory: hand [`LogCapture::writer`] to
/// [`crate::telemetry::init_with_writer`], then read what services logged.
#[derive(Clone, Debug, Default)]
pub struct LogCapture {
    lines: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl LogCapture {
    pub fn writer(&self) -> LogCaptureWriter {
        LogCaptureWriter(self.clone())
    }

    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The `std::io::Write` end of a [`LogCapture`].
#[derive(Debug)]
pub struct LogCaptureWriter(LogCapture);

impl std::io::Write for LogCaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One sample of a Prometheus text exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed `/metrics` page (see [`parse_prometheus`]).
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    /// Family name to its `# TYPE`.
    pub types: std::collections::BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The sum of the samples named `name` whose labels include every pair in `labels` (0 when
    /// none match; [`Exposition::has`] tells the difference).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|sample| sample.value).sum()
    }

    /// Whether a sample named `name` with every pair in `labels` exists.
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.matching(name, labels).next().is_some()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).is_some_and(|v| v == value))
        })
    }
}

/// Parses the Prometheus text format (version 0.0.4) strictly: every line is a `# HELP`, a
/// `# TYPE` or a sample; names and label names are valid; label values are quoted with valid
/// escapes; every sample belongs to a family declared by `# TYPE` before it (histograms
/// through `_bucket`, `_sum` and `_count`, each with a `+Inf` bucket); values are numbers.
pub fn parse_prometheus(text: &str) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    for (number, line) in text.lines().enumerate() {
        let fail = |why: &str| Err(format!("line {}: {why}: {line:?}", number + 1));
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _) if valid_name(name) => {}
                (Some("TYPE"), Some(name), Some(kind))
                    if valid_name(name)
                        && matches!(
                            kind,
                            "counter" | "gauge" | "histogram" | "summary" | "untyped"
                        ) =>
                {
                    if exposition
                        .types
                        .insert(name.to_owned(), kind.to_owned())
                        .is_some()
                    {
                        return fail("family declared twice");
                    }
                }
                _ => return fail("malformed comment"),
            }
            continue;
        }
        let Some(sample) = parse_sample(line) else {
            return fail("malformed sample");
        };
        let family = [
            sample.name.as_str(),
            sample.name.trim_end_matches("_bucket"),
            sample.name.trim_end_matches("_sum"),
            sample.name.trim_end_matches("_count"),
        ]
        .into_iter()
        .find(|family| exposition.types.contains_key(*family));
        match family.map(|family| (family, exposition.types[family].as_str())) {
            None => return fail("sample of an undeclared family"),
            Some((family, "histogram")) if family == sample.name => {
                return fail("histogram sample without _bucket, _sum or _count");
            }
            Some((_, "histogram"))
                if sample.name.ends_with("_bucket") && !sample.labels.contains_key("le") =>
            {
                return fail("bucket without le");
            }
            _ => {}
        }
        exposition.samples.push(sample);
    }
    for (family, kind) in &exposition.types {
        let bucket = format!("{family}_bucket");
        let counts: Vec<&Sample> = exposition
            .samples
            .iter()
            .filter(|sample| sample.name == format!("{family}_count"))
            .collect();
        if kind == "histogram" {
            for count in counts {
                let mut series = count.labels.clone();
                series.insert("le".to_owned(), "+Inf".to_owned());
                let infinite = exposition
                    .samples
                    .iter()
                    .find(|sample| sample.name == bucket && sample.labels == series);
                if infinite.map(|sample| sample.value) != Some(count.value) {
                    return Err(format!(
                        "{family}: the +Inf bucket must equal _count for {:?}",
                        count.labels
                    ));
                }
            }
        }
    }
    Ok(exposition)
}

/// GETs `{base_url}/metrics` with `client` and parses it strictly (see [`parse_prometheus`]);
/// fails the test, showing the page, when the request fails or the page does not parse.
pub async fn scrape_metrics(client: &reqwest::Client, base_url: &str) -> Exposition {
    let url = format!("{}/metrics", base_url.trim_end_matches('/'));
    let response = client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let text = response
        .text()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    parse_prometheus(&text).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

/// Where `deploy/install-test-deps.sh` puts schemathesis (under `RSS_CACHE_DIR`, by default
/// `~/.cache/rss-recipe`); fails the test, never skips it, when it is not installed.
pub fn schemathesis() -> std::path::PathBuf {
    let cache = std::env::var_os("RSS_CACHE_DIR").map_or_else(
        || {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/rss-recipe")
        },
        std::path::PathBuf::from,
    );
    let path = cache.join("schemathesis/venv/bin/schemathesis");
    assert!(
        path.is_file(),
        "schemathesis is not installed at {}: run deploy/install-test-deps.sh",
        path.display()
    );
    path
}

/// Runs schemathesis against the OpenAPI document at `schema_url`, sending every header in
/// `extra_headers` (`"Name: value"`) with each request: no 5xx, and every status code,
/// content type, header and JSON body as documented. Examples are bounded and the run is
/// killed after 5 minutes; it works in a scratch directory, so it leaves no database or
/// reports in the work tree. Fails the test when schemathesis is not installed.
pub async fn run_schemathesis(schema_url: &str, extra_headers: &[&str]) -> std::process::Output {
    // Tests of one binary run concurrently: each run gets its own directory.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let schemathesis = schemathesis();
    let scratch = std::env::temp_dir().join(format!(
        "rss-schemathesis-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&scratch)
        .unwrap_or_else(|error| panic!("creating {}: {error}", scratch.display()));
    let mut command = tokio::process::Command::new(schemathesis);
    command.current_dir(&scratch).args(["run", schema_url]);
    for header in extra_headers {
        command.args(["--header", header]);
    }
    let run = command
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "40",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
            "--no-color",
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("schemathesis finishes within 5 minutes")
        .expect("schemathesis runs");
    let _ = std::fs::remove_dir_all(&scratch);
    output
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return None;
    }
    let mut labels = std::collections::BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = inner.find('=')?;
            let key = &inner[..eq];
            if !valid_name(key) || key.contains(':') {
                return None;
            }
            let mut value = String::new();
            let mut chars = inner[eq + 1..].strip_prefix('"')?.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        _ => return None,
                    },
                    (_, c) => value.push(c),
                }
            };
            if labels.insert(key.to_owned(), value).is_some() {
                return None;
            }
            inner = &inner[eq + 1 + 1 + end + 1..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let value = rest.strip_prefix(' ')?;
    // An optional timestamp may follow the value.
    let value = value.split(' ').next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        number => number.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// A deployment CA minted for one test, its files in a private temporary directory (removed on
/// drop): `settings("edge")` gives a service the `[tls]` settings of a certificate naming it.
#[derive(Debug)]
pub struct TestPki {
    dir: std::path::PathBuf,
    authority: crate::tls::mint::Authority,
}

impl TestPki {
    pub fn new() -> TestPki {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rss-test-pki-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let authority =
            crate::tls::mint::Authority::new("rss-recipe test CA").expect("mint a test CA");
        crate::tls::mint::create_private_dir(&dir).expect("create the test PKI directory");
        crate::tls::mint::write_private(&dir.join("ca.pem"), authority.cert_pem())
            .expect("write the test CA");
        TestPki { dir, authority }
    }

    /// The directory holding `ca.pem` and the issued `<service>.pem` / `<service>.key`.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn ca_pem(&self) -> &str {
        self.authority.cert_pem()
    }

    /// `[tls]` settings for `service`: a new certificate from this CA naming it.
    pub fn settings(&self, service: &str) -> crate::tls::TlsSettings {
        let issued = self
            .authority
            .issue(service)
            .expect("issue a test certificate");
        let cert = self.dir.join(format!("{service}.pem"));
        let key = self.dir.join(format!("{service}.key"));
        crate::tls::mint::write_private(&cert, &issued.cert_pem).expect("write a test cert");
        crate::tls::mint::write_private(&key, &issued.key_pem).expect("write a test key");
        crate::tls::TlsSettings {
            ca: Some(self.dir.join("ca.pem")),
            cert: Some(cert),
            key: Some(key),
        }
    }

    /// `service`'s identity from this CA.
    pub fn identity(&self, service: &str) -> crate::tls::Identity {
        self.settings(service)
            .load(service)
            .expect("load a test identity")
            .expect("settings are complete")
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
