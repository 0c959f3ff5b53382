//! Sharing the refresh work: with the live middle tiers the registry lists, every feed has
//! exactly one owner, and when an instance goes away its feeds (only its feeds) move to the
//! others.

use std::time::Duration;

use platform::testing::eventually;

use middletier::refresh::Ownership;
use middletier_api::domain::FeedUrl;
use platform::health::{Health, Status};
use platform::lifecycle::Shutdown;
use registry_client::{ClientSettings, Discovery, InstanceConfig, Registration, RegistryClient};

fn instance(port: u16) -> InstanceConfig {
    InstanceConfig {
        app: "MIDDLETIER".into(),
        vip_address: "middletier".into(),
        host: "127.0.0.1".into(),
        ip_addr: "127.0.0.1".into(),
        port,
        secure: false,
        health_check_path: "/health".into(),
    }
}

#[tokio::test]
async fn every_feed_has_exactly_one_owner_and_a_leaving_instance_hands_over_only_its_own() {
    let registry = registry::Application::build({
        let mut settings = registry::testing::credentials().secure(registry::Settings::default());
        settings.server.port = 0;
        settings
    })
    .await
    .expect("registry");
    let settings = ClientSettings {
        url: registry::testing::credentials()
            .url_as("middletier", registry.base_url().as_str())
            .into(),
        renewal_interval: Duration::from_millis(100),
        lease_duration: Duration::from_secs(1),
        fetch_interval: Duration::from_millis(50),
    };
    let stop_registry = Shutdown::new();
    tokio::spawn(registry.run_until_stopped(stop_registry.clone()));
    let client = RegistryClient::new(&settings).expect("client");

    // Three middle tiers, each registered and each with its own view of the others.
    let mut members = Vec::new();
    for port in [9301, 9302, 9303] {
        let config = instance(port);
        let id = config.instance_id();
        let stop = Shutdown::new();
        let registration = Registration::start(
            client.clone(),
            config,
            &settings,
            Health::new(Status::Up),
            stop.clone(),
        );
        let peers = Discovery::start(client.clone(), "middletier", &settings, stop.clone());
        members.push((
            Ownership::shared(id, peers.clone()),
            peers,
            stop,
            registration,
        ));
    }
    eventually(
        "everyone sees all three",
        Duration::from_secs(10),
        || async {
            members
                .iter()
                .all(|(_, peers, ..)| peers.instances().len() == 3)
        },
    )
    .await;

    let feeds: Vec<FeedUrl> = (0..600)
        .map(|n| FeedUrl::parse(&format!("https://example.com/{n}.xml")).expect("url"))
        .collect();
    let owners_of = |members: &[(Ownership, Discovery, Shutdown, Registration)], feed: &FeedUrl| {
        members
            .iter()
            .enumerate()
            .filter(|(_, (ownership, ..))| ownership.owns(feed))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let before: Vec<Vec<usize>> = feeds.iter().map(|feed| owners_of(&members, feed)).collect();
    for (feed, owners) in feeds.iter().zip(&before) {
        assert_eq!(owners.len(), 1, "{feed} has owners {owners:?}");
    }
    for member in 0..3 {
        let share = before.iter().filter(|owners| owners[0] == member).count();
        assert!(
            (120..=280).contains(&share),
            "member {member} owns {share} of 600"
        );
    }

    // The second one stops (deregisters); the other two take over its feeds, and only those.
    let (_, _, stop, registration) = members.remove(1);
    stop.cancel();
    registration.stopped().await;
    eventually("the others see two", Duration::from_secs(10), || async {
        members
            .iter()
            .all(|(_, peers, ..)| peers.instances().len() == 2)
    })
    .await;
    for (feed, owners_before) in feeds.iter().zip(&before) {
        let now: Vec<usize> = owners_of(&members, feed);
        assert_eq!(now.len(), 1, "{feed} has owners {now:?}");
        let was = owners_before[0];
        if was != 1 {
            let still = if was == 0 { 0 } else { 1 };
            assert_eq!(now, [still], "{feed} stays with its live owner");
        }
    }
    for (_, _, stop, _) in &members {
        stop.cancel();
    }
    stop_registry.cancel();
}
