//! What several test modules share.

use std::time::Duration;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Every reqwest client needs the TLS provider that `platform` installs.
pub fn http() -> reqwest::Client {
    platform::http::client_builder()
        .build()
        .expect("http client")
}

/// A registry that admits test credentials, on an OS-chosen port and serving until `stop`; the
/// URL a middle tier registers with (carrying the middle tier's credentials).
pub async fn registry_for_middletier(stop: &platform::lifecycle::Shutdown) -> String {
    let credentials = registry::testing::credentials();
    let mut settings = credentials.secure(registry::Settings::default());
    settings.server.port = 0;
    let registry = registry::Application::build(settings)
        .await
        .expect("registry");
    let url = credentials.url_as("middletier", registry.base_url().as_str());
    tokio::spawn(registry.run_until_stopped(stop.clone()));
    url
}

/// The one Cassandra node every Cassandra test uses. Tests that only use it hold it shared; the
/// test that kills and restarts the node holds it alone, so it never pulls the node from under
/// another test of this binary (they all run at once, in one process).
static CASSANDRA: RwLock<()> = RwLock::const_new(());

/// Held for the whole of a test that uses the Cassandra node.
pub async fn cassandra_shared() -> RwLockReadGuard<'static, ()> {
    CASSANDRA.read().await
}

/// Held for the whole of a test that stops the Cassandra node.
pub async fn cassandra_exclusive() -> RwLockWriteGuard<'static, ()> {
    CASSANDRA.write().await
}

/// A wall-clock bound, the only kind of timing these tests assert: that something which must
/// not hang (a timeout, a failure reported fast, a prompt exit, a parse of a hostile document)
/// ended at all, with a bound many times what it takes, so a loaded machine does not trip it
/// but a missing timeout or a super-linear blow-up does. How fast things are is measured by
/// the benches (`middletier/benches`), never asserted here.
#[track_caller]
pub fn assert_bounded(what: &str, elapsed: Duration, bound: Duration) {
    assert!(elapsed < bound, "{what}: took {elapsed:?}, bound {bound:?}");
}

/// A directory of its own under the system's temporary directory, removed when dropped: where
/// a test keeps its SQLite database files.
pub struct ScratchDir(pub std::path::PathBuf);

impl ScratchDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "middletier-{name}-{}",
            middletier::testing::unique_prefix()
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Self(dir)
    }

    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
