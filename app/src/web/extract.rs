//! Extractors that turn every bad request into the app's JSON error, naming the problem.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AppState;
use crate::error::Error;

/// A JSON request body. Its `Content-Type: application/json` is checked before, in
/// `security.rs`: a cross-site page can post `text/plain` without a CORS preflight.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = Error;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => Error::BodyTooLarge {
                        limit: state.settings.body_limit,
                    },
                    _ => Error::MalformedJson(rejection.body_text()),
                })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Error::MalformedJson(e.to_string()))
    }
}

/// Query parameters; a query that cannot be read at all is a 400.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for QueryParams<T> {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| QueryParams(params))
            .map_err(|rejection| Error::InvalidParameter {
                name: "query",
                message: rejection.body_text(),
            })
    }
}
