//! The registry's trust boundary, attacked over HTTP on loopback: who may register, renew,
//! cancel, override and replicate, with the credentials minted for this run
//! ([`crate::helpers::credentials`]).

use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;
use serde_json::json;

use crate::helpers::{
    PREFIXES, TestRegistry, credentials, http_as, instance_json, spawn_registry,
    spawn_registry_from,
};

const APP: &str = "MIDDLETIER";
const ID: &str = "10.0.0.1:middletier:9191";

/// `body` registered as `principal`; the status the registry answered.
async fn register_as(
    app: &TestRegistry,
    principal: &(String, String),
    body: &serde_json::Value,
) -> StatusCode {
    http_as(principal)
        .post(app.url("/eureka/v2", &format!("/apps/{APP}")))
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
}

fn the_instance(home: &str) -> serde_json::Value {
    let mut body = instance_json(APP, ID, "middletier", "UP");
    body["instance"]["homePageUrl"] = json!(home);
    body
}

#[tokio::test]
async fn a_registration_without_credentials_is_refused_with_a_basic_challenge() {
    let app = spawn_registry().await;
    let anonymous = platform::http::client_builder().build().unwrap();
    for prefix in PREFIXES {
        let response = anonymous
            .post(app.url(prefix, &format!("/apps/{APP}")))
            .json(&the_instance("http://10.0.0.1:9191/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Basic realm="eureka""#
        );
    }
    let (name, _) = &credentials().service;
    let wrong = (name.clone(), platform::testing::mint_secret());
    assert_eq!(
        register_as(&app, &wrong, &the_instance("http://10.0.0.1:9191/")).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(app.registry.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn reads_need_credentials_unless_configured_open() {
    let app = spawn_registry().await;
    let anonymous = platform::http::client_builder().build().unwrap();
    let apps = app.url("/eureka/v2", "/apps");
    assert_eq!(
        anonymous.get(&apps).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let reader = http_as(&credentials().service);
    assert_eq!(
        reader.get(&apps).send().await.unwrap().status(),
        StatusCode::OK
    );
    // Health stays open for orchestrators' probes.
    let health = app.url("", "/health");
    assert_eq!(
        anonymous.get(&health).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.stop().await;

    let mut settings = registry::Settings::default();
    settings.server.port = 0;
    settings.auth = credentials().auth_settings();
    settings.auth.reads = registry::ReadAccess::Open;
    let open = spawn_registry_from(settings).await;
    let apps = open.url("/eureka/v2", "/apps");
    assert_eq!(
        anonymous.get(&apps).send().await.unwrap().status(),
        StatusCode::OK
    );
    let register = anonymous
        .post(open.url("/eureka/v2", &format!("/apps/{APP}")))
        .json(&the_instance("http://10.0.0.1:9191/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        register.status(),
        StatusCode::UNAUTHORIZED,
        "writes still need them"
    );
    open.stop().await;
}

#[tokio::test]
async fn a_service_cannot_renew_replace_or_cancel_another_services_instance() {
    let app = spawn_registry().await;
    let (owner, other) = (&credentials().service, &credentials().other_service);
    assert_eq!(
        register_as(&app, owner, &the_instance("http://10.0.0.1:9191/")).await,
        StatusCode::NO_CONTENT
    );

    // The impostor holds valid service credentials, just not the owner's.
    let mut takeover = the_instance("http://attacker:9191/");
    takeover["instance"]["lastDirtyTimestamp"] = json!(registry_client::model::now_millis());
    assert_eq!(
        register_as(&app, other, &takeover).await,
        StatusCode::FORBIDDEN
    );
    let impostor = http_as(other);
    let instance = app.url("/eureka/v2", &format!("/apps/{APP}/{ID}"));
    let renew = impostor.put(&instance).send().await.unwrap();
    assert_eq!(renew.status(), StatusCode::FORBIDDEN);
    let cancel = impostor.delete(&instance).send().await.unwrap();
    assert_eq!(cancel.status(), StatusCode::FORBIDDEN);

    let held = app.registry.replica(APP, ID).unwrap();
    assert_eq!(held.home_page_url, "http://10.0.0.1:9191/");
    assert_eq!(held.metadata["registry.principal"], owner.0);
    let own = http_as(owner);
    assert_eq!(
        own.put(&instance).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        own.delete(&instance).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn the_owner_is_taken_from_the_credentials_never_from_the_body() {
    let app = spawn_registry().await;
    let mut forged = the_instance("http://10.0.0.1:9191/");
    forged["instance"]["metadata"] = json!({"registry.principal": credentials().service.0});
    let other = &credentials().other_service;
    assert_eq!(
        register_as(&app, other, &forged).await,
        StatusCode::NO_CONTENT
    );
    let held = app.registry.replica(APP, ID).unwrap();
    assert_eq!(held.metadata["registry.principal"], other.0);
    // Clients read the instance as it registered, without the registry's record of its owner.
    let (_, read) = app
        .get_json("/eureka/v2", &format!("/apps/{APP}/{ID}"))
        .await;
    assert!(
        read["instance"]["metadata"]
            .get("registry.principal")
            .is_none(),
        "{read}"
    );

    // Nor can an operator rewrite it through the metadata endpoint.
    let metadata = app.url(
        "/eureka/v2",
        &format!("/apps/{APP}/{ID}/metadata?registry.principal=ops&zone=a"),
    );
    let operator = http_as(&credentials().operator);
    assert_eq!(
        operator.put(&metadata).send().await.unwrap().status(),
        StatusCode::OK
    );
    let held = app.registry.replica(APP, ID).unwrap();
    assert_eq!(held.metadata["registry.principal"], other.0);
    assert_eq!(held.metadata["zone"], "a");
    app.stop().await;
}

#[tokio::test]
async fn status_overrides_and_metadata_need_an_operator() {
    let app = spawn_registry().await;
    let owner = &credentials().service;
    assert_eq!(
        register_as(&app, owner, &the_instance("http://10.0.0.1:9191/")).await,
        StatusCode::NO_CONTENT
    );
    let status = app.url(
        "/eureka/v2",
        &format!("/apps/{APP}/{ID}/status?value=OUT_OF_SERVICE"),
    );
    let metadata = app.url("/eureka/v2", &format!("/apps/{APP}/{ID}/metadata?k=v"));
    // Not even the owner: taking instances out of traffic is an operator's act.
    for principal in [owner, &credentials().other_service] {
        let service = http_as(principal);
        let put = service.put(&status).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::FORBIDDEN);
        let delete = service.delete(&status).send().await.unwrap();
        assert_eq!(delete.status(), StatusCode::FORBIDDEN);
        let put = service.put(&metadata).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(app.status_of(APP, ID), Some(registry_client::Status::Up));

    let operator = http_as(&credentials().operator);
    assert_eq!(
        operator.put(&status).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        app.status_of(APP, ID),
        Some(registry_client::Status::OutOfService)
    );
    // An operator may also cancel any instance; and registers none.
    let instance = app.url("/eureka/v2", &format!("/apps/{APP}/{ID}"));
    assert_eq!(
        operator.delete(&instance).send().await.unwrap().status(),
        StatusCode::OK
    );
    let register = operator
        .post(app.url("/eureka/v2", &format!("/apps/{APP}")))
        .json(&the_instance("http://10.0.0.1:9191/"))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn an_ordinary_client_cannot_claim_to_be_a_peer() {
    let app = spawn_registry().await;
    let owner = &credentials().service;
    assert_eq!(
        register_as(&app, owner, &the_instance("http://10.0.0.1:9191/")).await,
        StatusCode::NO_CONTENT
    );
    let batch = json!({"replicationList": [{
        "appName": APP, "id": ID, "action": "StatusUpdate", "status": "OUT_OF_SERVICE",
        "lastDirtyTimestamp": registry_client::model::now_millis(),
    }]});
    let url = app.url("/eureka/v2", "/peerreplication/batch");
    let anonymous = platform::http::client_builder().build().unwrap();
    let response = anonymous.post(&url).json(&batch).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for principal in [owner, &credentials().operator] {
        let response = http_as(principal)
            .post(&url)
            .header("x-netflix-discovery-replication", "true")
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    // The header does not make a service's status override a peer's replicated one.
    let status = app.url(
        "/eureka/v2",
        &format!("/apps/{APP}/{ID}/status?value=OUT_OF_SERVICE"),
    );
    let response = http_as(&credentials().other_service)
        .put(&status)
        .header("x-netflix-discovery-replication", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.status_of(APP, ID), Some(registry_client::Status::Up));

    // A peer's batch is applied.
    let response = http_as(&credentials().peer)
        .post(&url)
        .header("x-netflix-discovery-replication", "true")
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.status_of(APP, ID),
        Some(registry_client::Status::OutOfService)
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_instance_is_a_bare_404_as_eurekas_clients_expect() {
    let app = spawn_registry().await;
    let service = http_as(&credentials().service);
    for prefix in PREFIXES {
        let instance = app.url(prefix, &format!("/apps/{APP}/unknown"));
        for request in [
            service.put(&instance),
            service.delete(&instance),
            service.get(&instance).header("accept", "application/json"),
            service.get(app.url(prefix, "/apps/NOBODY")),
            service.get(app.url(prefix, "/instances/unknown")),
            http_as(&credentials().operator).put(format!("{instance}/status?value=OUT_OF_SERVICE")),
        ] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            // Netflix's client reads any 404 body on a renewal as an instance, and then never
            // registers again.
            assert_eq!(response.text().await.unwrap(), "");
        }
    }
    app.stop().await;
}
