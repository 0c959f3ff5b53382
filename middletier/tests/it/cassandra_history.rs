//! The item history on the real Cassandra: what the Cassandra store must get right beyond the
//! conformance suite, because its rows are spread over bounded partitions (content by feed and
//! month, marks by user and month, search words by feed and word): saves across months, long
//! articles past Cassandra's batch and key limits, retention removing every subscriber's marks,
//! a move carrying stars, and search over the per-feed word index.

use chrono::{DateTime, TimeZone, Utc};

use middletier::store::{
    FeedState, FeedStore, HistoryStore, MarkChange, ReadingStore, SearchHit, SearchOrder,
    SearchQuery, SearchStore, SearchTerms, SubscriptionStore,
};
use middletier::testing::{cassandra_store, unique_prefix};
use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

use crate::support::cassandra_shared;

/// Day `day` of 2026 (so consecutive ones cross month partitions).
fn day(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::days(day)
}

fn item(id: &str, description: String) -> Item {
    Item {
        id: id.to_owned(),
        title: format!("Title {id}"),
        link: None,
        description,
        published: None,
        read: false,
        starred: false,
        author: None,
        enclosures: Vec::new(),
    }
}

fn state(url: &FeedUrl, items: Vec<Item>, now: DateTime<Utc>) -> FeedState {
    let mut state = FeedState::new(url.clone(), now);
    state.last_success = Some(now);
    for item in &items {
        state.first_seen.insert(item.id.clone(), now);
    }
    state.items = items;
    state
}

const STAR: MarkChange = MarkChange {
    read: None,
    starred: Some(true),
};
const READ: MarkChange = MarkChange {
    read: Some(true),
    starred: None,
};

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_history_spans_months_keeps_first_seen_and_retention_removes_every_readers_marks()
{
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let prefix = unique_prefix();
    let url = FeedUrl::parse(&format!("https://example.com/{prefix}feed.xml")).expect("url");
    let ann = UserId::parse(&format!("{prefix}ann")).expect("user");
    let bob = UserId::parse(&format!("{prefix}bob")).expect("user");
    for user in [&ann, &bob] {
        store.subscribe(user, &url, 100).await.expect("subscribe");
    }

    // January: a and b; February: b (its first-seen kept) and c; a has left the document.
    let body = |id: &str| format!("<p>{id}</p>");
    store
        .save_feed_state(&state(
            &url,
            vec![item("a", body("a")), item("b", body("b"))],
            day(3),
        ))
        .await
        .expect("save january");
    let mut february = state(
        &url,
        vec![item("b", body("b2")), item("c", body("c"))],
        day(40),
    );
    february.first_seen.clear();
    store
        .save_feed_state(&february)
        .await
        .expect("save february");

    let mut history = store.history(&url).await.expect("history");
    history.sort_by(|x, y| x.id.cmp(&y.id));
    let seen: Vec<(&str, i64)> = history.iter().map(|e| (e.id.as_str(), e.seen)).collect();
    assert_eq!(
        seen,
        [
            ("a", day(3).timestamp_millis()),
            ("b", day(3).timestamp_millis()),
            ("c", day(40).timestamp_millis()),
        ],
        "nothing leaves by a save; a known item keeps its first-seen month"
    );
    let content = store.history_items(&url, &history).await.expect("content");
    let descriptions: Vec<Option<String>> = content
        .into_iter()
        .map(|item| item.map(|item| item.description))
        .collect();
    assert_eq!(
        descriptions,
        [Some(body("a")), Some(body("b2")), Some(body("c"))],
        "a known item's content is replaced"
    );

    for user in [&ann, &bob] {
        for id in ["a", "c"] {
            store
                .mark_item(user, &url, id, READ, day(41))
                .await
                .expect("mark");
        }
    }
    store
        .mark_item(&ann, &url, "b", STAR, day(41))
        .await
        .expect("star");
    let removed = store
        .remove_history(&url, &["a".to_owned(), "c".to_owned(), "never".to_owned()])
        .await
        .expect("retention");
    assert_eq!(removed, 2, "only what it held");
    for user in [&ann, &bob] {
        let reading = store.feed_reading(user, &url).await.expect("reading");
        assert!(
            !reading.marks.contains_key("a") && !reading.marks.contains_key("c"),
            "every subscriber's marks on removed items go with them: {reading:?}"
        );
        let page_view = store.reading(user).await.expect("reading");
        let marks = page_view
            .feeds
            .get(&url)
            .map(|f| f.marks.len())
            .unwrap_or(0);
        assert_eq!(marks, usize::from(user == &ann), "{page_view:?}");
    }
    let left: Vec<String> = store
        .history(&url)
        .await
        .expect("history")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, ["b"]);
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_a_feed_of_long_articles_past_the_batch_limit_is_saved_whole() {
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let url =
        FeedUrl::parse(&format!("https://example.com/{}long.xml", unique_prefix())).expect("url");
    // 100 items of 64 KiB each: 6.4 MB, far past Cassandra's 50 KiB batch failure threshold,
    // each item alone past it too, and each one 64 KiB "word", past the largest partition key.
    let items: Vec<Item> = (0..100)
        .map(|n| item(&format!("long-{n}"), "x".repeat(64 * 1024)))
        .collect();
    store
        .save_feed_state(&state(&url, items, day(1)))
        .await
        .expect("a hostile feed's long articles are stored, not refused");
    let history = store.history(&url).await.expect("history");
    assert_eq!(history.len(), 100);
    let content = store.history_items(&url, &history).await.expect("content");
    assert!(content.iter().all(|item| {
        item.as_ref()
            .is_some_and(|i| i.description.len() == 64 * 1024)
    }));
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_a_moved_feed_carries_its_history_and_stars() {
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let prefix = unique_prefix();
    let from = FeedUrl::parse(&format!("https://example.com/{prefix}old.xml")).expect("url");
    let to = FeedUrl::parse(&format!("https://example.com/{prefix}new.xml")).expect("url");
    let ann = UserId::parse(&format!("{prefix}ann")).expect("user");
    store.subscribe(&ann, &from, 100).await.expect("subscribe");
    store
        .save_feed_state(&state(
            &from,
            vec![item("old", "<p>old</p>".to_owned())],
            day(10),
        ))
        .await
        .expect("save");
    store
        .save_feed_state(&state(
            &from,
            vec![item("new", "<p>new</p>".to_owned())],
            day(50),
        ))
        .await
        .expect("save");
    store
        .mark_item(&ann, &from, "old", STAR, day(51))
        .await
        .expect("star");

    store.move_feed(&from, &to).await.expect("move");
    assert!(store.history(&from).await.expect("history").is_empty());
    let mut moved = store.history(&to).await.expect("history");
    moved.sort_by(|x, y| x.id.cmp(&y.id));
    let ids: Vec<&str> = moved.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        ["new", "old"],
        "the whole history, not just the document"
    );
    assert_eq!(moved[1].seen, day(10).timestamp_millis());
    let content = store.history_items(&to, &moved).await.expect("content");
    assert!(content.iter().all(Option::is_some));
    let reading = store.reading(&ann).await.expect("reading");
    assert!(
        reading.feeds[&to].marks["old"].starred,
        "the star moved with its item"
    );
    assert!(!reading.feeds.contains_key(&from));
}

fn query(feeds: &[&FeedUrl], terms: SearchTerms, order: SearchOrder) -> SearchQuery {
    SearchQuery {
        feeds: feeds.iter().map(|&f| f.clone()).collect(),
        terms,
        order,
        offset: 0,
        limit: 10,
    }
}

fn words(words: &[&str]) -> SearchTerms {
    SearchTerms {
        words: words.iter().map(|w| (*w).to_owned()).collect(),
        ..SearchTerms::default()
    }
}

fn ids(hits: &[SearchHit]) -> Vec<&str> {
    hits.iter().map(|hit| hit.entry.id.as_str()).collect()
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_search_finds_words_phrases_and_exclusions_in_the_feeds_searched_only() {
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let prefix = unique_prefix();
    let one = FeedUrl::parse(&format!("https://example.com/{prefix}one.xml")).expect("url");
    let two = FeedUrl::parse(&format!("https://example.com/{prefix}two.xml")).expect("url");
    let text = |s: &str| format!("<p>{s}</p>");
    store
        .save_feed_state(&state(
            &one,
            vec![
                item("rust-fast", text("Rust is fast and Rust is safe.")),
                item("cafe", text("A Café in Zürich &amp; rust")),
            ],
            day(1),
        ))
        .await
        .expect("save one");
    store
        .save_feed_state(&state(
            &two,
            vec![item("fast-rust", text("fast rust, slow go"))],
            day(40),
        ))
        .await
        .expect("save two");

    let newest = store
        .search(&query(&[&one, &two], words(&["RUST"]), SearchOrder::Newest))
        .await
        .expect("search");
    assert_eq!(ids(&newest)[0], "fast-rust", "newest first: {newest:?}");
    assert_eq!(newest.len(), 3);
    let relevant = store
        .search(&query(
            &[&one, &two],
            words(&["rust"]),
            SearchOrder::Relevance,
        ))
        .await
        .expect("search");
    assert_eq!(ids(&relevant)[0], "rust-fast", "most occurrences first");

    let only_one = store
        .search(&query(&[&one], words(&["fast"]), SearchOrder::Newest))
        .await
        .expect("search");
    assert_eq!(
        ids(&only_one),
        ["rust-fast"],
        "a feed not searched is not found"
    );

    let folded = store
        .search(&query(
            &[&one],
            words(&["cafe", "Zürich"]),
            SearchOrder::Newest,
        ))
        .await
        .expect("search");
    assert_eq!(ids(&folded), ["cafe"], "diacritics removed on both sides");
    let entity = store
        .search(&query(&[&one], words(&["amp"]), SearchOrder::Newest))
        .await
        .expect("search");
    assert!(entity.is_empty(), "markup and entities are not words");

    let phrase = SearchTerms {
        phrases: vec![vec!["fast".to_owned(), "rust".to_owned()]],
        ..SearchTerms::default()
    };
    let phrased = store
        .search(&query(&[&one, &two], phrase, SearchOrder::Newest))
        .await
        .expect("search");
    assert_eq!(ids(&phrased), ["fast-rust"], "words in that order only");
    let excluding = SearchTerms {
        words: vec!["rust".to_owned()],
        excluded: vec!["go".to_owned()],
        ..SearchTerms::default()
    };
    let excluded = store
        .search(&query(&[&one, &two], excluding, SearchOrder::Newest))
        .await
        .expect("search");
    assert_eq!(ids(&excluded), ["cafe", "rust-fast"]);

    let mut paged = query(&[&one, &two], words(&["rust"]), SearchOrder::Newest);
    paged.offset = 1;
    paged.limit = 1;
    let page = store.search(&paged).await.expect("search");
    assert_eq!(ids(&page), [ids(&newest)[1]]);

    // Content replaced: the old words go, the new ones come; removed items are not found.
    store
        .save_feed_state(&state(
            &two,
            vec![item("fast-rust", text("now about zig"))],
            day(41),
        ))
        .await
        .expect("save two again");
    let stale = store
        .search(&query(&[&two], words(&["go"]), SearchOrder::Newest))
        .await
        .expect("search");
    assert!(stale.is_empty(), "{stale:?}");
    let fresh = store
        .search(&query(&[&two], words(&["zig"]), SearchOrder::Newest))
        .await
        .expect("search");
    assert_eq!(ids(&fresh), ["fast-rust"]);
    assert_eq!(
        fresh[0].entry.seen,
        day(40).timestamp_millis(),
        "first seen kept"
    );
    store
        .remove_history(&one, &["cafe".to_owned()])
        .await
        .expect("retention");
    let gone = store
        .search(&query(&[&one], words(&["cafe"]), SearchOrder::Newest))
        .await
        .expect("search");
    assert!(gone.is_empty(), "{gone:?}");
}

/// Item `i` of feed `f` in [`cassandra_search_answers_deep_pages_over_many_feeds_as_a_full_read_would`]:
/// words in regular patterns, so the test knows every answer.
fn patterned(f: usize, i: usize) -> (Item, DateTime<Utc>) {
    let mut words = vec!["every"; i % 4 + 1];
    words.push(if i.is_multiple_of(2) { "even" } else { "odd" });
    if i.is_multiple_of(3) {
        words.push("third");
    }
    if f == 2 && i.is_multiple_of(10) {
        words.push("rare");
    }
    words.push(if i.is_multiple_of(5) {
        "alpha beta"
    } else {
        "beta alpha"
    });
    let mut item = item(&format!("f{f}-i{i}"), format!("<p>{}</p>", words.join(" ")));
    item.title = format!("Post {i}");
    // Interleaved across feeds; some items share a river time with another feed's.
    let seen = day(0) + chrono::Duration::minutes((i * 6 + f * 3) as i64);
    (item, seen)
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_search_answers_deep_pages_over_many_feeds_as_a_full_read_would() {
    use middletier::store::StoredItem;
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let prefix = unique_prefix();
    let feeds: Vec<FeedUrl> = (0..5)
        .map(|f| FeedUrl::parse(&format!("https://example.com/{prefix}/{f}.xml")).expect("url"))
        .collect();
    // Each feed's items, with what a full read of every item would answer from.
    let mut all: Vec<(FeedUrl, Item, i64)> = Vec::new();
    for (f, url) in feeds.iter().enumerate() {
        let items: Vec<StoredItem> = (0..60)
            .map(|i| {
                let (item, seen) = patterned(f, i);
                all.push((url.clone(), item.clone(), seen.timestamp_millis()));
                StoredItem { item, seen }
            })
            .collect();
        store.insert_history(url, &items).await.expect("insert");
    }
    let expected = |terms: &SearchTerms, order: SearchOrder, offset: usize, limit: usize| {
        let mut hits: Vec<(i64, String, String, usize)> = all
            .iter()
            .filter_map(|(url, item, time)| {
                let text: Vec<String> = middletier::store::words::words(
                    &middletier::store::words::html_text(&item.description),
                )
                .collect();
                let has = |w: &String| text.contains(w);
                let phrase_in = |p: &Vec<String>| text.windows(p.len()).any(|w| w == p.as_slice());
                (terms.words.iter().all(has)
                    && !terms.excluded.iter().any(has)
                    && terms.phrases.iter().all(phrase_in))
                .then(|| {
                    let score = terms
                        .words
                        .iter()
                        .chain(terms.phrases.iter().flatten())
                        .collect::<std::collections::HashSet<_>>()
                        .iter()
                        .map(|w| text.iter().filter(|t| t == w).count())
                        .sum();
                    (*time, url.as_str().to_owned(), item.id.clone(), score)
                })
            })
            .collect();
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        if order == SearchOrder::Relevance {
            hits.sort_by_key(|hit| std::cmp::Reverse(hit.3));
        }
        hits.into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, _, id, _)| id)
            .collect::<Vec<_>>()
    };
    let term_sets = [
        words(&["every"]),
        words(&["rare"]),
        words(&["third", "odd"]),
        words(&["odd", "third"]),
        SearchTerms {
            words: vec!["every".to_owned()],
            excluded: vec!["even".to_owned(), "third".to_owned()],
            ..SearchTerms::default()
        },
        SearchTerms {
            phrases: vec![vec!["alpha".to_owned(), "beta".to_owned()]],
            ..SearchTerms::default()
        },
    ];
    let everything: Vec<&FeedUrl> = feeds.iter().collect();
    for terms in &term_sets {
        for order in [SearchOrder::Newest, SearchOrder::Relevance] {
            for (offset, limit) in [(0, 10), (0, 1), (45, 10), (95, 30), (290, 20), (0, 300)] {
                let mut asked = query(&everything, terms.clone(), order);
                asked.offset = offset;
                asked.limit = limit;
                let found = store.search(&asked).await.expect("search");
                assert_eq!(
                    ids(&found),
                    expected(terms, order, offset, limit),
                    "{terms:?} {order:?} from {offset}, {limit}"
                );
            }
        }
    }
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_an_item_whose_river_time_changes_is_found_once_at_its_new_time() {
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let prefix = unique_prefix();
    let url = FeedUrl::parse(&format!("https://example.com/{prefix}moved.xml")).expect("url");
    let mut dated = item("dated", "<p>retimed words</p>".to_owned());
    dated.published = Some(day(3).to_rfc3339());
    store
        .save_feed_state(&state(&url, vec![dated.clone()], day(5)))
        .await
        .expect("save");
    // The feed dates it again, earlier: its postings are keyed by river time, so all of them
    // move, not only the words that changed.
    dated.published = Some(day(2).to_rfc3339());
    store
        .save_feed_state(&state(&url, vec![dated], day(6)))
        .await
        .expect("save again");
    let found = store
        .search(&query(&[&url], words(&["retimed"]), SearchOrder::Newest))
        .await
        .expect("search");
    assert_eq!(ids(&found), ["dated"], "once: {found:?}");
    assert_eq!(found[0].entry.time, day(2).timestamp_millis());
    store
        .remove_history(&url, &["dated".to_owned()])
        .await
        .expect("retention");
    let gone = store
        .search(&query(&[&url], words(&["words"]), SearchOrder::Newest))
        .await
        .expect("search");
    assert!(gone.is_empty(), "removed with its item: {gone:?}");
}

#[tokio::test]
#[ignore = "needs Cassandra: deploy/test.sh starts one (or deploy/cassandra/run.sh start)"]
async fn cassandra_a_phrase_is_found_where_its_words_are_adjacent_in_the_title_or_the_text_only() {
    let _cassandra = cassandra_shared().await;
    let store = cassandra_store().await;
    let prefix = unique_prefix();
    let url = FeedUrl::parse(&format!("https://example.com/{prefix}phrases.xml")).expect("url");
    let titled = |id: &str, title: &str, text: &str| {
        let mut item = item(id, format!("<p>{text}</p>"));
        item.title = title.to_owned();
        item
    };
    let items = vec![
        titled("in-title", "The brown fox", "runs"),
        titled(
            "in-text",
            "Nothing",
            "a <em>brown</em> fox, twice: brown fox",
        ),
        // The title's last word and the text's first are not adjacent, as the shared
        // tokenizer cuts title and text apart on every store.
        titled("across", "Quick brown", "fox jumps"),
        titled("reversed", "Fox", "fox brown"),
        titled("apart", "Brown", "brown big fox"),
        titled("repeated", "Brown brown", "brown brown fox fox"),
    ];
    store
        .save_feed_state(&state(&url, items, day(1)))
        .await
        .expect("save");
    let phrase = |words: &[&str]| SearchTerms {
        phrases: vec![words.iter().map(|w| (*w).to_owned()).collect()],
        ..SearchTerms::default()
    };
    let found = |terms: SearchTerms| {
        let store = store.clone();
        let asked = query(&[&url], terms, SearchOrder::Newest);
        async move {
            let mut found: Vec<String> = store
                .search(&asked)
                .await
                .expect("search")
                .into_iter()
                .map(|hit| hit.entry.id)
                .collect();
            found.sort();
            found
        }
    };
    assert_eq!(
        found(phrase(&["brown", "fox"])).await,
        ["in-text", "in-title", "repeated"]
    );
    assert_eq!(found(phrase(&["fox", "brown"])).await, ["reversed"]);
    assert_eq!(
        found(phrase(&["brown", "brown", "fox"])).await,
        ["repeated"]
    );
    assert_eq!(found(phrase(&["fox", "jumps"])).await, ["across"]);
    assert!(found(phrase(&["quick", "brown", "fox"])).await.is_empty());
}
