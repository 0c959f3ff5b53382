//! [`Upstream`] against fake middle tiers: real HTTP on loopback (axum on port 0), each
//! counting the calls it gets and answering as the test says. The middle tier is outside what
//! is tested here; the balancer gets a fixed list of these instances instead of discovery.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::watch;

use middletier_api::{CallError, NewAccount};
use platform::config::Dynamic;
use registry_client::Instance;

use super::*;
use crate::balancer::{BalancerSettings, OutlierSettings};
use crate::resilience::budget::RetryBudgetSettings;

/// How a fake middle tier answers.
#[derive(Clone, Debug)]
enum Answer {
    Ok,
    /// 500.
    ServerError,
    /// Never: the call times out on the edge's side.
    Never,
    /// Answers once the test opens the gate.
    After(watch::Receiver<bool>),
    /// The answer with a megabyte of padding: over the cap of [`small_answers`].
    Oversized,
}

#[derive(Clone, Debug)]
struct FakeMiddletier {
    calls: Arc<AtomicUsize>,
    answer: Arc<Mutex<Answer>>,
}

impl FakeMiddletier {
    /// Serves on a loopback port of its own until the test's runtime ends.
    async fn start(answer: Answer) -> (Self, Instance) {
        let fake = Self {
            calls: Arc::default(),
            answer: Arc::new(Mutex::new(answer)),
        };
        let router = Router::new()
            .route("/middletier/rss/user/{user}", get(feeds).post(subscribe))
            .route("/middletier/accounts", post(create_account))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        (fake, instance(port))
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = answer;
    }

    async fn respond(&self, body: Value) -> Response {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match answer {
            Answer::Ok => Json(body).into_response(),
            Answer::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            Answer::Never => std::future::pending().await,
            Answer::After(mut gate) => {
                let _ = gate.wait_for(|open| *open).await;
                Json(body).into_response()
            }
            Answer::Oversized => {
                let mut body = body;
                body["padding"] = Value::String("x".repeat(1024 * 1024));
                Json(body).into_response()
            }
        }
    }
}

async fn feeds(State(fake): State<FakeMiddletier>, Path(user): Path<String>) -> Response {
    fake.respond(json!({ "user": user, "subscriptions": [] }))
        .await
}

async fn subscribe(State(fake): State<FakeMiddletier>, Path(user): Path<String>) -> Response {
    let change = json!({ "user": user, "url": "https://example.com/feed", "changed": true });
    fake.respond(change).await
}

async fn create_account(
    State(fake): State<FakeMiddletier>,
    Json(account): Json<Value>,
) -> Response {
    let created = json!({
        "user": account["user"],
        "password_hash": account["password_hash"],
        "created": "2024-01-01T00:00:00Z",
    });
    fake.respond(created).await
}

fn instance(port: u16) -> Instance {
    Instance {
        id: format!("mt-{port}"),
        base_url: url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"),
    }
}

/// An address nothing listens on: connecting is refused.
async fn dead_instance() -> Instance {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    instance(port)
}

/// An upstream over `instances`, tried in that order by a fresh round-robin balancer.
fn upstream(instances: Vec<Instance>, middletier: MiddletierSettings) -> Upstream {
    let client = MiddletierClient::new(Duration::from_secs(2), middletier.read_timeout)
        .expect("HTTP client");
    let settings = UpstreamSettings {
        middletier: Dynamic::fixed(middletier),
        ..UpstreamSettings::default()
    };
    let balancer = Balancer::fixed(
        instances,
        BalancerSettings::default(),
        OutlierSettings::default(),
    );
    Upstream::with_balancer(client, balancer, &settings)
}

/// [`upstream`] reading answers of at most 64 KiB.
fn small_answers(instances: Vec<Instance>) -> Upstream {
    let client = MiddletierClient::new(Duration::from_secs(2), Duration::from_secs(9))
        .expect("HTTP client")
        .with_max_answer_bytes(64 * 1024);
    let balancer = Balancer::fixed(
        instances,
        BalancerSettings::default(),
        OutlierSettings::default(),
    );
    let every_read_calls = UpstreamSettings {
        read_cache: ReadCacheSettings {
            fresh_for: Duration::ZERO,
            ..ReadCacheSettings::default()
        },
        ..UpstreamSettings::default()
    };
    Upstream::with_balancer(client, balancer, &every_read_calls)
}

fn retrying(max_auto_retries: u32, max_auto_retries_next_server: u32) -> MiddletierSettings {
    MiddletierSettings {
        max_auto_retries,
        max_auto_retries_next_server,
        ..MiddletierSettings::default()
    }
}

fn new_account() -> NewAccount {
    NewAccount {
        user: "alice".to_owned(),
        password_hash: "hash".to_owned(),
    }
}

async fn fakes(n: usize, answer: Answer) -> (Vec<FakeMiddletier>, Vec<Instance>) {
    let mut fakes = Vec::new();
    let mut instances = Vec::new();
    for _ in 0..n {
        let (fake, instance) = FakeMiddletier::start(answer.clone()).await;
        fakes.push(fake);
        instances.push(instance);
    }
    (fakes, instances)
}

fn calls(fakes: &[FakeMiddletier]) -> Vec<usize> {
    fakes.iter().map(FakeMiddletier::calls).collect()
}

#[tokio::test]
async fn a_failing_read_is_retried_on_the_same_instance_then_on_the_next() {
    let (fakes, instances) = fakes(3, Answer::ServerError).await;
    let upstream = upstream(instances, retrying(1, 1));
    let outcome = upstream.feeds("alice").await;
    assert!(
        matches!(
            outcome,
            FeedsOutcome::Unavailable {
                reason: UpstreamError::Failed(CallError::Server { .. })
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        calls(&fakes),
        [2, 2, 0],
        "(1 + max_auto_retries) on each of (1 + max_auto_retries_next_server) instances"
    );
}

#[tokio::test]
async fn by_default_a_failing_read_is_tried_once_on_two_instances() {
    let (fakes, instances) = fakes(3, Answer::ServerError).await;
    let upstream = upstream(instances, MiddletierSettings::default());
    let _ = upstream.feeds("alice").await;
    assert_eq!(calls(&fakes), [1, 1, 0]);
}

#[tokio::test]
async fn a_read_that_succeeds_on_retry_is_answered_fresh() {
    let (fakes, instances) = fakes(2, Answer::Ok).await;
    fakes[0].answer(Answer::ServerError);
    let upstream = upstream(instances, MiddletierSettings::default());
    assert!(matches!(
        upstream.feeds("alice").await,
        FeedsOutcome::Fresh(_)
    ));
    assert_eq!(calls(&fakes), [1, 1]);
}

#[tokio::test]
async fn an_oversized_answer_fails_the_attempt_against_that_instance() {
    let (fakes, instances) = fakes(2, Answer::Ok).await;
    fakes[0].answer(Answer::Oversized);
    let upstream = small_answers(instances);
    assert!(matches!(
        upstream.feeds("alice").await,
        FeedsOutcome::Fresh(_)
    ));
    assert_eq!(calls(&fakes), [1, 1], "tried on the next instance");
    let failures: Vec<u64> = upstream.instances().iter().map(|i| i.failures).collect();
    assert_eq!(failures, [1, 0], "counted against the one that sent it");

    fakes[1].answer(Answer::Oversized);
    let outcome = upstream.feeds("alice").await;
    assert!(
        matches!(
            outcome,
            FeedsOutcome::Stale {
                reason: UpstreamError::Failed(CallError::TooLarge { limit: 65536 }),
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_spent_retry_budget_makes_the_first_failure_final() {
    let (fakes, instances) = fakes(3, Answer::ServerError).await;
    let no_budget = MiddletierSettings {
        retry_budget: RetryBudgetSettings {
            percent: 0,
            min_per_second: 0,
            ..RetryBudgetSettings::default()
        },
        ..retrying(2, 2)
    };
    let upstream = upstream(instances, no_budget);
    let _ = upstream.feeds("alice").await;
    assert_eq!(calls(&fakes), [1, 0, 0], "no retry at all");
    assert_eq!(upstream.retries_refused(), 1);
}

#[tokio::test]
async fn account_creation_is_not_retried_after_a_server_error() {
    let (fakes, instances) = fakes(2, Answer::ServerError).await;
    let upstream = upstream(instances, retrying(1, 1));
    let result = upstream.create_account(&new_account()).await;
    assert!(
        matches!(result, Err(UpstreamError::Failed(CallError::Server { .. }))),
        "{result:?}"
    );
    assert_eq!(
        calls(&fakes),
        [1, 0],
        "the first attempt may have created the account"
    );
}

#[tokio::test]
async fn account_creation_is_not_retried_after_a_timeout() {
    let (fakes, instances) = fakes(2, Answer::Never).await;
    let short_reads = MiddletierSettings {
        read_timeout: Duration::from_millis(200),
        ..retrying(1, 1)
    };
    let upstream = upstream(instances, short_reads);
    let result = upstream.create_account(&new_account()).await;
    assert!(
        matches!(result, Err(UpstreamError::Failed(CallError::Timeout))),
        "{result:?}"
    );
    assert_eq!(calls(&fakes), [1, 0]);
}

#[tokio::test]
async fn account_creation_is_retried_after_a_refused_connection() {
    let (live, live_instance) = FakeMiddletier::start(Answer::Ok).await;
    let dead = dead_instance().await;
    let upstream = upstream(vec![dead.clone(), live_instance], retrying(0, 1));
    let created = upstream.create_account(&new_account()).await;
    assert!(matches!(created, Ok(Some(_))), "{created:?}");
    assert_eq!(live.calls(), 1);
    let refused = upstream
        .instances()
        .into_iter()
        .find(|view| view.id == dead.id)
        .expect("the dead instance is listed");
    assert_eq!(refused.failures, 1, "it was tried first, and refused");
}

#[tokio::test]
async fn concurrent_readers_of_an_expired_entry_cause_one_middle_tier_call() {
    let (fake, instance) = FakeMiddletier::start(Answer::Ok).await;
    let upstream = Arc::new(upstream(vec![instance], MiddletierSettings::default()));
    assert!(matches!(
        upstream.feeds("alice").await,
        FeedsOutcome::Fresh(_)
    ));
    upstream
        .subscribe("alice", "https://example.com/feed")
        .await
        .expect("subscribed");
    assert_eq!(fake.calls(), 2, "a read, then a write that expires it");

    let (open, gate) = watch::channel(false);
    fake.answer(Answer::After(gate));
    let refresh = tokio::spawn({
        let upstream = upstream.clone();
        async move { upstream.feeds("alice").await }
    });
    platform::testing::eventually(
        "the refresh reaches the middle tier",
        Duration::from_secs(10),
        || async { fake.calls() == 3 },
    )
    .await;
    let readers = (0..5).map(|_| upstream.feeds("alice"));
    for outcome in futures::future::join_all(readers).await {
        assert!(
            matches!(outcome, FeedsOutcome::Fresh(_)),
            "answered from the cache while the refresh is held: {outcome:?}"
        );
    }
    assert_eq!(fake.calls(), 3, "the other readers made no call");

    open.send(true).expect("the gate is watched");
    let refreshed = refresh.await.expect("the refresh finishes");
    assert!(matches!(refreshed, FeedsOutcome::Fresh(_)));
    assert_eq!(fake.calls(), 3);
}
