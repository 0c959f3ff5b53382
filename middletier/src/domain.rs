//! Newtypes that parse user input once, at the edge of the middle tier, so the rest of the
//! code can rely on it being valid.

use std::fmt;

/// Longest feed URL we accept; real ones are far shorter, and this bounds storage per row.
const MAX_URL_LEN: usize = 2048;
const MAX_USER_LEN: usize = 64;

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
