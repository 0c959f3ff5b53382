//! Reading through Fever: groups, feeds, favicons, links, items in every selection, id lists,
//! both paths and both form encodings; and paging through every item as apps sync.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use middletier::testing::FeedPublisher;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Fever, Reading, create_app_password, split_ids};
use crate::support::{Browser, System, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fever_client_reads_groups_feeds_items_and_id_lists() {
    let reading = Reading::start().await;
    let (fever, publisher) = (&reading.fever, &reading.publisher);

    let hello = fever.ok("", &[]).await;
    assert!(
        hello["last_refreshed_on_time"].as_i64().unwrap() > 0,
        "{hello}"
    );

    // Feeds: both, with stable positive ids; groups: "News" holding the RSS feed.
    let body = fever.ok("feeds", &[]).await;
    let feeds = body["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 2, "{body}");
    let feed = |url: &str| {
        feeds
            .iter()
            .find(|feed| feed["url"] == json!(url))
            .unwrap_or_else(|| panic!("no feed {url} in {body}"))
            .clone()
    };
    let rss = feed(&publisher.url("/rss.xml"));
    let atom = feed(&publisher.url("/atom.xml"));
    assert_eq!(rss["title"], json!("Loopback Daily"));
    // The middle tier keeps no site address: the feed's host stands in for it.
    assert_eq!(rss["site_url"], json!(publisher.url("/")));
    assert_eq!(rss["is_spark"], json!(0));
    assert!(rss["last_updated_on_time"].as_i64().unwrap() > 0);
    let (rss_id, atom_id) = (rss["id"].as_u64().unwrap(), atom["id"].as_u64().unwrap());
    assert!(rss_id > 0 && atom_id > 0 && rss_id != atom_id);
    assert_eq!(
        fever.ok("feeds", &[]).await["feeds"],
        body["feeds"],
        "stable"
    );

    let body = fever.ok("groups", &[]).await;
    let group_id = body["groups"][0]["id"].as_u64().unwrap();
    assert_eq!(body["groups"], json!([{"id": group_id, "title": "News"}]));
    assert_eq!(
        body["feeds_groups"],
        json!([{"group_id": group_id, "feed_ids": rss_id.to_string()}])
    );

    let body = fever.ok("favicons&links", &[]).await;
    assert_eq!(body["favicons"], json!([]));
    assert_eq!(body["links"], json!([]));

    // Items: newest numbers first by default, with what apps show.
    let body = fever.ok("items", &[]).await;
    assert_eq!(body["total_items"], json!(3), "{body}");
    let items = body["items"].as_array().unwrap();
    let numbers: Vec<u64> = items.iter().map(|i| i["id"].as_u64().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] > w[1]), "{numbers:?}");
    let first = items
        .iter()
        .find(|item| item["title"] == json!("RSS first story"))
        .unwrap();
    assert_eq!(first["feed_id"], json!(rss_id));
    assert_eq!(first["url"], json!("http://publisher.test/rss/1"));
    assert_eq!(first["author"], json!(""));
    assert_eq!(first["is_read"], json!(0));
    assert_eq!(first["is_saved"], json!(0));
    // Published 10 June 2025, 04:00 UTC.
    assert_eq!(first["created_on_time"], json!(1_749_528_000));
    let html = first["html"].as_str().unwrap();
    assert!(
        html.contains("<b>world</b>") && !html.contains("script"),
        "{html}"
    );

    // since_id: ascending from there; max_id: descending below it; with_ids: exactly those.
    let mut ascending = numbers.clone();
    ascending.reverse();
    let since = |id: u64| async move {
        let body = fever.ok("items", &[("since_id", &id.to_string())]).await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(since(0).await, ascending);
    assert_eq!(since(ascending[0]).await, ascending[1..]);
    assert_eq!(since(ascending[2]).await, Vec::<u64>::new());
    let body = fever
        .ok("items", &[("max_id", &numbers[0].to_string())])
        .await;
    let below: Vec<u64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(below, numbers[1..]);
    let wanted = format!("{},{}", numbers[2], numbers[0]);
    let body = fever.ok("items", &[("with_ids", &wanted)]).await;
    let found: BTreeSet<u64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(found, BTreeSet::from([numbers[0], numbers[2]]));

    // One feed, one group.
    let body = fever
        .ok("items", &[("feed_ids", &atom_id.to_string())])
        .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["items"][0]["title"], json!("Atom story"));
    let body = fever
        .ok("items", &[("group_ids", &group_id.to_string())])
        .await;
    let mut in_group: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    in_group.sort_unstable();
    assert_eq!(in_group, ["RSS first story", "RSS second story"]);

    // Id lists: every item unread, none saved, ascending.
    assert_eq!(fever.ids("unread_item_ids").await, ascending);
    assert_eq!(fever.ids("saved_item_ids").await, Vec::<u64>::new());

    // Several flags at once, and the short path `/fever/` with the key in the query.
    let response = http()
        .get(format!(
            "{}/fever/?api&feeds&unread_item_ids&api_key={}",
            reading.system.edge.url(),
            fever.key
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("cache-control")
            .is_some_and(|value| value.to_str().unwrap().contains("no-store"))
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["auth"], json!(1));
    assert_eq!(body["feeds"].as_array().unwrap().len(), 2);
    assert_eq!(split_ids(&body["unread_item_ids"]), ascending);

    // Some apps post the form as multipart/form-data.
    let response = multipart(&reading, "unread_item_ids", &fever.key).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(split_ids(&body["unread_item_ids"]), ascending);
}

/// A multipart/form-data post of `api_key`, with `flags` in the query.
async fn multipart(reading: &Reading, flags: &str, key: &str) -> reqwest::Response {
    let boundary = "fever-form-boundary";
    http()
        .post(format!(
            "{}/api/fever.php?api&{flags}",
            reading.system.edge.url()
        ))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n{key}\r\n--{boundary}--\r\n"
        ))
        .send()
        .await
        .unwrap()
}

/// An RSS feed of `n` items, each with its own guid.
fn feed_of(n: usize) -> String {
    let items: String = (0..n)
        .map(|i| {
            format!(
                "<item><title>Story {i}</title><guid>story-{i}</guid>\
                 <link>http://publisher.test/story/{i}</link><description>Story {i}</description></item>"
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Many</title><link>http://publisher.test/</link><description>Many</description>{items}</channel></rss>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fever_client_pages_through_every_item_by_since_id_and_by_max_id() {
    let publisher = FeedPublisher::start().await;
    // A fetch keeps a feed's newest 100 items: with the two small feeds, 103.
    publisher.set_switch(200, &feed_of(100));
    let system = System::start_with_accounts(1).await;
    let ann = Browser::signed_up(&system.edge, "ann").await;
    for path in ["/switch.xml", "/rss.xml", "/atom.xml"] {
        assert_eq!(
            ann.subscribe(&publisher.url(path)).await.status,
            StatusCode::OK
        );
    }
    let fever = Fever::new(
        &system.edge,
        "ann",
        &create_app_password(&ann, "phone").await,
    );
    let page_ids = |body: &Value| -> Vec<u64> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_u64().unwrap())
            .collect()
    };

    // As apps sync: since_id from 0, 50 at a time, until a short page.
    let (mut forward, mut since): (Vec<u64>, u64) = (Vec::new(), 0);
    loop {
        let body = fever.ok("items", &[("since_id", &since.to_string())]).await;
        assert_eq!(body["total_items"], json!(103));
        let page = page_ids(&body);
        assert!(page.len() <= 50);
        forward.extend(&page);
        if page.len() < 50 {
            break;
        }
        since = *page.last().unwrap();
    }
    assert_eq!(forward.len(), 103);
    assert!(
        forward.windows(2).all(|w| w[0] < w[1]),
        "ascending, no repeats"
    );

    // And backwards from the newest with max_id.
    let mut backward = page_ids(&fever.ok("items", &[]).await);
    loop {
        let below = backward.last().unwrap().to_string();
        let page = page_ids(&fever.ok("items", &[("max_id", &below)]).await);
        if page.is_empty() {
            break;
        }
        backward.extend(page);
    }
    backward.reverse();
    assert_eq!(backward, forward);
    assert_eq!(fever.ids("unread_item_ids").await, forward);
}
