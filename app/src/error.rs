//! The crate's one error type. Each variant's doc names the HTTP status it answers with;
//! clients get `{"error": {"code", "message"}}`, and internals are logged, never leaked.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::activity::FieldErrors;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the body is not JSON, or not the JSON shape the route takes.
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// 400: a query parameter or path segment is wrong; names the parameter.
    #[error("invalid `{name}`: {message}")]
    InvalidParameter { name: &'static str, message: String },
    /// 422: the activity's fields failed validation; names every failing field.
    #[error("invalid activity: {}", .0.summary())]
    Validation(FieldErrors),
    /// 400: a `/picus` item cannot be stored as given.
    #[error("{0}")]
    InvalidItem(String),
    /// 413: the request body is larger than the configured limit.
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// 413: the item would exceed the store's item size limit (DynamoDB: 400 KB).
    #[error("item is {size} bytes once stored; the limit is {limit} bytes")]
    ItemTooLarge { size: usize, limit: usize },
    /// 404: no stored record has this id.
    #[error("no {kind} with id {id:?}")]
    NotFound { kind: &'static str, id: String },
    /// 404: no route matches the path.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// 405: the route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 401: sign-in is on and the request proves no identity (or its token is unknown).
    #[error("sign in first: send `Authorization: Bearer <token>`, or sign in at /sign-in")]
    Unauthorized,
    /// 403: signed in, but not allowed to do this; says why.
    #[error("{0}")]
    Forbidden(String),
    /// 403: a form post without its CSRF token, or from another site.
    #[error("{0}")]
    CsrfRejected(&'static str),
    /// 415: a JSON write whose `Content-Type` is not `application/json`.
    #[error("send the body as JSON with `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// 429: this client wrote too often; `Retry-After` says when to try again.
    #[error("too many writes; retry in {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    /// 503: the request did not finish within the configured timeout.
    #[error("the request took longer than {seconds} seconds")]
    Timeout { seconds: u64 },
    /// 503: the store did not answer (network, throttling, missing table, locked file).
    #[error("the store is unavailable")]
    StoreUnavailable(#[source] BoxError),
    /// 500: the store answered with something we did not expect.
    #[error("the store failed")]
    Store(#[source] BoxError),
    /// 500: a handler panicked; the panic is caught so the process keeps serving.
    #[error("internal error")]
    Panic,
    /// Startup: the configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Startup: the embedded store's file cannot be opened.
    #[error("cannot open the embedded store at {path}")]
    OpenEmbedded {
        path: String,
        #[source]
        source: BoxError,
    },
    /// Startup: the listen address cannot be bound, or the server failed.
    #[error("cannot serve on {addr}")]
    Serve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `validation_failed`, `not_found`.
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    /// What went wrong, for a person.
    #[schema(example = "invalid activity: hours: must be more than 0 and at most 24")]
    pub message: String,
    /// For `validation_failed`: the message for each failing field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, String>>,
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::MalformedJson(_) | Error::InvalidParameter { .. } | Error::InvalidItem(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::BodyTooLarge { .. } | Error::ItemTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Error::NotFound { .. } | Error::RouteNotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::CsrfRejected(_) => StatusCode::FORBIDDEN,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Timeout { .. } | Error::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(_)
            | Error::Panic
            | Error::Config(_)
            | Error::OpenEmbedded { .. }
            | Error::Serve { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::MalformedJson(_) => "malformed_json",
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::Validation(_) => "validation_failed",
            Error::InvalidItem(_) => "invalid_item",
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::ItemTooLarge { .. } => "item_too_large",
            Error::NotFound { .. } | Error::RouteNotFound(_) => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::CsrfRejected(_) => "csrf_failed",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::RateLimited { .. } => "rate_limited",
            Error::Timeout { .. } => "timeout",
            Error::StoreUnavailable(_) => "store_unavailable",
            Error::Store(_)
            | Error::Panic
            | Error::Config(_)
            | Error::OpenEmbedded { .. }
            | Error::Serve { .. } => "internal",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let fields = match self {
            Error::Validation(errors) => Some(errors.0.clone()),
            _ => None,
        };
        let message = match self.status() {
            // Server-side failures are logged in full; the client gets no internals.
            StatusCode::INTERNAL_SERVER_ERROR => "internal error; see the server log".to_owned(),
            _ => self.to_string(),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                fields,
            },
        }
    }
}

/// The error with its whole chain of causes, for logs.
pub fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %report(&self), code = self.code(), "request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Error::Unauthorized = self {
            headers.insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"metrics-app\""),
            );
        }
        if let Error::RateLimited { retry_after } = self {
            headers.insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        response
    }
}
