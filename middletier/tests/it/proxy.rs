//! Proxy variables in the environment never route a feed fetch: the fetcher's SSRF guard
//! checks the addresses this process connects to, and a proxy would connect wherever it is
//! asked, past the guard. A real `middletier` process is started with `HTTP_PROXY`,
//! `HTTPS_PROXY` and `ALL_PROXY` pointing at a recording proxy; its fetch goes straight to the
//! publisher, and the proxy sees nothing.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use middletier::testing::FeedPublisher;
use platform::testing::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::health::{registry, spawn_binary, wait_for_line};
use crate::support::http;

/// An HTTP proxy that counts the connections it gets and refuses every request (502).
async fn recording_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (url, connections)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_in_the_environment_never_sees_a_feed_fetch() {
    let publisher = FeedPublisher::start().await;
    let (proxy, connections) = recording_proxy().await;
    let (registry_url, _registry, _registry_stop) = registry().await;
    let (child, lines) = spawn_binary(
        &registry_url,
        &[
            ("RSS_FETCH__ALLOW_PRIVATE_NETWORKS", "true"),
            ("HTTP_PROXY", proxy.as_str()),
            ("http_proxy", proxy.as_str()),
            ("HTTPS_PROXY", proxy.as_str()),
            ("ALL_PROXY", proxy.as_str()),
        ],
    );
    // Killed however the test ends, so a failure leaves no process behind.
    let _child = KillOnDrop(child);
    let mut seen = Vec::new();
    let listening = tokio::task::block_in_place(|| {
        wait_for_line(&lines, &mut seen, "saying where it listens", |line| {
            line["fields"]["message"] == "middle tier listening"
        })
    });
    let base = listening["fields"]["url"].as_str().unwrap().to_owned();
    let client = http();
    eventually(
        "the middle tier is ready",
        Duration::from_secs(20),
        || async {
            client
                .get(format!("{base}readyz"))
                .send()
                .await
                .is_ok_and(|response| response.status() == 200)
        },
    )
    .await;

    let feed = publisher.url("/rss.xml");
    let subscribed = client
        .post(format!("{base}middletier/rss/user/alice"))
        .query(&[("url", feed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        subscribed.status(),
        201,
        "{}",
        subscribed.text().await.unwrap()
    );
    assert_eq!(
        publisher.requests("/rss.xml"),
        1,
        "fetched from the publisher itself"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the proxy was used");
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
