//! Fever's numbers for feeds and groups, and the id lists it reads.
//!
//! Fever names feeds and groups by integer; the reader names them by URL and by category name.
//! Both numbers are derived, never stored: 31 bits of SHA-256 of the URL (or of the category
//! name), so they stay the same across refreshes, stores and edges, fit any client's signed
//! 32-bit integer, and are never 0 (group 0 is Fever's "everything"). They map back through the
//! user's own feed list, so a number only ever reaches the asking user's feeds. Two of one
//! user's feeds share a number with odds of about one in 17,000 at 500 feeds; the first of the
//! two in the feed list then wins.

/// Fever's id of the feed at `url`.
pub(super) fn feed_id(url: &str) -> u32 {
    number(b"feed\n", url)
}

/// Fever's id of the group (category) `name`.
pub(super) fn group_id(name: &str) -> u32 {
    number(b"group\n", name)
}

fn number(kind: &[u8], name: &str) -> u32 {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    hash.update(kind);
    hash.update(name.as_bytes());
    let digest = hash.finish();
    let bytes = digest.as_ref();
    let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & 0x7FFF_FFFF;
    n.max(1)
}

/// Longest item number in decimal (`u64::MAX` has 20 digits).
const MAX_NUMBER_DIGITS: usize = 20;

/// A comma-separated list of item numbers (`with_ids`), at most `max` of them. Spaces around
/// an entry and empty entries (a trailing comma) are tolerated; anything else is refused.
pub(super) fn parse_numbers(list: &str, max: usize) -> Result<Vec<u64>, String> {
    let mut numbers = Vec::new();
    for entry in list
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        if numbers.len() == max {
            return Err(format!("at most {max} item ids per call"));
        }
        numbers.push(parse_number(entry).ok_or("item ids are decimal numbers")?);
    }
    Ok(numbers)
}

/// One item number in decimal: digits only (no sign, no spaces), within `u64`.
pub(super) fn parse_number(text: &str) -> Option<u64> {
    let digits = !text.is_empty()
        && text.len() <= MAX_NUMBER_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

/// Numbers as Fever lists them: `"1,2,3"`.
pub(super) fn join(numbers: &[u64]) -> String {
    let mut text = String::with_capacity(numbers.len() * 20);
    for (n, number) in numbers.iter().enumerate() {
        if n > 0 {
            text.push(',');
        }
        text.push_str(&number.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_and_group_ids_are_stable_positive_31_bit_numbers() {
        let feed = feed_id("https://example.com/feed");
        assert_eq!(feed, feed_id("https://example.com/feed"));
        assert_ne!(feed, feed_id("https://example.com/other"));
        assert!(feed > 0 && feed <= 0x7FFF_FFFF);
        // A category named like a feed URL still gets another number.
        assert_ne!(group_id("https://example.com/feed"), feed);
        assert!(group_id("") > 0);
    }

    #[test]
    fn id_lists_are_bounded_and_strict() {
        assert_eq!(parse_numbers("1, 2,3,", 50), Ok(vec![1, 2, 3]));
        assert_eq!(parse_numbers("", 50), Ok(vec![]));
        assert_eq!(parse_numbers("18446744073709551615", 1), Ok(vec![u64::MAX]));
        for bad in [
            "x",
            "-1",
            "1;2",
            "18446744073709551616",
            "+1",
            "0x10",
            "1 2",
        ] {
            assert!(parse_numbers(bad, 50).is_err(), "{bad:?}");
        }
        let many = (0..51).map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        assert!(parse_numbers(&many, 50).is_err());
        assert_eq!(parse_numbers(&many, 51).map(|n| n.len()), Ok(51));
        assert_eq!(join(&[1, 22, 333]), "1,22,333");
        assert_eq!(join(&[]), "");
    }
}
