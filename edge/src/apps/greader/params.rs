//! A request's parameters as Google Reader apps send them: in the query string, in a form
//! body, or both, with keys repeated (`i=…&i=…`, `s=…&s=…`, `a=…&a=…`), which no derive of
//! `serde` reads. Bounded: the body by the router's limit, here the number of pairs and each
//! value's length.

use axum::http::Uri;
use middletier_api::MAX_APP_NUMBERS;

use super::error::ApiError;

/// Most pairs one request may carry: an `edit-tag` of the most ids, and room for the rest.
pub(super) const MAX_PAIRS: usize = MAX_APP_NUMBERS + 100;

/// Longest value, in bytes (a feed URL is at most 2,048; a label or title far less).
pub(super) const MAX_VALUE_BYTES: usize = 4 * 1024;

/// The pairs of the query string, then those of the body.
#[derive(Default)]
pub(super) struct Params {
    pairs: Vec<(String, String)>,
}

/// Keys only: values include ClientLogin's `Passwd`.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|(key, _)| key))
            .finish()
    }
}

impl Params {
    /// Reads the query string and a form body (an empty body adds nothing).
    pub(super) fn read(uri: &Uri, body: &[u8]) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        let query = uri.query().unwrap_or("").as_bytes();
        for source in [query, body] {
            for (key, value) in url::form_urlencoded::parse(source) {
                if pairs.len() >= MAX_PAIRS {
                    return Err(ApiError::BadRequest(format!(
                        "too many parameters (at most {MAX_PAIRS})"
                    )));
                }
                if value.len() > MAX_VALUE_BYTES || key.len() > 64 {
                    return Err(ApiError::BadRequest(format!(
                        "a parameter is too long (at most {MAX_VALUE_BYTES} bytes)"
                    )));
                }
                pairs.push((key.into_owned(), value.into_owned()));
            }
        }
        Ok(Self { pairs })
    }

    /// The first value of `key` (trimmed), if any.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
    }

    /// Every value of `key`, in order (trimmed).
    pub(super) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_come_from_query_and_body_in_order() {
        let uri: Uri = "/x?s=feed%2Fa&output=json".parse().expect("uri");
        let params = Params::read(
            &uri,
            b"i=1&i=tag%3Agoogle.com%2C2005%3Areader%2Fitem%2F2&s=b",
        )
        .expect("params");
        assert_eq!(params.get("output"), Some("json"));
        assert_eq!(params.all("s").collect::<Vec<_>>(), ["feed/a", "b"]);
        assert_eq!(
            params.all("i").collect::<Vec<_>>(),
            ["1", "tag:google.com,2005:reader/item/2"]
        );
        assert_eq!(params.get("missing"), None);
        assert_eq!(format!("{params:?}"), r#"["s", "output", "i", "i", "s"]"#);
    }

    #[test]
    fn too_many_or_too_long_parameters_are_refused() {
        let uri: Uri = "/x".parse().expect("uri");
        let many = "i=1&".repeat(MAX_PAIRS + 1);
        assert!(Params::read(&uri, many.as_bytes()).is_err());
        let long = format!("s={}", "a".repeat(MAX_VALUE_BYTES + 1));
        assert!(Params::read(&uri, long.as_bytes()).is_err());
    }
}
