//! Graceful lifecycle: one cancellation token per process.
//!
//! `main` cancels it on Ctrl-C or SIGTERM; servers stop accepting and drain, background loops
//! (heartbeats, eviction, discovery refresh) finish their current step and return. Tests cancel
//! it by hand to stop one service of several in the same process.

pub use tokio_util::sync::CancellationToken as Shutdown;

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what `docker stop` and Kubernetes send).
pub async fn signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// A token cancelled when [`signal`] fires: what every `main` hands to its application.
pub fn on_signal() -> Shutdown {
    let shutdown = Shutdown::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        signal().await;
        trigger.cancel();
    });
    shutdown
}
