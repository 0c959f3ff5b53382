//! Newtypes that parse user input once, at the boundary, so the code behind it can rely on it
//! being valid. The middle tier parses every request with them; a caller (the edge) uses the
//! same rules, so it never accepts a name or URL the middle tier would refuse.

use std::fmt;

use crate::apps::MAX_APP_PASSWORD_NAME;
use crate::limits::{
    MAX_CATEGORY_LEN, MAX_ITEM_ID_LEN, MAX_PASSWORD_HASH_LEN, MAX_SESSION_DAYS, MAX_TITLE_BYTES,
    MAX_URL_LEN, MAX_USER_LEN,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error(
        "user name must be 1 to {MAX_USER_LEN} characters of letters, digits, '.', '_', '-' or '@'"
    )]
    User,
    #[error("feed URL is missing")]
    UrlMissing,
    #[error("feed URL is longer than {MAX_URL_LEN} characters")]
    UrlTooLong,
    #[error("'{0}' is not a valid URL: {1}")]
    UrlInvalid(String, url::ParseError),
    #[error("only http and https feed URLs are supported, not '{0}:'")]
    UrlScheme(String),
    #[error("feed URLs with a user name or password are not supported")]
    UrlCredentials,
    #[error("item id must be 1 to {MAX_ITEM_ID_LEN} characters without control characters")]
    ItemId,
    #[error(
        "category must be at most {MAX_CATEGORY_LEN} characters without control characters, \
         and not '.' or '..'"
    )]
    Category,
    #[error("'{0}' is not an RFC 3339 time (like 2025-06-10T04:00:00Z)")]
    Time(String),
    #[error("the page cursor is not valid; start again from the first page")]
    Cursor,
    #[error("page size must be between 1 and {0}")]
    Limit(usize),
    #[error("session token hash must be 64 lower-case hex characters (SHA-256)")]
    TokenHash,
    #[error("password hash must be 1 to {MAX_PASSWORD_HASH_LEN} printable characters")]
    PasswordHash,
    #[error("session expiry must be in the future and at most {MAX_SESSION_DAYS} days away")]
    SessionExpiry,
    #[error("app password id must be 16 lower-case hex characters")]
    AppPasswordId,
    #[error("app password hashes must be 64 lower-case hex characters (SHA-256)")]
    AppPasswordHash,
    #[error(
        "app password name must be 1 to {MAX_APP_PASSWORD_NAME} characters without control \
         characters"
    )]
    AppPasswordName,
    #[error("feed title must be at most {MAX_TITLE_BYTES} bytes without control characters")]
    Title,
    #[error("icon hash must be 64 lower-case hex characters (SHA-256)")]
    IconHash,
}

/// An item id as the client sends it back (the middle tier's `feed::item_id` makes them).
pub fn item_id(raw: &str) -> Result<&str, ParseError> {
    if raw.is_empty() || raw.len() > MAX_ITEM_ID_LEN || raw.chars().any(char::is_control) {
        return Err(ParseError::ItemId);
    }
    Ok(raw)
}

/// A category name, trimmed; `None` for none (absent or blank).
pub fn category(raw: Option<&str>) -> Result<Option<String>, ParseError> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    // `.` and `..` cannot be a URL path segment (URLs resolve them away), and a category is
    // one in `DELETE …/categories/{name}`.
    if raw.chars().count() > MAX_CATEGORY_LEN
        || raw.chars().any(char::is_control)
        || raw == "."
        || raw == ".."
    {
        return Err(ParseError::Category);
    }
    Ok(Some(raw.to_owned()))
}

/// An RFC 3339 time.
pub fn time(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, ParseError> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|time| time.with_timezone(&chrono::Utc))
        .map_err(|_| ParseError::Time(raw.chars().take(64).collect()))
}

/// SHA-256 hex of a session token: the only form in which tokens reach the middle tier.
pub fn token_hash(raw: &str) -> Result<&str, ParseError> {
    if raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(raw)
    } else {
        Err(ParseError::TokenHash)
    }
}

/// `len` lower-case hex digits.
fn lower_hex(raw: &str, len: usize) -> bool {
    raw.len() == len && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An app password's id, chosen by the edge: 16 lower-case hex characters, so it is safe in a
/// path segment and a key as it is.
pub fn app_password_id(raw: &str) -> Result<&str, ParseError> {
    lower_hex(raw, 16)
        .then_some(raw)
        .ok_or(ParseError::AppPasswordId)
}

/// SHA-256 hex of an app password or of its Fever key: the only forms in which they reach the
/// middle tier.
pub fn app_password_hash(raw: &str) -> Result<&str, ParseError> {
    lower_hex(raw, 64)
        .then_some(raw)
        .ok_or(ParseError::AppPasswordHash)
}

/// SHA-256 hex of a feed icon's bytes: how icons are named, so the name is safe in a path
/// segment and a key as it is, and a cached copy never goes stale.
pub fn icon_hash(raw: &str) -> Result<&str, ParseError> {
    lower_hex(raw, 64)
        .then_some(raw)
        .ok_or(ParseError::IconHash)
}

/// An app password's name as its owner typed it ("Phone", "Reeder on the iPad"), trimmed.
pub fn app_password_name(raw: &str) -> Result<String, ParseError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_APP_PASSWORD_NAME
        || name.chars().any(char::is_control)
    {
        return Err(ParseError::AppPasswordName);
    }
    Ok(name.to_owned())
}

/// A user's own title for a feed, trimmed; `None` for none (absent or blank: the feed's own
/// title shows again).
pub fn feed_title(raw: Option<&str>) -> Result<Option<String>, ParseError> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    if raw.len() > MAX_TITLE_BYTES || raw.chars().any(char::is_control) {
        return Err(ParseError::Title);
    }
    Ok(Some(raw.to_owned()))
}

/// An opaque password hash (the edge's argon2 PHC string).
pub fn password_hash(raw: &str) -> Result<&str, ParseError> {
    if raw.is_empty()
        || raw.len() > MAX_PASSWORD_HASH_LEN
        || raw.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(ParseError::PasswordHash);
    }
    Ok(raw)
}

/// A user name as used in `/middletier/rss/user/{user}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_USER_LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::User)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute `http(s)` URL without credentials or fragment: what a subscription points to.
///
/// Parsing normalises (lower-case host, default port dropped, fragment removed) so the same
/// feed typed twice is one subscription.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedUrl(url::Url);

impl FeedUrl {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(ParseError::UrlMissing);
        }
        if raw.len() > MAX_URL_LEN {
            return Err(ParseError::UrlTooLong);
        }
        let mut url =
            url::Url::parse(raw).map_err(|error| ParseError::UrlInvalid(raw.to_owned(), error))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ParseError::UrlScheme(url.scheme().to_owned()));
        }
        if url.host().is_none() {
            return Err(ParseError::UrlInvalid(
                raw.to_owned(),
                url::ParseError::EmptyHost,
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError::UrlCredentials);
        }
        url.set_fragment(None);
        Ok(Self(url))
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// A short human label for the feed before its title is known.
    pub fn host_label(&self) -> String {
        self.0.host_str().unwrap_or_default().to_owned()
    }
}

impl fmt::Display for FeedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_inputs_are_checked() {
        assert_eq!(category(Some("  ")), Ok(None), "blank clears");
        assert_eq!(category(Some(" Rust ")), Ok(Some("Rust".to_owned())));
        assert_eq!(category(Some("a\nb")), Err(ParseError::Category));
        assert_eq!(category(Some(&"x".repeat(101))), Err(ParseError::Category));
        assert!(item_id(&"x".repeat(256)).is_ok());
        assert_eq!(item_id(""), Err(ParseError::ItemId));
        assert_eq!(item_id(&"x".repeat(257)), Err(ParseError::ItemId));
        assert!(token_hash(&"ab".repeat(32)).is_ok());
        assert_eq!(token_hash(&"AB".repeat(32)), Err(ParseError::TokenHash));
        assert_eq!(token_hash("abc"), Err(ParseError::TokenHash));
        assert!(time("2025-06-10T04:00:00+02:00").is_ok());
        assert!(matches!(time("yesterday"), Err(ParseError::Time(_))));
        assert!(password_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").is_ok());
        assert_eq!(password_hash(""), Err(ParseError::PasswordHash));
        assert!(icon_hash(&"0f".repeat(32)).is_ok());
        for bad in [
            "",
            "../icons",
            &"0F".repeat(32),
            &"0f".repeat(33),
            &"zz".repeat(32),
        ] {
            assert_eq!(icon_hash(bad), Err(ParseError::IconHash), "{bad:?}");
        }
    }

    #[test]
    fn user_names_are_restricted_to_a_safe_alphabet() {
        assert!(UserId::parse("default").is_ok());
        assert!(UserId::parse("ann.lee@example.org").is_ok());
        for bad in ["", "a b", "../etc", "<script>", &"x".repeat(65)] {
            assert_eq!(UserId::parse(bad), Err(ParseError::User), "{bad:?}");
        }
    }

    #[test]
    fn feed_urls_are_normalised() {
        let url = FeedUrl::parse("  HTTPS://Example.COM:443/feed.xml#top ").expect("valid");
        assert_eq!(url.as_str(), "https://example.com/feed.xml");
    }

    #[test]
    fn feed_urls_reject_what_we_cannot_fetch() {
        assert_eq!(FeedUrl::parse(""), Err(ParseError::UrlMissing));
        assert!(matches!(
            FeedUrl::parse("example.com/feed"),
            Err(ParseError::UrlInvalid(..))
        ));
        assert_eq!(
            FeedUrl::parse("ftp://example.com/f"),
            Err(ParseError::UrlScheme("ftp".into()))
        );
        assert_eq!(
            FeedUrl::parse("javascript:alert(1)"),
            Err(ParseError::UrlScheme("javascript".into()))
        );
        assert_eq!(
            FeedUrl::parse("http://u:p@example.com/"),
            Err(ParseError::UrlCredentials)
        );
        let long = format!("http://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(FeedUrl::parse(&long), Err(ParseError::UrlTooLong));
    }
}
