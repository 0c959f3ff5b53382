//! The whole bytes-to-entries path (`feed::inspect`: charset choice, strict parse, repair,
//! dates, sanitizing) on arbitrary bytes. The first byte picks a Content-Type header, so the
//! charset logic is fuzzed too. `inspect` catches panics at its boundary and reports them as
//! `FeedError::Crashed`; here that is a crash, so libFuzzer sees it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use middletier::feed::{self, FeedError};

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/rss+xml"),
    Some("text/xml; charset=utf-8"),
    Some("text/xml; charset=iso-8859-1"),
    Some("application/atom+xml; charset=utf-16"),
    Some("text/xml; charset=shift_jis"),
    Some("application/feed+json; charset=gb18030"),
    Some("text/xml; charset=\"bogus\""),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let base = url::Url::parse("https://fuzz.example/feed.xml").expect("base");
    if let Err(FeedError::Crashed(message)) = feed::inspect(body, content_type, &base) {
        panic!("the feed parser crashed: {message}");
    }
});
