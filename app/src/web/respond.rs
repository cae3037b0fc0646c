//! Small answers shared by the JSON handlers: a response of JSON bytes made elsewhere,
//! and ids that cannot be stored.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::error::{Error, Result};

/// Longest id a stored record can have; longer ones are unknown without asking the store.
const MAX_ID_LEN: usize = 64;

/// A response of JSON bytes made elsewhere. Its header map is made large enough at once
/// for the headers the middleware adds (request id, CORS `vary`, security headers), not
/// grown twice on the way out.
pub fn json_response(json: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(json));
    let mut headers = HeaderMap::with_capacity(12);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *response.headers_mut() = headers;
    response
}

/// An id no stored record can have is unknown without asking the store (404).
pub fn known_id<'a>(kind: &'static str, id: &'a str) -> Result<&'a str> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Error::NotFound {
            kind,
            id: id.chars().take(MAX_ID_LEN).collect(),
        });
    }
    Ok(id)
}
