//! What Fever refuses: keys that name no app password (the account password's among them), a
//! revoked one, too many wrong keys, hostile input; and calls with no middle tier answering.

#![allow(clippy::unwrap_used)]

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Fever, Reading};
use crate::support::{System, eventually, http, password_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_app_passwords_key_signs_in_and_revoking_it_signs_the_app_out() {
    let reading = Reading::start().await;
    let edge = &reading.system.edge;
    let refused = |body: &Value| {
        assert_eq!(body, &json!({"api_version": 3, "auth": 0}));
    };

    // The account password's key, a made-up key, junk, and none at all.
    let account = Fever::new(edge, "ann", &password_for("ann"));
    let (status, body) = account.call("items&unread_item_ids", &[]).await;
    assert_eq!(status, StatusCode::OK, "Fever says no with 200");
    refused(&body);
    for key in [
        "0123456789abcdef0123456789abcdef".to_owned(),
        "not a key".to_owned(),
        "f".repeat(100_000 / 8),
        String::new(),
    ] {
        let (status, body) = Fever::with_key(edge, key).call("feeds", &[]).await;
        assert_eq!(status, StatusCode::OK);
        refused(&body);
    }

    // The key in capitals, as some apps send it, is the same key.
    let upper = Fever::with_key(edge, reading.fever.key.to_uppercase());
    upper.ok("", &[]).await;

    // The session cookie of the signed-in reader is no key.
    let response = reading.ann.post("/fever/?api&feeds").send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    refused(&body);

    // The Apps page lists the password as used; revoking it signs the app out at once.
    let page = reading
        .ann
        .get("/settings/app-passwords")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Fever app"), "{page}");
    assert!(!page.contains("<td>never</td>"), "used by now: {page}");
    let id = page
        .split(r#"name="id" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let response = reading
        .ann
        .post("/settings/app-passwords/revoke")
        .form(&[("id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.text().await.unwrap().contains("Fever app"));
    let (status, body) = reading.fever.call("items", &[]).await;
    assert_eq!(status, StatusCode::OK);
    refused(&body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fever_keys_count_in_the_sign_in_limits() {
    let store: std::sync::Arc<dyn middletier::store::Store> =
        std::sync::Arc::new(middletier::store::MemoryStore::new());
    let system = System::start_tuned(
        vec![store],
        |_| {},
        |edge| {
            edge.accounts.single_user = false;
            edge.accounts.max_failures_per_name = 3;
            edge.accounts.max_failures_per_ip = 5;
        },
    )
    .await;
    let reading = Reading::on(FeedPublisher::start().await, system).await;
    let edge = &reading.system.edge;
    // Five wrong keys from this address.
    for n in 0..5 {
        let key = format!("{n:032x}");
        let (status, body) = Fever::with_key(edge, key).call("", &[]).await;
        assert_eq!((status, body["auth"].clone()), (StatusCode::OK, json!(0)));
    }
    // Now even the right key is refused without being checked, saying how long to wait.
    let response = http()
        .post(format!("{}/api/fever.php?api", edge.url()))
        .form(&[("api_key", reading.fever.key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&wait), "Retry-After: {wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["auth"], json!(0));
    // And the address is out of sign-in attempts at the sign-in page too.
    let response = crate::support::no_redirects()
        .post(format!("{}/signin", edge.url()))
        .header("Origin", edge.url())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("name", "ann"), ("password", password_for("ann").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_fever_input_is_refused_with_a_clear_error() {
    let reading = Reading::start().await;
    let fever = &reading.fever;
    let refused = |(status, body): (StatusCode, Value), expected: StatusCode, words: &str| {
        assert_eq!(status, expected, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(words), "{words:?} in {body}");
    };
    let bad = StatusCode::BAD_REQUEST;
    let many: String = (0..51).map(|n| n.to_string()).collect::<Vec<_>>().join(",");
    refused(
        fever.call("items", &[("with_ids", &many)]).await,
        bad,
        "at most 50",
    );
    for (field, value) in [
        ("with_ids", "1,two"),
        ("with_ids", "-1"),
        ("since_id", "-5"),
        ("max_id", "1e9"),
        ("since_id", "99999999999999999999999"),
    ] {
        let (status, body) = fever.call("items", &[(field, value)]).await;
        assert_eq!(status, bad, "{field}={value}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    refused(
        fever.call("items", &[("feed_ids", "1,2")]).await,
        bad,
        "one id only",
    );
    for (mark, as_, id, words) in [
        ("item", "read", "abc", "item id"),
        ("item", "deleted", "1", "as must be"),
        ("feed", "saved", "1", "only be marked read"),
        ("everything", "read", "1", "mark must be"),
        ("group", "read", "x", "id must be"),
    ] {
        refused(
            fever
                .call("", &[("mark", mark), ("as", as_), ("id", id)])
                .await,
            bad,
            words,
        );
    }
    refused(
        fever.call("", &[("mark", "item"), ("as", "read")]).await,
        bad,
        "needs id",
    );
    refused(
        fever
            .call(
                "",
                &[
                    ("mark", "feed"),
                    ("as", "read"),
                    ("id", "1"),
                    ("before", "soon"),
                ],
            )
            .await,
        bad,
        "before",
    );

    // A form past 16 KiB, too many parameters, a body that is no form.
    let huge = "x".repeat(20 * 1024);
    refused(
        fever.call("", &[("padding", &huge)]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    );
    let flags: String = (0..70).map(|n| format!("f{n}&")).collect();
    refused(fever.call(&flags, &[]).await, bad, "at most 64");
    let response = http()
        .post(format!("{}/api/fever.php?api", reading.system.edge.url()))
        .header("content-type", "application/json")
        .body(format!(r#"{{"api_key":"{}"}}"#, fever.key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), bad);
    // A multipart form that never ends.
    let response = http()
        .post(format!("{}/api/fever.php?api", reading.system.edge.url()))
        .header("content-type", "multipart/form-data; boundary=b")
        .body("--b\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), bad);

    // None of it changed anything.
    assert_eq!(fever.ids("unread_item_ids").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_middle_tier_fever_calls_fail_for_the_app_to_retry_never_with_old_lists() {
    let mut reading = Reading::start().await;
    reading.fever.ok("items&unread_item_ids", &[]).await;
    // The reader's pages have a stale copy by now; the API must not use it.
    reading.ann.home().await;
    let middletier = reading.system.middletiers.pop().unwrap();
    middletier.kill().await;
    eventually("Fever calls fail", || async {
        reading.fever.call("items", &[]).await.0 == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    for flags in ["items", "unread_item_ids", "feeds&groups", "saved_item_ids"] {
        let (status, body) = reading.fever.call(flags, &[]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{flags}: {body}");
        assert!(body["error"].is_string(), "{body}");
        assert!(body.get("auth").is_none(), "not a wrong password: {body}");
        assert!(body.get("items").is_none() && body.get("unread_item_ids").is_none());
    }
    let (status, _) = reading
        .fever
        .call("", &[("mark", "group"), ("as", "read"), ("id", "0")])
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
