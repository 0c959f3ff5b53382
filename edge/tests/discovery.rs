//! The registry's role in the running system: leases expire for dead instances, and live
//! instances come back by themselves when the registry forgets them.

mod support;

use std::sync::Arc;

use middletier::store::MemoryStore;
use support::{
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
