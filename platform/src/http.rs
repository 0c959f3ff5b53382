//! Outgoing HTTP clients.
//!
//! Every `reqwest::Client` in the workspace starts from [`client_builder`], so TLS (rustls with
//! the `ring` provider, installed once here) and the User-Agent are configured in one place.

use std::sync::Once;

/// Identifies us to publishers and peers, as polite crawlers do.
pub const USER_AGENT: &str = concat!(
    "rss-recipe/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/Netflix/recipes-rss)"
);

static INSTALL_TLS_PROVIDER: Once = Once::new();

pub fn client_builder() -> reqwest::ClientBuilder {
    INSTALL_TLS_PROVIDER.call_once(|| {
        // Fails only if another provider was installed first, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder().user_agent(USER_AGENT)
}
