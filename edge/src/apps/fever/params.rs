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

#[derive(Debug, Default)]
pub(super) struct Params {
    pairs: Vec<(String, String)>,
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
