//! Hostile registrations against a real registry on loopback, each sent with valid service
//! credentials (the boundary is not what stops them): the registry refuses each with a clear
//! 4xx and keeps serving.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestRegistry, credentials, http_as, instance_json, spawn_registry};

const APP: &str = "MIDDLETIER";

async fn still_serving(app: &TestRegistry) {
    let (status, _) = app.get_json("/eureka/v2", "/apps").await;
    assert_eq!(status, StatusCode::OK, "the registry keeps serving");
}

#[tokio::test]
async fn deeply_nested_xml_is_refused_and_the_registry_keeps_serving() {
    let app = spawn_registry().await;
    let depth = 20_000;
    // 140 KB, which overflowed the stack when the tree was read recursively.
    let body = format!(
        "<instance><instanceId>x</instanceId>{}{}</instance>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    assert!(body.len() > 140_000);
    let response = http_as(&credentials().service)
        .post(app.url("/eureka/v2", &format!("/apps/{APP}")))
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("nested deeper"),
        "{error}"
    );
    still_serving(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused_and_the_registry_keeps_serving() {
    let app = spawn_registry().await;
    let depth = 20_000;
    let body = format!(
        r#"{{"instance": {{"metadata": {}1{}}}}}"#,
        r#"{"a":"#.repeat(depth),
        "}".repeat(depth)
    );
    let response = http_as(&credentials().service)
        .post(app.url("/eureka/v2", &format!("/apps/{APP}")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    still_serving(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let app = spawn_registry().await;
    let mut body = instance_json(APP, "big", "middletier", "UP");
    body["instance"]["appGroupName"] = json!("x".repeat(2 * 1024 * 1024));
    let response = app.post_instance("/eureka/v2", APP, &body).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.registry.is_empty());
    still_serving(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_timestamp_far_in_the_future_cannot_take_over_an_instance_for_good() {
    let app = spawn_registry().await;
    let real = instance_json(APP, "m1", "middletier", "UP");
    assert_eq!(
        app.post_instance("/eureka/v2", APP, &real).await.status(),
        StatusCode::NO_CONTENT
    );
    // Same owner (the attack needs no other credential): a record with the highest possible
    // timestamp would win every later registration, and a lease of u32::MAX never expires.
    let mut takeover = instance_json(APP, "m1", "middletier", "UP");
    takeover["instance"]["homePageUrl"] = json!("http://attacker/");
    takeover["instance"]["lastDirtyTimestamp"] = json!(u64::MAX.to_string());
    takeover["instance"]["leaseInfo"]["durationInSecs"] = json!(u32::MAX);
    let response = app.post_instance("/eureka/v2", APP, &takeover).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("future"),
        "{error}"
    );
    let held = app.registry.instance(APP, "m1").unwrap();
    assert_eq!(held.home_page_url, "http://localhost:9191/");

    // Nor through an operator's status change.
    let status = app.url(
        "/eureka/v2",
        &format!(
            "/apps/{APP}/m1/status?value=UP&lastDirtyTimestamp={}",
            u64::MAX
        ),
    );
    assert_eq!(
        app.http.put(&status).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    // A lease asking for u32::MAX seconds gets the configured maximum.
    let mut long = instance_json(APP, "m2", "middletier", "UP");
    long["instance"]["leaseInfo"]["durationInSecs"] = json!(u32::MAX);
    assert_eq!(
        app.post_instance("/eureka/v2", APP, &long).await.status(),
        StatusCode::NO_CONTENT
    );
    let held = app.registry.instance(APP, "m2").unwrap();
    assert_eq!(held.lease_info.duration_in_secs, 600);
    app.stop().await;
}

#[tokio::test]
async fn instances_per_app_and_metadata_are_bounded() {
    let mut settings = registry::Settings::default();
    settings.server.port = 0;
    settings.limits.max_instances_per_app = 2;
    let app = crate::helpers::spawn_registry_from(settings).await;
    for id in ["a", "b"] {
        let body = instance_json(APP, id, "middletier", "UP");
        let status = app.post_instance("/eureka/v2", APP, &body).await.status();
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let third = instance_json(APP, "c", "middletier", "UP");
    let response = app.post_instance("/eureka/v2", APP, &third).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A known instance still re-registers.
    let again = instance_json(APP, "a", "middletier", "DOWN");
    let status = app.post_instance("/eureka/v2", APP, &again).await.status();
    assert_eq!(status, StatusCode::NO_CONTENT);

    let mut fat = instance_json("OTHER", "o1", "other", "UP");
    let metadata: serde_json::Map<_, _> = (0..100).map(|n| (format!("k{n}"), json!("v"))).collect();
    fat["instance"]["metadata"] = serde_json::Value::Object(metadata);
    let response = app.post_instance("/eureka/v2", "OTHER", &fat).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut heavy = instance_json("OTHER", "o1", "other", "UP");
    heavy["instance"]["metadata"] = json!({"k": "v".repeat(20_000)});
    let response = app.post_instance("/eureka/v2", "OTHER", &heavy).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(app.registry.instance("OTHER", "o1").is_err());
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_links_only_http_home_pages_under_a_strict_csp() {
    let app = spawn_registry().await;
    let mut body = instance_json(APP, "evil", "middletier", "UP");
    body["instance"]["homePageUrl"] = json!("javascript:alert(document.cookie)");
    app.post_instance("/eureka/v2", APP, &body).await;
    let good = instance_json(APP, "good", "middletier", "UP");
    app.post_instance("/eureka/v2", APP, &good).await;

    let response = app.http.get(app.admin_url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let page = response.text().await.unwrap();
    assert!(!page.contains("javascript:"), "{page}");
    assert!(page.contains(r#"href="http://localhost:9191/""#), "{page}");
    // Every registry answer carries it, the API's too.
    let response = app
        .http
        .get(app.url("/eureka/v2", "/apps"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("content-security-policy"));
    app.stop().await;
}
