//! The search benchmark: how long a search takes over one user's whole item history, 500
//! feeds x 2,000 retained items (1,000,000 items, the default retention cap), on SQLite (the
//! FTS5 index), the memory store or Cassandra.
//!
//! Run it with `cargo bench -p middletier --bench search` (SQLite on a fresh file in the
//! temporary directory, opened as the middle tier opens it); `-- --store memory` or
//! `-- --store cassandra` (the running test node, in a keyspace of its own dropped at the end)
//! for the other stores; `-- --items-per-feed N` for a smaller history. Without `--bench`
//! (e.g. `cargo test --all-targets`) it runs a small smoke version of itself.
//!
//! Loading a million items takes minutes on SQLite and hours on Cassandra, so `-- --keep PLACE`
//! loads into `PLACE` and leaves it there, and `-- --reuse PLACE` opens it and only times the
//! queries; the same `--items-per-feed` both times, since the queries are chosen from the text
//! the generator makes. `PLACE` is a file for SQLite (copy it before reusing: opening migrates
//! it) and a keyspace for Cassandra; `-- --drop KEYSPACE` drops a kept keyspace.
//!
//! The text is generated, not copied: titles of about 8 words and descriptions of about 60
//! words of HTML (paragraphs, links, emphasis) drawn from a fixed vocabulary of 200,000 made-up
//! words with a Zipf distribution, as natural language has: a few words are in almost every
//! item, some in one item of ten, most in a handful. The bench counts in how many items each
//! word appears while it generates them, so it knows what each answer must hold.
//!
//! The history is loaded through the store API (`insert_history`, a batch of 500 items at a
//! time), as `middletier import` loads it. Each kind of query then runs a warm-up round and
//! `runs` timed queries, each with other words; the figures are p50, p95 and max. Every answer
//! is checked apart from the timing: the number of hits where the bench knows it (a page of
//! 50, or every match of a rare word), the order asked for, and each hit's content really
//! holding every word and phrase and no excluded word. A wrong answer fails the run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use middletier::store::words::html_text;
use middletier::store::{
    FeedCache, MemoryStore, SearchHit, SearchOrder, SearchQuery, SearchTerms, SqliteStore, Store,
    StoredItem,
};
use middletier_api::Item;
use middletier_api::domain::{FeedUrl, UserId};

/// Words in the vocabulary: enough for a long tail of words in only a few of a million items.
const VOCABULARY: usize = 200_000;
/// The generator's seed: the same text on every run and every store.
const SEED: u64 = 0x5eed;
/// Items per `insert_history` call.
const BATCH: usize = 500;
/// Hits per page, as the search page asks.
const PAGE: usize = 50;
/// Feeds in the category a scoped search looks in.
const CATEGORY_FEEDS: usize = 50;

struct Config {
    feeds: usize,
    items_per_feed: usize,
    /// Timed queries of each kind.
    runs: usize,
}

/// The number after `name` on the command line, if given.
fn number_arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == name)?;
    let value = args.get(at + 1)?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a number, not {value:?}")),
    )
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let store = store_arg();
    let config = if full {
        Config {
            feeds: 500,
            // `-- --items-per-feed N` for a smaller history (a store slow to load a million).
            items_per_feed: number_arg("--items-per-feed").unwrap_or(2_000),
            runs: 50,
        }
    } else {
        Config {
            feeds: 60,
            items_per_feed: 40,
            runs: 3,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Some(keyspace) = text_arg("--drop") {
        runtime.block_on(drop_keyspaces(|name| name == keyspace));
        return;
    }
    let kept = kept_place(store.as_deref());
    runtime.block_on(async {
        let stores: Vec<&str> = match store.as_deref() {
            Some(store) => vec![store],
            None => vec!["sqlite"],
        };
        for name in stores {
            let scratch = Scratch::new();
            let store: Arc<dyn Store> = match name {
                "sqlite" => {
                    let path = kept.as_ref().map_or_else(
                        || scratch.0.join("rss.db"),
                        |kept| std::path::PathBuf::from(&kept.place),
                    );
                    Arc::new(FeedCache::new(
                        SqliteStore::open(&path).await.expect("open SQLite"),
                    ))
                }
                "memory" => Arc::new(MemoryStore::new()),
                "cassandra" => {
                    // A keyspace of its own: a million items stay out of the tests' keyspace.
                    let keyspace = match &kept {
                        Some(kept) => kept.place.clone(),
                        None => {
                            drop_bench_keyspaces().await;
                            format!("{BENCH_KEYSPACE}{}", std::process::id())
                        }
                    };
                    let settings = middletier::store::CassandraSettings {
                        keyspace,
                        ..middletier::testing::cassandra_settings()
                    };
                    let store = middletier::store::CassandraStore::connect(&settings)
                        .await
                        .unwrap_or_else(|error| panic!("Cassandra at {}: {error}", settings.nodes));
                    Arc::new(FeedCache::new(store))
                }
                other => panic!("--store takes memory, sqlite or cassandra, not {other}"),
            };
            if kept.is_some() && name == "memory" {
                panic!("--keep and --reuse are for --store sqlite or cassandra");
            }
            run(name, store, &config, kept.as_ref()).await;
            if name == "cassandra" && kept.is_none() {
                drop_bench_keyspaces().await;
            }
        }
    });
}

/// Every keyspace's name this bench makes on Cassandra starts with this.
const BENCH_KEYSPACE: &str = "bench_search_";

/// Drops every keyspace of this bench on the test Cassandra (an aborted run's too), but not
/// the kept ones (`--keep`).
async fn drop_bench_keyspaces() {
    drop_keyspaces(|name| name.starts_with(BENCH_KEYSPACE)).await;
}

/// Drops the keyspaces on the test Cassandra whose names `which` accepts.
async fn drop_keyspaces(which: impl Fn(&str) -> bool) {
    let nodes = middletier::testing::cassandra_settings().nodes;
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(&nodes)
        .build()
        .await
        .unwrap_or_else(|error| panic!("Cassandra at {nodes}: {error}"));
    let names: Vec<String> = session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", ())
        .await
        .expect("list keyspaces")
        .into_rows_result()
        .expect("keyspace rows")
        .rows::<(String,)>()
        .expect("keyspace names")
        .filter_map(|row| row.ok().map(|(name,)| name))
        .filter(|name| which(name))
        .collect();
    for name in names {
        session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {name}"), ())
            .await
            .expect("drop the bench keyspace");
    }
}

/// A history that outlives the run: loaded and kept, or reused as loaded before.
struct Kept {
    /// A SQLite file's path, or a Cassandra keyspace's name.
    place: String,
    /// Already loaded: time the queries only.
    reuse: bool,
}

/// The word after `name` on the command line, if given.
fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == name)?;
    Some(
        args.get(at + 1)
            .unwrap_or_else(|| panic!("{name} takes a value"))
            .clone(),
    )
}

/// `--keep PLACE` or `--reuse PLACE`, if given: a file for SQLite (the default store), a
/// keyspace for Cassandra.
fn kept_place(store: Option<&str>) -> Option<Kept> {
    let file = store.is_none_or(|store| store == "sqlite");
    match (text_arg("--keep"), text_arg("--reuse")) {
        (Some(_), Some(_)) => panic!("--keep or --reuse, not both"),
        (Some(place), None) => {
            assert!(
                !file || !std::path::Path::new(&place).exists(),
                "--keep {place:?}: the file already exists"
            );
            Some(Kept {
                place,
                reuse: false,
            })
        }
        (None, Some(place)) => {
            assert!(
                !file || std::path::Path::new(&place).exists(),
                "--reuse {place:?}: no such file"
            );
            Some(Kept { place, reuse: true })
        }
        (None, None) => None,
    }
}

/// The name after `--store`, if given.
fn store_arg() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == "--store")?;
    Some(
        args.get(at + 1)
            .expect("--store takes memory, sqlite or cassandra")
            .clone(),
    )
}

/// A directory of its own in the temporary directory, removed with everything in it at the end.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "middletier-search-bench-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// splitmix64: a small, fast generator; a fixed seed gives the same text every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `0.0..1.0`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The vocabulary, most frequent first, and its Zipf distribution (s = 1) as cumulative
/// weights.
struct Words {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Words {
    fn new() -> Self {
        const ONSETS: [&str; 16] = [
            "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "br", "st", "tr",
        ];
        const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ea"];
        const CODAS: [&str; 8] = ["", "n", "r", "s", "l", "t", "nd", "x"];
        let syllable = |n: usize| {
            format!(
                "{}{}{}",
                ONSETS[n % 16],
                VOWELS[(n / 16) % 6],
                CODAS[(n / 96) % 8]
            )
        };
        // 768 syllables; a word is one to three of them, shorter words more frequent.
        // (37 and 13 are prime to 768, so each step reaches another syllable.)
        let mut words = Vec::with_capacity(VOCABULARY);
        let mut seen = std::collections::HashSet::new();
        let mut n = 0usize;
        while words.len() < VOCABULARY {
            let word = match n {
                n if n < 768 => syllable(n * 7 % 768),
                n if n < 768 * 300 => format!("{}{}", syllable(n % 768), syllable(n / 768 * 37)),
                n => format!(
                    "{}{}{}",
                    syllable(n % 768),
                    syllable(n / 768 % 768),
                    syllable(n * 13 % 768)
                ),
            };
            n += 1;
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let cumulative = (1..=VOCABULARY)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Self { words, cumulative }
    }

    /// A word's rank (0: the most frequent), drawn from the distribution.
    fn draw(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative[VOCABULARY - 1];
        let target = rng.unit() * total;
        self.cumulative
            .partition_point(|&c| c < target)
            .min(VOCABULARY - 1)
    }
}

/// What the generated history holds, for checking answers.
#[derive(Default)]
struct Corpus {
    /// In how many items each word (by rank) appears.
    items_with: Vec<u32>,
    /// Three-word phrases some item's title really has.
    phrases: Vec<Vec<String>>,
    /// Items in all.
    items: usize,
}

/// Feed `n`'s items, with their words counted into `corpus`.
fn feed_items(
    words: &Words,
    rng: &mut Rng,
    corpus: &mut Corpus,
    n: usize,
    count: usize,
    now: DateTime<Utc>,
) -> Vec<StoredItem> {
    let mut present = vec![false; VOCABULARY];
    let mut in_item = Vec::new();
    (0..count)
        .map(|i| {
            in_item.clear();
            let mut draw = |rng: &mut Rng| {
                let rank = words.draw(rng);
                if !present[rank] {
                    present[rank] = true;
                    in_item.push(rank);
                }
                words.words[rank].as_str()
            };
            let title_len = 6 + rng.below(5);
            let title: Vec<&str> = (0..title_len).map(|_| draw(rng)).collect();
            if corpus.phrases.len() < 10_000 && rng.below(50) == 0 {
                corpus
                    .phrases
                    .push(title[2..5].iter().map(|w| (*w).to_owned()).collect());
            }
            let mut description = String::with_capacity(600);
            let paragraphs = 2 + rng.below(3);
            for p in 0..paragraphs {
                description.push_str("<p>");
                let words_here = 60 / paragraphs + rng.below(8);
                for w in 0..words_here {
                    if w > 0 {
                        description.push(' ');
                    }
                    let word = draw(rng);
                    match (p + w) % 23 {
                        5 => description.push_str(&format!(
                            "<a href=\"https://blog{n}.example/{i}/{w}\">{word}</a>"
                        )),
                        11 => description.push_str(&format!("<em>{word}</em>")),
                        _ => description.push_str(word),
                    }
                }
                description.push_str(".</p>");
            }
            if corpus.items_with.len() < VOCABULARY {
                corpus.items_with.resize(VOCABULARY, 0);
            }
            for &rank in &in_item {
                present[rank] = false;
                corpus.items_with[rank] += 1;
            }
            let mut title = title.join(" ");
            title[..1].make_ascii_uppercase();
            // Feeds interleave in time, one item every few minutes each.
            let seen = now - chrono::Duration::minutes((i * 37 + n * 13) as i64);
            StoredItem {
                item: Item {
                    id: format!("https://blog{n}.example/posts/{i}"),
                    title,
                    link: Some(format!("https://blog{n}.example/posts/{i}")),
                    description,
                    published: Some(seen.to_rfc3339()),
                    read: false,
                    starred: false,
                    author: None,
                    enclosures: Vec::new(),
                },
                seen,
            }
        })
        .collect()
}

fn feed_url(prefix: &str, n: usize) -> FeedUrl {
    FeedUrl::parse(&format!("https://feeds{}.example/{prefix}/{n}.xml", n % 17)).expect("url")
}

/// One kind of query: its name, and the query for run `i`.
struct Kind {
    name: &'static str,
    /// Every match is on the page: the answer holds exactly this many hits.
    exact: Option<usize>,
    /// Matches are sure to exist (words drawn independently: at least 10 expected).
    some: bool,
    query: SearchQuery,
}

fn terms(words: &[&str], phrases: &[&[String]], excluded: &[&str]) -> SearchTerms {
    SearchTerms {
        words: words.iter().map(|w| (*w).to_owned()).collect(),
        phrases: phrases.iter().map(|p| p.to_vec()).collect(),
        excluded: excluded.iter().map(|w| (*w).to_owned()).collect(),
    }
}

/// The queries of round `i` (0 is the warm-up), each kind with other words than other rounds.
fn kinds(
    words: &Words,
    corpus: &Corpus,
    feeds: &[FeedUrl],
    category: &[FeedUrl],
    i: usize,
) -> Vec<Kind> {
    let word = |rank: usize| words.words[rank].as_str();
    // Rare: in 3 to 100 items (the top of the page is all of them); common: in 5 to 30 % of
    // items; mid: in 0.5 to 5 %.
    let total = corpus.items as f64;
    let pick = |low: f64, high: f64, nth: usize| -> usize {
        let fitting: Vec<usize> = (0..VOCABULARY)
            .filter(|&r| {
                let share = f64::from(corpus.items_with[r]) / total;
                share >= low && share <= high
            })
            .collect();
        assert!(!fitting.is_empty(), "no word in {low}..{high} of items");
        fitting[nth * 7919 % fitting.len()]
    };
    let rare_rank = {
        let fitting: Vec<usize> = (0..VOCABULARY)
            .filter(|&r| (3..=100).contains(&corpus.items_with[r]))
            .collect();
        assert!(!fitting.is_empty(), "no rare word");
        fitting[i * 7919 % fitting.len()]
    };
    let common = pick(0.05, 0.30, i);
    let mid = pick(0.005, 0.05, i);
    let phrase = &corpus.phrases[i * 31 % corpus.phrases.len()];
    let query = |feeds: &[FeedUrl], terms: SearchTerms, order: SearchOrder| SearchQuery {
        feeds: feeds.to_vec(),
        terms,
        order,
        offset: 0,
        limit: PAGE,
    };
    use SearchOrder::{Newest, Relevance};
    let rare_hits = corpus.items_with[rare_rank] as usize;
    // The category's share of a common word's matches, if sure to fill a page.
    let in_category = corpus.items_with[common] as usize * category.len() / feeds.len();
    let category_page = (in_category >= 2 * PAGE).then_some(PAGE);
    let both = f64::from(corpus.items_with[common]) * f64::from(corpus.items_with[mid]) / total;
    let both_likely = both >= 10.0;
    vec![
        Kind {
            name: "one rare word",
            exact: Some(rare_hits.min(PAGE)),
            some: true,
            query: query(feeds, terms(&[word(rare_rank)], &[], &[]), Newest),
        },
        Kind {
            name: "one common word",
            exact: Some(PAGE),
            some: true,
            query: query(feeds, terms(&[word(common)], &[], &[]), Newest),
        },
        Kind {
            name: "two words",
            exact: None,
            some: both_likely,
            query: query(feeds, terms(&[word(common), word(mid)], &[], &[]), Newest),
        },
        Kind {
            name: "a phrase of three words",
            exact: None,
            some: true,
            query: query(feeds, terms(&[], &[phrase], &[]), Newest),
        },
        Kind {
            name: "a common word without a common word",
            exact: None,
            some: true,
            query: query(
                feeds,
                terms(&[word(common)], &[], &[word(common + 1)]),
                Newest,
            ),
        },
        Kind {
            name: "one common word, by relevance",
            exact: Some(PAGE),
            some: true,
            query: query(feeds, terms(&[word(common)], &[], &[]), Relevance),
        },
        Kind {
            name: "two words, by relevance",
            exact: None,
            some: both_likely,
            query: query(
                feeds,
                terms(&[word(common), word(mid)], &[], &[]),
                Relevance,
            ),
        },
        Kind {
            name: "one common word, one category (50 feeds)",
            exact: category_page,
            some: true,
            query: query(category, terms(&[word(common)], &[], &[]), Newest),
        },
    ]
}

async fn run(name: &str, store: Arc<dyn Store>, config: &Config, kept: Option<&Kept>) {
    // A kept file's user and feeds are found again by name when it is reused.
    let prefix = match kept {
        Some(_) => "kept-".to_owned(),
        None => middletier::testing::unique_prefix(),
    };
    let user = UserId::parse(&format!("{prefix}-searcher")).expect("user");
    let now = Utc.timestamp_opt(1_800_000_000, 0).single().expect("time");
    let words = Words::new();
    let urls: Vec<FeedUrl> = (0..config.feeds).map(|n| feed_url(&prefix, n)).collect();
    let in_category = CATEGORY_FEEDS.min(config.feeds / 2);
    // A first pass counts the words (the same seed makes the same text again below), so every
    // query is chosen, and known to be answerable, before the long load.
    let corpus = {
        let mut rng = Rng(SEED);
        let mut corpus = Corpus::default();
        for n in 0..config.feeds {
            feed_items(&words, &mut rng, &mut corpus, n, config.items_per_feed, now);
        }
        corpus.items = config.feeds * config.items_per_feed;
        corpus
    };
    let rounds: Vec<Vec<Kind>> = (0..=config.runs)
        .map(|i| kinds(&words, &corpus, &urls, &urls[..in_category], i))
        .collect();

    let mut rng = Rng(SEED);
    let mut recount = Corpus::default();
    let max = middletier::service::AccountSettings::default().max_subscriptions_per_user;
    let mut generating = Duration::ZERO;
    let mut loading = Duration::ZERO;
    let mut bytes = 0usize;
    let load = !kept.is_some_and(|kept| kept.reuse);
    for (n, url) in urls.iter().enumerate().filter(|_| load) {
        store.subscribe(&user, url, max).await.expect("subscribe");
        if n < in_category {
            store
                .set_category(&user, url, Some("News"))
                .await
                .expect("category");
        }
        let started = Instant::now();
        let items = feed_items(
            &words,
            &mut rng,
            &mut recount,
            n,
            config.items_per_feed,
            now,
        );
        bytes += items
            .iter()
            .map(|s| s.item.title.len() + s.item.description.len())
            .sum::<usize>();
        generating += started.elapsed();
        let started = Instant::now();
        for batch in items.chunks(BATCH) {
            let added = store
                .insert_history(url, batch)
                .await
                .unwrap_or_else(|error| panic!("loading the history into {name}: {error}"));
            assert_eq!(added, batch.len(), "every item is new");
        }
        loading += started.elapsed();
        if (n + 1) % 10 == 0 {
            let so_far = (n + 1) * config.items_per_feed;
            eprintln!(
                "loaded {so_far} items in {loading:.0?} ({:.0} items/s)",
                so_far as f64 / loading.as_secs_f64()
            );
        }
    }
    let items = corpus.items;
    if load {
        assert_eq!(recount.items_with, corpus.items_with, "the same text twice");
    }
    let most = corpus.items_with[0];
    if load {
        println!(
            "Search on {name}: {} feeds x {} items = {items} items ({:.0} MB of title and \
             description), generated in {generating:.1?}, loaded in {loading:.1?} ({:.0} \
             items/s through insert_history, {BATCH} a call); the most frequent word is in \
             {most} items\n",
            config.feeds,
            config.items_per_feed,
            bytes as f64 / 1e6,
            items as f64 / loading.as_secs_f64(),
        );
    } else {
        println!(
            "Search on {name}: {} feeds x {} items = {items} items, reused as loaded before; \
             the most frequent word is in {most} items\n",
            config.feeds, config.items_per_feed,
        );
    }

    // The queries' scopes are what the search API resolves for this user: the subscriptions,
    // or one category's feeds.
    let feeds = store.subscriptions(&user).await.expect("subscriptions");
    assert_eq!(feeds, urls, "the scope of a search of everything");
    let category: Vec<FeedUrl> = store
        .reading(&user)
        .await
        .expect("reading")
        .subscriptions
        .iter()
        .filter(|(_, category)| category.as_deref() == Some("News"))
        .map(|(feed, _)| feed.clone())
        .collect();
    assert_eq!(
        category,
        urls[..in_category],
        "the scope of a category's search"
    );
    let names: Vec<&str> = rounds[0].iter().map(|kind| kind.name).collect();
    println!("| store | query | p50 | p95 | max | hits (median) |\n|---|---|---|---|---|---|");
    for (k, kind_name) in names.iter().enumerate() {
        let mut samples = Vec::with_capacity(config.runs);
        let mut hits = Vec::with_capacity(config.runs);
        for (round, kinds) in rounds.iter().enumerate() {
            let kind = &kinds[k];
            let started = Instant::now();
            let answer = store.search(&kind.query).await.expect("search");
            let took = started.elapsed();
            check(store.as_ref(), kind, &answer).await;
            // Round 0 warms the caches up.
            if round > 0 {
                samples.push(took);
                hits.push(answer.len());
            }
        }
        report(name, kind_name, &samples, &hits);
    }
}

/// Fails the run unless `answer` is right for `kind`: its size where known, its order, and
/// every hit's content holding the words and phrases and none of the excluded words.
async fn check(store: &dyn Store, kind: &Kind, answer: &[SearchHit]) {
    let what = kind.name;
    if let Some(exact) = kind.exact {
        assert_eq!(answer.len(), exact, "{what}: hits");
    }
    if kind.some {
        assert!(!answer.is_empty(), "{what}: an answer");
    }
    assert!(answer.len() <= kind.query.limit, "{what}: at most a page");
    for pair in answer.windows(2) {
        match kind.query.order {
            SearchOrder::Newest => assert!(
                pair[0].entry.time >= pair[1].entry.time,
                "{what}: newest first"
            ),
            SearchOrder::Relevance => {
                assert!(pair[0].score >= pair[1].score, "{what}: best first");
            }
        }
    }
    let mut by_feed: HashMap<&FeedUrl, Vec<_>> = HashMap::new();
    for hit in answer {
        assert!(kind.query.feeds.contains(&hit.feed), "{what}: in scope");
        by_feed
            .entry(&hit.feed)
            .or_default()
            .push(hit.entry.clone());
    }
    let terms = &kind.query.terms;
    for (feed, entries) in by_feed {
        let items = store.history_items(feed, &entries).await.expect("content");
        for item in items {
            let item = item.expect("a hit is held");
            let text = format!("{} {}", item.title, html_text(&item.description));
            let tokens: Vec<String> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect();
            for word in &terms.words {
                assert!(tokens.contains(word), "{what}: {} has {word}", item.id);
            }
            for phrase in &terms.phrases {
                assert!(
                    tokens.windows(phrase.len()).any(|w| w == phrase.as_slice()),
                    "{what}: {} has {phrase:?}",
                    item.id
                );
            }
            for word in &terms.excluded {
                assert!(!tokens.contains(word), "{what}: {} lacks {word}", item.id);
            }
        }
    }
}

fn report(store: &str, what: &str, samples: &[Duration], hits: &[usize]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let mut hits = hits.to_vec();
    hits.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {store} | {what} | {:.1} ms | {:.1} ms | {:.1} ms | {} |",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(sorted[sorted.len() - 1]),
        hits[hits.len() / 2]
    );
}
