//! Eureka parity beyond the basics: formats, gzip, status overrides, metadata, deltas, the
//! other read endpoints, and the replication flag's rules.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PREFIXES, TestRegistry, instance_json, spawn_registry};

async fn register(app: &TestRegistry, prefix: &str, name: &str, id: &str, status: &str) {
    let response = app
        .post_instance(
            prefix,
            name,
            &instance_json(name, id, &name.to_lowercase(), status),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn get_text(app: &TestRegistry, url: String, accept: Option<&str>) -> (StatusCode, String) {
    let mut request = app.http.get(url);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn reads_answer_xml_unless_accept_asks_for_json() {
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        register(&app, prefix, "MIDDLETIER", "m1", "UP").await;
        for path in [
            "/apps",
            "/apps/delta",
            "/vips/middletier",
            "/svips/middletier",
        ] {
            for accept in [None, Some("application/xml"), Some("*/*")] {
                let (status, body) = get_text(&app, app.url(prefix, path), accept).await;
                assert_eq!(status, StatusCode::OK, "{path}");
                assert!(
                    body.contains("<applications><versions__delta>"),
                    "{path}: {body}"
                );
                assert!(
                    body.contains("<apps__hashcode>UP_1_</apps__hashcode>"),
                    "{body}"
                );
                assert!(
                    body.contains(r#"<port enabled="true">9191</port>"#),
                    "{body}"
                );
                assert!(
                    body.contains("<overriddenstatus>UNKNOWN</overriddenstatus>"),
                    "{body}"
                );
            }
            let (_, body) = get_text(&app, app.url(prefix, path), Some("application/json")).await;
            let json: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["applications"]["apps__hashcode"], "UP_1_", "{path}");
        }
        let (_, body) = get_text(&app, app.url(prefix, "/apps/MIDDLETIER"), None).await;
        assert!(
            body.contains("<application><name>MIDDLETIER</name><instance>"),
            "{body}"
        );
        for path in ["/apps/MIDDLETIER/m1", "/instances/m1"] {
            let (status, body) = get_text(&app, app.url(prefix, path), None).await;
            assert_eq!(status, StatusCode::OK);
            assert!(
                body.contains("<instance><instanceId>m1</instanceId>"),
                "{body}"
            );
            let (_, json) = app.get_json(prefix, path).await;
            assert_eq!(json["instance"]["instanceId"], "m1");
        }
        let (status, _) = get_text(&app, app.url(prefix, "/instances/nobody"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
}

#[tokio::test]
async fn every_404_is_bare_as_eurekas_so_java_clients_register_again() {
    // Netflix's Java client reads the body of a 404 renewal as an instance: any body at all
    // fails the renewal for good ("unable to send heartbeat") instead of registering again.
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        register(&app, prefix, "A", "a1", "UP").await;
        let requests = [
            ("PUT", "/apps/A/nobody"),
            // The caller's copy is newer than the registry's: register again.
            (
                "PUT",
                "/apps/A/a1?status=UP&lastDirtyTimestamp=1700000000001",
            ),
            ("PUT", "/apps/NOBODY/x"),
            ("DELETE", "/apps/A/nobody"),
            ("GET", "/apps/A/nobody"),
            ("GET", "/apps/NOBODY"),
            ("GET", "/instances/nobody"),
            ("PUT", "/apps/A/nobody/status?value=UP"),
            ("DELETE", "/apps/A/nobody/status"),
            ("PUT", "/apps/A/nobody/metadata?k=v"),
        ];
        for (method, path) in requests {
            for accept in ["application/json", "application/xml"] {
                let response = app
                    .http
                    .request(method.parse().unwrap(), app.url(prefix, path))
                    .header("accept", accept)
                    .send()
                    .await
                    .unwrap();
                let what = format!("{method} {prefix}{path} ({accept})");
                assert_eq!(response.status(), StatusCode::NOT_FOUND, "{what}");
                assert!(
                    response.headers().get("content-type").is_none(),
                    "{what}: {:?}",
                    response.headers()
                );
                assert_eq!(response.bytes().await.unwrap().len(), 0, "{what}");
            }
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn reads_are_gzipped_when_asked() {
    let app = spawn_registry().await;
    register(&app, "/eureka/v2", "A", "a1", "UP").await;
    let url = app.url("/eureka/v2", "/apps/delta");
    // A client that does not inflate, asking by hand: these are the wire bytes.
    let plain = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    let response = plain
        .get(&url)
        .header("accept-encoding", "gzip")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[..2], [0x1f, 0x8b], "gzip magic");
    // Left to itself reqwest asks for gzip and inflates: the same document comes out.
    let (status, json) = app.get_json("/eureka/v2", "/apps/delta").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["applications"]["application"][0]["name"], "A");
    // Without Accept-Encoding, no compression.
    let response = plain.get(&url).send().await.unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    app.stop().await;
}

#[tokio::test]
async fn status_override_and_its_removal_follow_eurekas_codes_and_rules() {
    for prefix in PREFIXES {
        let app = spawn_registry().await;
        register(&app, prefix, "A", "a1", "UP").await;
        let status_url =
            |id: &str, query: &str| app.url(prefix, &format!("/apps/A/{id}/status{query}"));

        let response = app
            .http
            .put(status_url(
                "a1",
                "?value=OUT_OF_SERVICE&lastDirtyTimestamp=1",
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (_, json) = app.get_json(prefix, "/apps/A/a1").await;
        assert_eq!(json["instance"]["status"], "OUT_OF_SERVICE");
        assert_eq!(json["instance"]["overriddenStatus"], "OUT_OF_SERVICE");
        assert_eq!(
            app.http
                .put(status_url("nobody", "?value=UP"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.http
                .put(status_url("a1", ""))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::BAD_REQUEST
        );

        // A renewal keeps the override; removing it makes the next renewal 404.
        let renew = || app.http.put(app.url(prefix, "/apps/A/a1")).send();
        assert_eq!(renew().await.unwrap().status(), StatusCode::OK);
        let response = app.http.delete(status_url("a1", "")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(renew().await.unwrap().status(), StatusCode::NOT_FOUND);
        register(&app, prefix, "A", "a1", "UP").await;
        let (_, json) = app.get_json(prefix, "/apps/A/a1").await;
        assert_eq!(json["instance"]["status"], "UP");
        assert_eq!(json["instance"]["overriddenStatus"], "UNKNOWN");
        assert_eq!(
            app.http
                .delete(status_url("nobody", ""))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::NOT_FOUND
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn metadata_updates_merge_and_show_in_the_delta() {
    let app = spawn_registry().await;
    register(&app, "/eureka/v2", "A", "a1", "UP").await;
    let url = app.url("/eureka/v2", "/apps/A/a1/metadata?zone=b&weight=3");
    assert_eq!(
        app.http.put(url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let url = app.url("/eureka/v2", "/apps/A/a1/metadata?zone=c");
    assert_eq!(
        app.http.put(url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let (_, json) = app.get_json("/eureka/v2", "/apps/A/a1").await;
    assert_eq!(json["instance"]["metadata"]["zone"], "c");
    assert_eq!(json["instance"]["metadata"]["weight"], "3");
    let (_, delta) = app.get_json("/eureka/v2", "/apps/delta").await;
    let actions: Vec<_> = delta["applications"]["application"][0]["instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["actionType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["ADDED", "MODIFIED", "MODIFIED"]);
    let url = app.url("/eureka/v2", "/apps/A/nobody/metadata?k=v");
    assert_eq!(
        app.http.put(url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn registrations_may_be_xml_and_ports_enabled_may_be_a_boolean() {
    let app = spawn_registry().await;
    let xml = r#"<instance><instanceId>x1</instanceId><hostName>h</hostName><app>XAPP</app>
        <ipAddr>127.0.0.1</ipAddr><status>UP</status><port enabled="true">8080</port>
        <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
        <name>MyOwn</name></dataCenterInfo><vipAddress>xapp</vipAddress></instance>"#;
    let response = app
        .http
        .post(app.url("/eureka", "/apps/XAPP"))
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let mut json = instance_json("japp", "j1", "japp", "UP");
    json["instance"]["port"]["@enabled"] = Value::Bool(true);
    json["instance"]["securePort"]["@enabled"] = Value::Bool(false);
    assert_eq!(
        app.post_instance("/eureka", "JAPP", &json).await.status(),
        StatusCode::NO_CONTENT
    );
    let (_, apps) = app.get_json("/eureka", "/apps").await;
    let ports: Vec<_> = apps["applications"]["application"]
        .as_array()
        .unwrap()
        .iter()
        .map(|app| app["instance"][0]["port"]["@enabled"].clone())
        .collect();
    // Written back as Eureka writes them: strings.
    assert_eq!(ports, [Value::from("true"), Value::from("true")]);
    app.stop().await;
}

#[tokio::test]
async fn renewals_order_by_last_dirty_timestamp_and_peers_get_409_with_the_newer_copy() {
    let app = spawn_registry().await;
    let mut body = instance_json("a", "a1", "a", "UP");
    body["instance"]["lastDirtyTimestamp"] = Value::from("2000");
    app.post_instance("/eureka/v2", "A", &body).await;
    let renew = |dirty: u64, replicated: bool| {
        let mut request = app
            .http
            .put(app.url(
                "/eureka/v2",
                &format!("/apps/A/a1?status=UP&lastDirtyTimestamp={dirty}"),
            ))
            .header("accept", "application/json");
        if replicated {
            request = request.header("x-netflix-discovery-replication", "true");
        }
        request.send()
    };
    assert_eq!(renew(2000, false).await.unwrap().status(), StatusCode::OK);
    assert_eq!(renew(1000, false).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        renew(3000, false).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let conflict = renew(1000, true).await.unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let newer: Value = conflict.json().await.unwrap();
    assert_eq!(newer["instance"]["lastDirtyTimestamp"], "2000");
    app.stop().await;
}

#[tokio::test]
async fn peer_replication_batch_applies_each_change_and_answers_each() {
    let app = spawn_registry().await;
    let mut info = instance_json("b", "b1", "b", "UP")["instance"].clone();
    info["lastDirtyTimestamp"] = Value::from("5000");
    let batch = serde_json::json!({"replicationList": [
        {"appName": "B", "id": "b1", "action": "Register", "instanceInfo": info,
         "lastDirtyTimestamp": 5000, "status": "UP", "overriddenStatus": "UNKNOWN"},
        {"appName": "B", "id": "b1", "action": "Heartbeat", "lastDirtyTimestamp": 5000,
         "status": "UP"},
        {"appName": "B", "id": "b1", "action": "Heartbeat", "lastDirtyTimestamp": 4000},
        {"appName": "B", "id": "zz", "action": "Heartbeat", "lastDirtyTimestamp": 1},
        {"appName": "B", "id": "b1", "action": "StatusUpdate", "status": "OUT_OF_SERVICE"},
        {"appName": "B", "id": "zz", "action": "Cancel"}
    ]});
    let response = app
        .http
        .post(app.url("/eureka/v2", "/peerreplication/batch"))
        .header("x-netflix-discovery-replication", "true")
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let results: Value = response.json().await.unwrap();
    let codes: Vec<_> = results["responseList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["statusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [204, 200, 409, 404, 200, 404]);
    assert_eq!(
        results["responseList"][2]["responseEntity"]["instanceId"],
        "b1"
    );
    assert_eq!(
        app.status_of("B", "b1"),
        Some(registry_client::Status::OutOfService)
    );
    app.stop().await;
}

#[tokio::test]
async fn the_listing_answers_with_a_trailing_slash_as_the_python_and_js_clients_ask() {
    let app = spawn_registry().await;
    register(&app, "/eureka", "A", "a1", "UP").await;
    let (status, body) = get_text(&app, app.url("/eureka", "/apps/"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<name>A</name>"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_shows_instances_peers_and_self_preservation() {
    let app = spawn_registry().await;
    register(&app, "/eureka/v2", "MIDDLETIER", "m<1>", "UP").await;
    let (status, page) = get_text(&app, app.admin_url("/dashboard"), Some("text/html")).await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "<h3>MIDDLETIER",
        "m&#60;1&#62;",
        "Self-preservation",
        "Inactive: expired leases are evicted.",
        "85 %",
        "None: a single node.",
        "/registry.css",
    ] {
        assert!(page.contains(expected), "{expected:?} in {page}");
    }
    assert!(!page.contains("<script"), "no script");
    let (status, css) = get_text(&app, app.admin_url("/registry.css"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains("table"));
    let status = app.http.get(app.admin_url("/status")).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    let json: serde_json::Value = status.json().await.unwrap();
    assert_eq!(json["instances"], 1);
    assert_eq!(json["self_preservation"]["active"], false);
    app.stop().await;
}
