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
