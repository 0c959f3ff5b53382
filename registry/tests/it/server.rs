//! The Eureka REST API: status codes and exact JSON shapes, under both prefixes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PREFIXES, instance_json, spawn_registry};

/// Replaces the server-filled timestamps (after checking they are there) so the rest can be
/// compared exactly.
fn without_timestamps(mut instance: Value) -> Value {
    for field in [
        "registrationTimestamp",
        "lastRenewalTimestamp",
        "serviceUpTimestamp",
    ] {
        let value = &mut instance["leaseInfo"][field];
        assert!(
            value.as_u64().is_some_and(|ms| ms > 1_600_000_000_000),
            "{field}: {value}"
        );
        *value = json!(0);
    }
    for field in ["lastUpdatedTimestamp", "lastDirtyTimestamp"] {
        let value = &mut instance[field];
        assert!(
            value.as_str().is_some_and(|ms| ms.parse::<u64>().is_ok()),
            "{field}: {value}"
        );
        *value = json!("0");
    }
    instance
}

#[tokio::test]
async fn registered_instance_is_listed_in_eurekas_exact_json_shape() {
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        let body = instance_json("middletier", "host1:middletier:9191", "middletier", "UP");
        let response = app.post_instance(prefix, "MIDDLETIER", &body).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{prefix}");

        let (status, apps) = app.get_json(prefix, "/apps").await;
        assert_eq!(status, StatusCode::OK);
        let applications = &apps["applications"];
        assert!(applications["versions__delta"].is_string(), "{apps}");
        assert_eq!(applications["apps__hashcode"], "UP_1_");
        assert_eq!(applications["application"][0]["name"], "MIDDLETIER");
        let instances = applications["application"][0]["instance"]
            .as_array()
            .unwrap();
        assert_eq!(instances.len(), 1);

        let mut expected = body["instance"].clone();
        expected["app"] = json!("MIDDLETIER");
        expected["leaseInfo"] = json!({
            "renewalIntervalInSecs": 30, "durationInSecs": 90, "registrationTimestamp": 0,
            "lastRenewalTimestamp": 0, "evictionTimestamp": 0, "serviceUpTimestamp": 0
        });
        expected["lastUpdatedTimestamp"] = json!("0");
        expected["lastDirtyTimestamp"] = json!("0");
        assert_eq!(
            without_timestamps(instances[0].clone()),
            expected,
            "{prefix}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn get_app_answers_case_insensitively_and_a_bare_404_for_unknown_apps() {
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        let body = instance_json("middletier", "m1", "middletier", "UP");
        app.post_instance(prefix, "middletier", &body).await;

        let (status, found) = app.get_json(prefix, "/apps/MiddleTier").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(found["application"]["name"], "MIDDLETIER");
        assert_eq!(found["application"]["instance"][0]["instanceId"], "m1");

        let (status, instance) = app.get_json(prefix, "/apps/middletier/m1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(instance["instance"]["instanceId"], "m1");

        // Bare, as Eureka's: Netflix's client would read a body as an application.
        let (status, body) = app.get_json(prefix, "/apps/nobody").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, Value::Null);
        app.stop().await;
    }
}

#[tokio::test]
async fn renew_answers_200_for_known_and_404_for_unknown_instances() {
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        app.post_instance(prefix, "A", &instance_json("a", "a1", "a", "UP"))
            .await;

        let renew = |id: &str| {
            let url = app.url(
                prefix,
                &format!("/apps/A/{id}?status=UP&lastDirtyTimestamp=1"),
            );
            app.http.put(url).send()
        };
        assert_eq!(
            renew("a1").await.unwrap().status(),
            StatusCode::OK,
            "{prefix}"
        );
        assert_eq!(
            renew("unknown").await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{prefix}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn cancel_removes_the_instance_and_answers_404_the_second_time() {
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        app.post_instance(prefix, "A", &instance_json("a", "a1", "a", "UP"))
            .await;
        app.post_instance(prefix, "A", &instance_json("a", "a2", "a", "DOWN"))
            .await;

        let cancel = || app.http.delete(app.url(prefix, "/apps/A/a1")).send();
        assert_eq!(cancel().await.unwrap().status(), StatusCode::OK, "{prefix}");
        assert_eq!(
            cancel().await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{prefix}"
        );

        let (_, apps) = app.get_json(prefix, "/apps").await;
        assert_eq!(apps["applications"]["apps__hashcode"], "DOWN_1_");
        let instances = &apps["applications"]["application"][0]["instance"];
        assert_eq!(instances.as_array().unwrap().len(), 1);
        assert_eq!(instances[0]["instanceId"], "a2");
        app.stop().await;
    }
}

#[tokio::test]
async fn registration_missing_a_required_field_is_rejected_with_a_json_message() {
    type Breakage = fn(&mut Value);
    let cases: [(&str, Breakage); 5] = [
        ("hostName", |body| {
            drop(body["instance"].as_object_mut().unwrap().remove("hostName"))
        }),
        ("ipAddr", |body| {
            drop(body["instance"].as_object_mut().unwrap().remove("ipAddr"))
        }),
        ("app", |body| {
            drop(body["instance"].as_object_mut().unwrap().remove("app"))
        }),
        ("dataCenterInfo", |body| {
            drop(
                body["instance"]
                    .as_object_mut()
                    .unwrap()
                    .remove("dataCenterInfo"),
            );
        }),
        ("dataCenterInfo.name", |body| {
            body["instance"]["dataCenterInfo"]["name"] = json!("")
        }),
    ];
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        for (field, breakage) in cases {
            let mut body = instance_json("a", "a1", "a", "UP");
            breakage(&mut body);
            let response = app.post_instance(prefix, "A", &body).await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{prefix} without {field}"
            );
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .contains("json")
            );
            let error: Value = response.json().await.unwrap();
            let message = error["error"].as_str().unwrap();
            assert!(
                message.contains(field),
                "{prefix} without {field}: {message}"
            );
        }
        assert!(app.registry.applications().application.is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn malformed_registrations_are_rejected_with_a_json_message() {
    let app = spawn_registry().await;
    let url = app.url("/eureka/v2", "/apps/A");
    let send = |body: &'static str, content_type: &'static str| {
        app.http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    for body in [
        "{not json",
        r#"{"hostName": "h"}"#,
        r#"{"instance": {"port": "eighty"}}"#,
    ] {
        let response = send(body, "application/json").await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .starts_with("malformed registration"),
            "{error}"
        );
    }

    for body in ["<instance/>", "<instance><app>A</instance>", "not xml"] {
        let response = send(body, "application/xml").await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .starts_with("malformed registration"),
            "{error}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn registration_for_another_app_than_the_path_is_rejected() {
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        let response = app
            .post_instance(prefix, "EDGE", &instance_json("a", "a1", "a", "UP"))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains("does not match"),
            "{error}"
        );

        // Case alone is no mismatch: names are compared upper-cased.
        let response = app
            .post_instance(prefix, "A", &instance_json("a", "a1", "a", "UP"))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        app.stop().await;
    }
}

#[tokio::test]
async fn registration_without_instance_id_falls_back_to_host_name() {
    let app = spawn_registry().await;
    let mut body = instance_json("a", "", "a", "UP");
    body["instance"]
        .as_object_mut()
        .unwrap()
        .remove("instanceId");
    body["instance"]["hostName"] = json!("old-client-host");
    let response = app.post_instance("/eureka", "A", &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (status, instance) = app.get_json("/eureka", "/apps/A/old-client-host").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(instance["instance"]["instanceId"], "old-client-host");
    app.stop().await;
}

#[tokio::test]
async fn lenient_registrations_are_answered_in_eurekas_shape() {
    let app = spawn_registry().await;
    let body = json!({"instance": {
        "hostName": "h", "app": "a", "ipAddr": "127.0.0.1",
        "port": {"$": "8080", "@enabled": true}, "dataCenterInfo": {"name": "MyOwn"},
        "metadata": {"zone": "a"}
    }});
    assert_eq!(
        app.post_instance("/eureka/v2", "A", &body).await.status(),
        StatusCode::NO_CONTENT
    );

    let (_, found) = app.get_json("/eureka/v2", "/apps/A/h").await;
    let instance = &found["instance"];
    assert_eq!(instance["port"], json!({"$": 8080, "@enabled": "true"}));
    assert_eq!(
        instance["securePort"],
        json!({"$": 7002, "@enabled": "false"})
    );
    assert_eq!(instance["status"], "UP");
    assert_eq!(instance["overriddenStatus"], "UNKNOWN");
    assert_eq!(instance["metadata"], json!({"zone": "a"}));
    assert_eq!(instance["isCoordinatingDiscoveryServer"], "false");
    assert_eq!(instance["actionType"], "ADDED");
    assert_eq!(
        instance["dataCenterInfo"]["@class"],
        "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"
    );
    // No duration asked for: the server's default applies and is reported.
    assert_eq!(instance["leaseInfo"]["durationInSecs"], 90);
    assert_eq!(instance["leaseInfo"]["renewalIntervalInSecs"], 30);
    app.stop().await;
}

#[tokio::test]
async fn vips_lists_only_instances_serving_the_vip() {
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        app.post_instance(prefix, "A", &instance_json("a", "a1", "middletier", "UP"))
            .await;
        app.post_instance(
            prefix,
            "B",
            &instance_json("b", "b1", "other, MiddleTier", "DOWN"),
        )
        .await;
        app.post_instance(prefix, "C", &instance_json("c", "c1", "edge", "UP"))
            .await;

        let (status, found) = app.get_json(prefix, "/vips/middletier").await;
        assert_eq!(status, StatusCode::OK);
        let applications = &found["applications"];
        assert_eq!(applications["apps__hashcode"], "DOWN_1_UP_1_");
        let ids: Vec<_> = applications["application"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|app| app["instance"].as_array().unwrap())
            .map(|instance| instance["instanceId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a1", "b1"], "{prefix}");

        let (status, none) = app.get_json(prefix, "/vips/nobody").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(none["applications"]["application"], json!([]));
        assert_eq!(none["applications"]["apps__hashcode"], "");
        app.stop().await;
    }
}

#[tokio::test]
async fn health_reports_up_and_root_says_what_this_is() {
    let app = spawn_registry().await;
    let (status, health) = app.get_json("", "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "UP");
    let (status, index) = app.get_json("", "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index["service"], "registry");
    app.stop().await;
}

#[tokio::test]
async fn router_serves_without_a_socket() {
    use tower::ServiceExt;

    let registry = registry::Registry::new(registry::LeaseSettings::default());
    let state = registry::AppState::new(registry, platform::health::Health::up());
    let request = axum::http::Request::get("/eureka/v2/apps")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = registry::router(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
