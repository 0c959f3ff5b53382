//! For other crates' tests and benches (feature `test-support`): a registry secured as in
//! production, with credentials minted once per test process, so tests run against the real
//! trust boundary and no secret is ever committed.

use std::sync::OnceLock;

use platform::config::Secret;

use crate::settings::{AuthSettings, Settings};

/// The principals of every registry a test process starts: services `middletier` and `edge`,
/// operator `ops`, peer `peer`, each with a secret minted for this run.
#[derive(Debug)]
pub struct TestCredentials {
    secrets: [(&'static str, String); 4],
}

/// This process's credentials, minted on first use.
pub fn credentials() -> &'static TestCredentials {
    static CREDENTIALS: OnceLock<TestCredentials> = OnceLock::new();
    CREDENTIALS.get_or_init(|| TestCredentials {
        secrets: ["middletier", "edge", "ops", "peer"]
            .map(|name| (name, platform::testing::mint_secret())),
    })
}

impl TestCredentials {
    /// The secret of `name` (`middletier`, `edge`, `ops` or `peer`).
    pub fn secret(&self, name: &str) -> &str {
        self.secrets
            .iter()
            .find(|(known, _)| *known == name)
            .map_or_else(
                || panic!("no test principal {name:?}"),
                |(_, secret)| secret,
            )
    }

    /// `[auth]` knowing these principals; reads need credentials, as in production.
    pub fn auth_settings(&self) -> AuthSettings {
        let entry = |name: &str| format!("{name}:{}", self.secret(name));
        AuthSettings {
            services: Secret::new(format!("{},{}", entry("middletier"), entry("edge"))),
            operators: Secret::new(entry("ops")),
            peers: Secret::new(entry("peer")),
            ..AuthSettings::default()
        }
    }

    /// `settings` with these principals.
    pub fn secure(&self, mut settings: Settings) -> Settings {
        settings.auth = self.auth_settings();
        settings
    }

    /// `url` (`http://host:port/eureka/v2/`) with `name`'s credentials as its user info, as a
    /// service's `RSS_REGISTRY__URL` carries them.
    pub fn url_as(&self, name: &str, url: &str) -> String {
        let secret = self.secret(name);
        match url.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{name}:{secret}@{rest}"),
            None => url.to_owned(),
        }
    }
}
