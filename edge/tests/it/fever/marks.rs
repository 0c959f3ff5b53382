//! Marks through Fever seen in the reader's pages and the reader's in Fever; and another
//! user's numbers, feeds and groups reaching nothing.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::{Fever, Reading, create_app_password, mark_in_reader, river, split_ids, titles};
use crate::support::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_from_fever_show_in_the_reader_and_the_readers_show_in_fever() {
    let reading = Reading::start().await;
    let (fever, ann) = (&reading.fever, &reading.ann);
    let first = reading.number("RSS first story").await;
    let second = reading.number("RSS second story").await;
    let atom = reading.number("Atom story").await;

    // Read in the app: the answer carries the new unread list, and the reader agrees.
    let answer = fever.mark("item", "read", &first.to_string()).await;
    let unread = split_ids(&answer["unread_item_ids"]);
    assert!(
        !unread.contains(&first) && unread.contains(&second),
        "{answer}"
    );
    assert_eq!(
        titles(ann, "/").await,
        ["Atom story", "RSS second story"],
        "the reader's unread river"
    );

    // Saved in the app: starred in the reader.
    let answer = fever.mark("item", "saved", &atom.to_string()).await;
    assert_eq!(split_ids(&answer["saved_item_ids"]), [atom]);
    assert_eq!(titles(ann, "/?filter=starred").await, ["Atom story"]);

    // Read and starred in the reader: the app sees it.
    let items = river(ann, "/?filter=all").await;
    let second_item = items
        .iter()
        .find(|item| item.title == "RSS second story")
        .unwrap();
    mark_in_reader(ann, second_item, "read", true).await;
    mark_in_reader(ann, second_item, "starred", true).await;
    assert_eq!(fever.ids("unread_item_ids").await, [atom]);
    let mut saved = vec![atom, second];
    saved.sort_unstable();
    assert_eq!(fever.ids("saved_item_ids").await, saved);
    let body = fever
        .ok("items", &[("with_ids", &second.to_string())])
        .await;
    assert_eq!(body["items"][0]["is_read"], json!(1));
    assert_eq!(body["items"][0]["is_saved"], json!(1));

    // Unread and unsaved in the app.
    fever.mark("item", "unread", &first.to_string()).await;
    fever.mark("item", "unsaved", &atom.to_string()).await;
    assert_eq!(titles(ann, "/").await, ["Atom story", "RSS first story"]);
    assert_eq!(titles(ann, "/?filter=starred").await, ["RSS second story"]);

    // A feed read up to a time: the Atom feed's one item is older than now.
    let feeds = fever.ok("feeds", &[]).await;
    let atom_feed = feeds["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|feed| feed["title"] == json!("Atom Weekly"))
        .unwrap()["id"]
        .to_string();
    // `before` is whole seconds, and items first seen within the second it names are left
    // unread; the middle tier takes a time ahead of its clock as now.
    let now = (chrono::Utc::now().timestamp() + 5).to_string();
    let answer = fever
        .ok(
            "",
            &[
                ("mark", "feed"),
                ("as", "read"),
                ("id", &atom_feed),
                ("before", &now),
            ],
        )
        .await;
    assert_eq!(split_ids(&answer["unread_item_ids"]), [first]);
    assert_eq!(titles(ann, "/").await, ["RSS first story"]);

    // A feed read before its items were published changes nothing.
    let group = fever.ok("groups", &[]).await["groups"][0]["id"].to_string();
    fever
        .ok(
            "",
            &[
                ("mark", "group"),
                ("as", "read"),
                ("id", &group),
                ("before", "1000000000"),
            ],
        )
        .await;
    assert_eq!(fever.ids("unread_item_ids").await, [first]);
    // The group up to now.
    fever
        .ok(
            "",
            &[
                ("mark", "group"),
                ("as", "read"),
                ("id", &group),
                ("before", &now),
            ],
        )
        .await;
    assert_eq!(fever.ids("unread_item_ids").await, Vec::<u64>::new());
    assert_eq!(titles(ann, "/").await, Vec::<String>::new());

    // Group 0 is everything.
    for item in river(ann, "/?filter=all").await {
        mark_in_reader(ann, &item, "read", false).await;
    }
    assert_eq!(fever.ids("unread_item_ids").await.len(), 3);
    fever.mark("group", "read", "0").await;
    assert_eq!(fever.ids("unread_item_ids").await, Vec::<u64>::new());
    assert!(
        river(ann, "/?filter=all")
            .await
            .iter()
            .all(|item| item.read)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_numbers_reach_nothing_of_theirs() {
    let reading = Reading::start().await;
    let edge = &reading.system.edge;
    let bob = Browser::signed_up(edge, "bob").await;
    let bobs = Fever::new(edge, "bob", &create_app_password(&bob, "phone").await);
    let anns: Vec<u64> = reading.fever.ids("unread_item_ids").await;
    assert_eq!(anns.len(), 3);
    let list = anns
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");

    // Bob asks for ann's items by number, marks them, and marks her feeds and group.
    let body = bobs.ok("items", &[("with_ids", &list)]).await;
    assert_eq!(body["items"], json!([]), "{body}");
    assert_eq!(body["total_items"], json!(0));
    for number in &anns {
        let answer = bobs.mark("item", "read", &number.to_string()).await;
        assert_eq!(answer["unread_item_ids"], json!(""));
        bobs.mark("item", "saved", &number.to_string()).await;
    }
    let anns_feeds = reading.fever.ok("feeds&groups", &[]).await;
    for feed in anns_feeds["feeds"].as_array().unwrap() {
        bobs.mark("feed", "read", &feed["id"].to_string()).await;
    }
    bobs.mark("group", "read", &anns_feeds["groups"][0]["id"].to_string())
        .await;
    let body = bobs.ok("feeds&groups&items&saved_item_ids", &[]).await;
    assert_eq!(body["feeds"], json!([]));
    assert_eq!(body["groups"], json!([]));
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["saved_item_ids"], json!(""));

    // Ann's items are as they were.
    assert_eq!(reading.fever.ids("unread_item_ids").await, anns);
    assert_eq!(reading.fever.ids("saved_item_ids").await, Vec::<u64>::new());
    assert_eq!(titles(&reading.ann, "/").await.len(), 3);
}
