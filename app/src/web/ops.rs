//! Endpoints for the platform: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use crate::error::{Error, report};

/// Alive: the process answers. Never touches the store, so a store outage does not get
/// healthy pods restarted.
/// Liveness and readiness (`/metrics` is routed apart: it may have an address of its own).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready: the store answers (DynamoDB: DescribeTable; embedded: a read transaction).
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.check().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(error) => {
            tracing::warn!(error = %report(&error), "not ready: the store does not answer");
            let unavailable = Error::StoreUnavailable(Box::new(error));
            (StatusCode::SERVICE_UNAVAILABLE, Json(unavailable.body())).into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => (
            [(
                CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => Error::Store(Box::new(error)).into_response(),
    }
}
