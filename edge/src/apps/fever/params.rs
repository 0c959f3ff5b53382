//! A Fever request's parameters: the query's and the form's (a field in both: the form's
//! wins), as PHP's `$_REQUEST` gives them to Fever and FreshRSS. Forms come URL-encoded (most
//! apps) or as `multipart/form-data` (some); either is read whole, within bounds, before
//! anything else happens.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use axum::http::request::Parts;

use super::FeverError;

/// Largest form a client may post: `with_ids` of 50 numbers and a key take about 1 KiB.
pub(super) const MAX_FORM_BYTES: usize = 16 * 1024;

/// Most parameters read from the query and the form together.
const MAX_PARAMS: usize = 64;

/// The parameters by name. `Debug` shows the names only: `api_key` is as good as a password.
#[derive(Default)]
pub(super) struct Params {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Params {
    pub(super) async fn read(parts: &Parts, body: Body) -> Result<Self, FeverError> {
        let form = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| FeverError::TooLarge)?;
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let kind = content_type.trim_start().to_ascii_lowercase();
        let mut params = Params::default();
        // The form first, so its value is found first.
        if kind.starts_with("multipart/form-data") {
            params.read_multipart(content_type, form).await?;
        } else if form.is_empty() || kind.starts_with("application/x-www-form-urlencoded") {
            params.read_urlencoded(&form)?;
        } else {
            return Err(FeverError::BadRequest(
                "send the parameters as a form (application/x-www-form-urlencoded or multipart/form-data)"
                    .to_owned(),
            ));
        }
        params.read_urlencoded(parts.uri.query().unwrap_or_default().as_bytes())?;
        Ok(params)
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn push(&mut self, name: String, value: String) -> Result<(), FeverError> {
        if self.pairs.len() == MAX_PARAMS {
            return Err(FeverError::BadRequest(format!(
                "at most {MAX_PARAMS} parameters"
            )));
        }
        self.pairs.push((name, value));
        Ok(())
    }

    fn read_urlencoded(&mut self, text: &[u8]) -> Result<(), FeverError> {
        for (name, value) in url::form_urlencoded::parse(text) {
            self.push(name.into_owned(), value.into_owned())?;
        }
        Ok(())
    }

    /// The text fields of a multipart form (already within [`MAX_FORM_BYTES`]).
    async fn read_multipart(&mut self, content_type: &str, form: Bytes) -> Result<(), FeverError> {
        let malformed = |_| FeverError::BadRequest("the multipart form is malformed".to_owned());
        let request = Request::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(form))
            .map_err(|_| FeverError::BadRequest("the content type is malformed".to_owned()))?;
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|_| FeverError::BadRequest("the multipart form is malformed".to_owned()))?;
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or_default().to_owned();
            let value = field.text().await.map_err(malformed)?;
            self.push(name, value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(uri: &str, content_type: Option<&str>, body: &str) -> Result<Params, FeverError> {
        let mut request = Request::builder().method("POST").uri(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let (parts, body) = request
            .body(Body::from(body.to_owned()))
            .expect("a request")
            .into_parts();
        Params::read(&parts, body).await
    }

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    #[tokio::test]
    async fn the_form_wins_over_the_query_and_flags_have_no_value() {
        let params = read(
            "/fever/?api&items&id=1&api_key=query",
            FORM,
            "api_key=form&as=read",
        )
        .await
        .expect("read");
        assert_eq!(params.get("api_key"), Some("form"));
        assert_eq!(params.get("id"), Some("1"));
        assert_eq!(params.get("as"), Some("read"));
        assert!(params.has("items") && params.has("api"));
        assert!(!params.has("feeds"));
        assert!(
            !format!("{params:?}").contains("form"),
            "values are never shown"
        );
        // No body at all (a GET, or a POST with everything in the query) needs no type.
        let params = read("/fever/?api&api_key=k", None, "").await.expect("read");
        assert_eq!(params.get("api_key"), Some("k"));
    }

    #[tokio::test]
    async fn multipart_forms_are_read_and_broken_ones_refused() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nk\r\n--b--\r\n";
        let params = read("/fever/?api", Some("multipart/form-data; boundary=b"), body)
            .await
            .expect("read");
        assert_eq!(params.get("api_key"), Some("k"));
        let broken = read(
            "/fever/?api",
            Some("multipart/form-data; boundary=b"),
            "--b\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nk",
        )
        .await;
        assert!(
            matches!(broken, Err(FeverError::BadRequest(_))),
            "{broken:?}"
        );
    }

    #[tokio::test]
    async fn forms_are_bounded_in_size_count_and_kind() {
        let huge = format!("api_key={}", "k".repeat(MAX_FORM_BYTES));
        assert!(matches!(
            read("/fever/?api", FORM, &huge).await,
            Err(FeverError::TooLarge)
        ));
        let many: String = (0..MAX_PARAMS).map(|n| format!("f{n}=1&")).collect();
        assert!(matches!(
            read("/fever/?api", FORM, &many).await,
            Err(FeverError::BadRequest(_))
        ));
        assert!(
            read("/fever/", FORM, &many).await.is_ok(),
            "exactly the most"
        );
        assert!(matches!(
            read("/fever/?api", Some("application/json"), "{}").await,
            Err(FeverError::BadRequest(_))
        ));
    }
}
