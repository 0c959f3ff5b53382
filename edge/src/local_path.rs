//! Where the edge may send a browser back to: [`LocalPath`], a path on this site.
//!
//! Forms and the sign-in pages carry the page to return to (`back` in the reader's forms,
//! `next` around signing in) in fields that a visitor, or a link on another site, controls, and
//! the edge answers with a redirect there. A value a browser reads as another origin would make
//! the edge an open redirect (a phishing link that starts on this site), and one with a line
//! break would split the response's headers. So every such value is parsed once into a
//! `LocalPath`, with one set of rules, and the redirects built from user input take one.

use std::fmt;

/// A path on this site (with its query), safe to put in a `Location` header or a hidden field.
///
/// What parses: a `/` followed by anything but a second `/` or a `\`, made of visible ASCII
/// only, without any `\`, at most [`LocalPath::MAX_LEN`] bytes.
/// - `//host` is another site to a browser, and so is `/\host`: browsers read `\` as `/` in
///   web addresses, so no backslash is accepted anywhere.
/// - Browsers drop tabs and line breaks from an address before reading it (`/<tab>/host` is
///   `//host`), and a line break in a header ends it; spaces and other controls have no
///   business in a path either. A `Location` can't carry anything beyond ASCII: pages encode
///   their addresses, so a raw non-ASCII character means the value was made up.
/// - Percent-encoded bytes stay as they are: `/%2F%2Fhost` is a path on this site to every
///   browser (they resolve an address before decoding its path), and so are dot segments
///   (`/../x` is `/x` here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPath(String);

impl LocalPath {
    /// Longer than any address the reader builds for a view (a feed's address, encoded, and a
    /// page cursor), short enough that a redirect's headers stay small.
    pub const MAX_LEN: usize = 4096;

    /// `raw` if it is a path on this site, else `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let bytes = raw.as_bytes();
        let local = bytes.first() == Some(&b'/')
            && !matches!(bytes.get(1), Some(b'/' | b'\\'))
            && raw.len() <= Self::MAX_LEN
            && bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\');
        local.then(|| Self(raw.to_owned()))
    }

    /// The home page, `/`: where a missing or refused return address leads.
    pub fn home() -> Self {
        Self("/".to_owned())
    }

    pub fn is_home(&self) -> bool {
        self.0 == "/"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Default for LocalPath {
    fn default() -> Self {
        Self::home()
    }
}

impl fmt::Display for LocalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for LocalPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every return address a browser or a script may send, and whether it stays on this site.
    #[test]
    fn only_paths_on_this_site_are_accepted() {
        let longest = format!("/{}", "a".repeat(LocalPath::MAX_LEN - 1));
        let too_long = format!("/{}", "a".repeat(LocalPath::MAX_LEN));
        let table: &[(&str, bool, &str)] = &[
            // What the pages themselves send.
            ("/", true, "the home page"),
            ("/?feed=x&filter=all", true, "a view of the reader"),
            (
                "/?feed=https%3A%2F%2Fa.example%2Ff&before=c+1",
                true,
                "an encoded feed address",
            ),
            ("/subscriptions", true, "another page"),
            (
                "/%2F%2Fevil.example",
                true,
                "encoded slashes stay a path here",
            ),
            (
                "/%5Cevil.example",
                true,
                "an encoded backslash stays a path here",
            ),
            ("/..", true, "dot segments resolve within this site"),
            (
                "/../subscriptions",
                true,
                "dot segments resolve within this site",
            ),
            (&longest, true, "the longest accepted"),
            // Other sites.
            ("https://evil.example/", false, "an absolute address"),
            (
                "HTTP://evil.example/",
                false,
                "an absolute address, upper case",
            ),
            ("//evil.example/", false, "scheme-relative"),
            ("///evil.example/", false, "scheme-relative, three slashes"),
            ("/\\evil.example", false, "a backslash read as a slash"),
            ("\\\\evil.example", false, "backslashes only"),
            ("/\\/evil.example", false, "slash, backslash, slash"),
            ("/a\\b", false, "a backslash anywhere"),
            (
                "%2F%2Fevil.example",
                false,
                "encoded slashes without a leading one",
            ),
            ("evil.example", false, "a relative address"),
            ("javascript:alert(1)", false, "a script"),
            (
                "data:text/html,<script>alert(1)</script>",
                false,
                "a data address",
            ),
            // Characters a browser drops or a header can't hold.
            ("/\t/evil.example", false, "a tab, dropped by browsers"),
            (
                "/\n/evil.example",
                false,
                "a line feed, dropped by browsers",
            ),
            ("/\r\nSet-Cookie: a=b", false, "a header injection"),
            ("/\0", false, "a NUL"),
            ("/\u{7f}", false, "a DEL"),
            ("/a b", false, "a space"),
            ("/caf\u{e9}", false, "non-ASCII"),
            ("/\u{ff0f}evil.example", false, "a fullwidth solidus"),
            // Nothing, or nearly.
            ("", false, "empty"),
            (" /", false, "whitespace before the path"),
            (
                " //evil.example",
                false,
                "whitespace before a scheme-relative address",
            ),
            ("\t/", false, "a tab before the path"),
            (&too_long, false, "longer than MAX_LEN"),
        ];
        for (raw, accepted, why) in table {
            let parsed = LocalPath::parse(raw);
            assert_eq!(parsed.is_some(), *accepted, "{why}: {raw:?}");
            if let Some(path) = parsed {
                assert_eq!(path.as_str(), *raw, "{why}: kept as given");
            }
        }
    }

    #[test]
    fn the_default_is_the_home_page() {
        assert_eq!(LocalPath::default(), LocalPath::home());
        assert!(LocalPath::home().is_home());
        assert_eq!(LocalPath::home().to_string(), "/");
    }
}
