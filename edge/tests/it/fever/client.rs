//! End to end with a real Fever client: PyPI's `freshrss-api` (2.0.5), in the virtualenv
//! `deploy/install-test-deps.sh` makes under `${RSS_CACHE_DIR:-~/.cache/rss-recipe}`; without
//! it this test fails, never skips. The client signs in with an app password made on the Apps
//! page, lists feeds and groups, downloads the unread items, marks one read and one saved; the
//! reader's pages then show exactly that.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use super::{Reading, river, titles};

fn python() -> PathBuf {
    let root = std::env::var_os("RSS_CACHE_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/rss-recipe")
        },
        PathBuf::from,
    );
    let python = root.join("freshrss-api/venv/bin/python");
    assert!(
        python.exists(),
        "freshrss-api is not installed at {}: run deploy/test.sh (or deploy/install-test-deps.sh) first",
        python.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_freshrss_api_client_syncs_and_its_marks_show_in_the_reader() {
    let reading = Reading::start().await;
    let password = super::create_app_password(&reading.ann, "freshrss-api").await;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fever/freshrss_api_client.py");
    let run = Command::new(python())
        .arg(script)
        .arg(reading.system.edge.url())
        .args(["ann", password.as_str(), "RSS first story", "Atom story"])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the client finishes within a minute")
        .expect("the client runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the client failed: {stderr}");
    assert!(
        !stderr.contains("ERROR"),
        "the client logged errors: {stderr}"
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the client's JSON");

    assert_eq!(seen["feeds"], json!(["Atom Weekly", "Loopback Daily"]));
    assert_eq!(seen["groups"], json!(["News"]));
    assert_eq!(
        seen["unread"],
        json!(["Atom story", "RSS first story", "RSS second story"])
    );
    let html = seen["unread_html"]["RSS first story"].as_str().unwrap();
    assert!(
        html.contains("<b>world</b>") && !html.contains("script"),
        "{html}"
    );
    assert_eq!(seen["read_answer_has_unread_ids"], json!(true));
    assert_eq!(seen["saved_answer_has_saved_ids"], json!(true));
    assert_eq!(
        seen["unread_after"],
        json!(["Atom story", "RSS second story"])
    );
    assert_eq!(seen["saved_after"], json!(["Atom story"]));

    // The reader shows exactly that: one item read, one starred, nothing else changed.
    let ann = &reading.ann;
    assert_eq!(titles(ann, "/").await, ["Atom story", "RSS second story"]);
    assert_eq!(titles(ann, "/?filter=starred").await, ["Atom story"]);
    let all = river(ann, "/?filter=all").await;
    let state: Vec<(&str, bool, bool)> = {
        let mut state: Vec<_> = all
            .iter()
            .map(|item| (item.title.as_str(), item.read, item.starred))
            .collect();
        state.sort_unstable();
        state
    };
    assert_eq!(
        state,
        [
            ("Atom story", false, true),
            ("RSS first story", true, false),
            ("RSS second story", false, false),
        ]
    );
}
