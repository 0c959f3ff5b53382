//! Outgoing HTTP clients.
//!
//! Every `reqwest::Client` in the workspace starts from [`client_builder`], so TLS (rustls with
//! the `ring` provider, installed once here), the User-Agent and proxying are configured in one
//! place.
//!
//! **No proxy from the environment.** reqwest would otherwise send requests through whatever
//! `HTTP_PROXY`, `HTTPS_PROXY` or `ALL_PROXY` names. For the middle tier's feed fetcher that
//! would hand every fetch to the proxy, which connects wherever it is asked: past the SSRF
//! guard, which checks the addresses this process connects to. For the calls between services
//! it would route the service token and users' data through a third host. So the builder
//! ignores those variables; the recipe has no proxy setting, and a client that needs one adds
//! it explicitly (`.proxy(...)` after this), where a reader of the code sees it.

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
    reqwest::Client::builder().user_agent(USER_AGENT).no_proxy()
}
