//! Item ids and stream ids as Google Reader apps write them.
//!
//! An item is known by its number (`middletier_api::item_number`), which apps write three
//! ways: the long form `tag:google.com,2005:reader/item/<16 lowercase hex>` (what answers
//! carry in `id`), the bare 16 hex digits, and the number in decimal as a signed 64-bit
//! integer (what `stream/items/ids` answers with). A stream is the reading list, the starred
//! items, a label (one of the user's categories) or one feed, with `-` or the user's own name
//! in place of the user.

/// The long form's prefix.
const ITEM_PREFIX: &str = "tag:google.com,2005:reader/item/";

/// `user/-/state/com.google/` and the other states' common part.
const STATE: &str = "state/com.google/";

/// The long form of an item number.
pub(super) fn long_id(number: u64) -> String {
    format!("{ITEM_PREFIX}{number:016x}")
}

/// The decimal form of an item number, as a signed 64-bit integer (what Google Reader wrote).
pub(super) fn short_id(number: u64) -> String {
    // Reinterpreting the bits is the point: apps store the id as a signed 64-bit integer.
    #[allow(clippy::cast_possible_wrap)]
    let signed = number as i64;
    signed.to_string()
}

/// An item number from any of the three forms, `None` when `raw` is none of them.
///
/// Sixteen hex digits are read as hex even when they are all decimal digits: a real item's
/// decimal form has nineteen digits (its high half is a Unix second), so only the hex form
/// has sixteen.
pub(super) fn parse_item(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    if let Some(hex) = raw.rsplit_once('/').map(|(head, hex)| {
        // Only the documented long form: any other path is not an item id.
        (head == ITEM_PREFIX.trim_end_matches('/')).then_some(hex)
    }) {
        return hex.and_then(parse_hex);
    }
    if raw.len() == 16
        && let Some(number) = parse_hex(raw)
    {
        return Some(number);
    }
    if raw.len() > 20 {
        return None;
    }
    let signed: i64 = raw.parse().ok()?;
    // The inverse of `short_id`'s reinterpretation.
    #[allow(clippy::cast_sign_loss)]
    let number = signed as u64;
    Some(number)
}

fn parse_hex(hex: &str) -> Option<u64> {
    (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// A stream an app names (`s=`, the path of `stream/contents/...`, `it=`, `xt=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Stream {
    /// Every item of every subscription.
    ReadingList,
    Starred,
    /// The items the user has read (as a filter, or as a stream of its own).
    Read,
    /// The items the user has not read (FreshRSS's addition).
    Unread,
    /// One of the user's categories.
    Label(String),
    /// One subscription, by its URL.
    Feed(String),
}

/// Why a stream id was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum StreamError {
    #[error("unknown stream {0:?}")]
    Unknown(String),
    /// `user/<someone else>/...`: never another user's stream.
    #[error("that stream belongs to another user")]
    Foreign,
}

impl Stream {
    /// Parses a stream id for `user` (who may be written `-` or by name).
    pub(super) fn parse(raw: &str, user: &str) -> Result<Self, StreamError> {
        let unknown = || StreamError::Unknown(raw.chars().take(100).collect());
        if let Some(url) = raw.strip_prefix("feed/") {
            return if url.is_empty() {
                Err(unknown())
            } else {
                Ok(Stream::Feed(url.to_owned()))
            };
        }
        let Some(rest) = raw.strip_prefix("user/") else {
            return Err(unknown());
        };
        let (who, rest) = rest.split_once('/').ok_or_else(unknown)?;
        if who != "-" && !who.eq_ignore_ascii_case(user) {
            return Err(StreamError::Foreign);
        }
        if let Some(label) = rest.strip_prefix("label/") {
            return if label.is_empty() {
                Err(unknown())
            } else {
                Ok(Stream::Label(label.to_owned()))
            };
        }
        match rest.strip_prefix(STATE) {
            Some("reading-list") => Ok(Stream::ReadingList),
            Some("starred") => Ok(Stream::Starred),
            Some("read") => Ok(Stream::Read),
            Some("unread") => Ok(Stream::Unread),
            _ => Err(unknown()),
        }
    }

    /// The id apps know this stream by, with `-` for the user.
    pub(super) fn id(&self) -> String {
        match self {
            Stream::ReadingList => format!("user/-/{STATE}reading-list"),
            Stream::Starred => format!("user/-/{STATE}starred"),
            Stream::Read => format!("user/-/{STATE}read"),
            Stream::Unread => format!("user/-/{STATE}unread"),
            Stream::Label(label) => label_id(label),
            Stream::Feed(url) => feed_id(url),
        }
    }
}

pub(super) fn feed_id(url: &str) -> String {
    format!("feed/{url}")
}

pub(super) fn label_id(label: &str) -> String {
    format!("user/-/label/{label}")
}

pub(super) const READING_LIST: &str = "user/-/state/com.google/reading-list";
pub(super) const READ: &str = "user/-/state/com.google/read";
pub(super) const STARRED: &str = "user/-/state/com.google/starred";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_reads_back_from_each_of_its_three_forms() {
        for number in [1_u64, 0x6560_0000_dead_beef, u64::MAX, 1 << 63] {
            assert_eq!(parse_item(&long_id(number)), Some(number));
            assert_eq!(parse_item(&short_id(number)), Some(number));
            assert_eq!(parse_item(&format!("{number:016x}")), Some(number));
        }
        assert_eq!(
            long_id(0x6560_0000_dead_beef),
            "tag:google.com,2005:reader/item/65600000deadbeef"
        );
        assert_eq!(short_id(u64::MAX), "-1");
    }

    #[test]
    fn anything_else_is_no_item() {
        for bad in [
            "",
            "x",
            "tag:google.com,2005:reader/item/xyz",
            "tag:google.com,2005:reader/item/123",
            "tag:evil.example,2005:reader/item/65600000deadbeef",
            "99999999999999999999999",
            "1e5",
            &"1".repeat(10_000),
        ] {
            assert_eq!(parse_item(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn streams_parse_for_the_user_and_never_for_another() {
        let parse = |raw| Stream::parse(raw, "ann");
        assert_eq!(
            parse("user/-/state/com.google/reading-list"),
            Ok(Stream::ReadingList)
        );
        assert_eq!(
            parse("user/ann/state/com.google/starred"),
            Ok(Stream::Starred)
        );
        assert_eq!(
            parse("user/-/label/Tech news"),
            Ok(Stream::Label("Tech news".into()))
        );
        assert_eq!(
            parse("feed/https://example.com/feed?a=1"),
            Ok(Stream::Feed("https://example.com/feed?a=1".into()))
        );
        assert_eq!(
            parse("user/bob/state/com.google/starred"),
            Err(StreamError::Foreign)
        );
        assert_eq!(parse("user/bob/label/x"), Err(StreamError::Foreign));
        for bad in [
            "",
            "feed/",
            "user/-/label/",
            "user/-",
            "splice/x",
            "user/-/state/x",
        ] {
            assert!(
                matches!(parse(bad), Err(StreamError::Unknown(_))),
                "{bad:?}"
            );
        }
        assert_eq!(Stream::Label("a b".into()).id(), "user/-/label/a b");
    }
}
