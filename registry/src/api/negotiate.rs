//! Answering in the format asked for: JSON when `Accept` contains `json`, Eureka's XML
//! otherwise, exactly Eureka's rule; reads of several applications also carry the registry
//! version they reflect (see [`registry_client::INDEX_HEADER`]).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use registry_client::INDEX_HEADER;
use registry_client::model::{Applications, ApplicationsDocument, InstanceDocument, InstanceInfo};
use serde::Serialize;

use crate::xml;

/// Eureka's rule: JSON when `Accept` contains "json", XML otherwise (no header included).
pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("json"))
}

/// `document` as JSON, or as the XML `as_xml` writes, by Eureka's rule.
pub(super) fn negotiate<T: Serialize>(
    headers: &HeaderMap,
    document: &T,
    as_xml: impl FnOnce() -> String,
) -> Response {
    if wants_json(headers) {
        Json(document).into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            )],
            as_xml(),
        )
            .into_response()
    }
}

/// A read of several applications, with the version it reflects in `X-Registry-Index`.
pub(super) fn applications_response(headers: &HeaderMap, applications: Applications) -> Response {
    let index = applications.versions_delta.clone();
    let document = ApplicationsDocument { applications };
    let mut response = negotiate(headers, &document, || {
        xml::applications(&document.applications)
    });
    if let Ok(value) = HeaderValue::from_str(&index) {
        response.headers_mut().insert(INDEX_HEADER, value);
    }
    response
}

/// One instance, in the format asked for.
pub(super) fn instance_response(headers: &HeaderMap, instance: InstanceInfo) -> Response {
    let document = InstanceDocument { instance };
    negotiate(headers, &document, || xml::instance(&document.instance))
}
