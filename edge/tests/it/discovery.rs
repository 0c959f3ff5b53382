//! The registry's role in the running system: leases expire for dead instances, and live
//! instances come back by themselves when the registry forgets them.

use std::sync::Arc;

use middletier::store::MemoryStore;

use crate::support::{
    eventually, middletier_settings, registered_middletiers, registry_settings, spawn_middletier,
    spawn_registry,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_expiry_evicts_a_killed_middletier() {
    let registry = spawn_registry(registry_settings(0)).await;
    let middletier =
        spawn_middletier(middletier_settings(&registry), Arc::new(MemoryStore::new())).await;
    eventually("the middle tier registered", || async {
        registered_middletiers(&registry).await == 1
    })
    .await;

    middletier.kill().await;
    // Its 1 s lease runs out and the 100 ms eviction loop removes it; nobody deregistered it.
    eventually("the killed middle tier is evicted", || async {
        registered_middletiers(&registry).await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_middletier_registers_again_after_the_registry_restarts_and_forgets_it() {
    let registry = spawn_registry(registry_settings(0)).await;
    let port = registry.port;
    let settings = middletier_settings(&registry);
    let _middletier = spawn_middletier(settings, Arc::new(MemoryStore::new())).await;
    eventually("the middle tier registered", || async {
        registered_middletiers(&registry).await == 1
    })
    .await;

    registry.stop().await;
    let restarted = spawn_registry(registry_settings(port)).await;
    assert_eq!(
        registered_middletiers(&restarted).await,
        0,
        "a new registry starts empty"
    );
    // Its next renewal gets 404, so it registers again.
    eventually("the middle tier is back", || async {
        registered_middletiers(&restarted).await == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_middletier_deregisters_at_once() {
    let registry = spawn_registry(registry_settings(0)).await;
    let middletier =
        spawn_middletier(middletier_settings(&registry), Arc::new(MemoryStore::new())).await;
    eventually("the middle tier registered", || async {
        registered_middletiers(&registry).await == 1
    })
    .await;
    middletier.stop().await;
    assert_eq!(
        registered_middletiers(&registry).await,
        0,
        "gone as soon as stop returns"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_middletier_fails_no_page() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use crate::support::{Browser, System};
    use middletier::testing::FeedPublisher;

    let publisher = FeedPublisher::start().await;
    let store: Arc<dyn middletier::store::Store> = Arc::new(MemoryStore::new());
    let mut system = System::start_on(vec![store.clone(), store.clone()]).await;
    let browser = Arc::new(Browser::new(&system.edge));
    browser.subscribe(&publisher.url("/rss.xml")).await;

    // Readers load pages the whole time; each middle tier in turn stops gracefully (it leaves
    // the registry, then drains) and a new one takes its place, as in a deployment.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (browser, stop, served) = (browser.clone(), stop.clone(), served.clone());
            tokio::spawn(async move {
                let mut bad = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let page = browser.home().await;
                    served.fetch_add(1, Ordering::Relaxed);
                    if page.status != reqwest::StatusCode::OK
                        || page.html.contains("banner")
                        || !page.html.contains("RSS first story")
                    {
                        bad.push(page.status);
                    }
                }
                bad
            })
        })
        .collect();
    for _ in 0..2 {
        let old = system.middletiers.remove(0);
        let before = served.load(Ordering::Relaxed);
        old.stop().await;
        let fresh = spawn_middletier(middletier_settings(&system.registry), store.clone()).await;
        system.middletiers.push(fresh);
        eventually("the registry lists two middle tiers again", || async {
            registered_middletiers(&system.registry).await == 2
        })
        .await;
        eventually("pages keep being served", || async {
            served.load(Ordering::Relaxed) >= before + 30
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        let bad = reader.await.expect("reader");
        assert!(
            bad.is_empty(),
            "pages failed or fell back during the rolling restart: {bad:?}"
        );
    }
}
