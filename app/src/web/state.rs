//! What every handler and middleware is given: the store, the metrics, the settings of
//! the service and the form's suggestions.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;

use super::suggestions;
use crate::metrics::HttpMetrics;
use crate::store::SharedStore;

/// Writes each client (a signed-in engineer, else an address) may make.
#[derive(Debug, Clone, Copy)]
pub struct WriteLimit {
    /// Sustained writes per second.
    pub per_second: NonZeroU32,
    /// Writes allowed at once after a quiet spell.
    pub burst: NonZeroU32,
}

impl Default for WriteLimit {
    fn default() -> Self {
        Self {
            per_second: NonZeroU32::new(20).expect("not zero"),
            burst: NonZeroU32::new(200).expect("not zero"),
        }
    }
}

/// Limits and policies of the HTTP service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest request body accepted, in bytes (larger: 413).
    pub body_limit: usize,
    /// Longest a request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// Origins allowed to call the API from a browser (CORS). Empty: none.
    pub cors_origins: Vec<HeaderValue>,
    /// Who may read and write (`--auth`).
    pub auth: crate::auth::Auth,
    /// Writes per client (`--write-rate`, `--write-burst`).
    pub write_limit: WriteLimit,
    /// Sign-in is off and the app listens beyond loopback: the pages say anyone may write.
    pub open_to_anyone: bool,
    /// `/metrics` is served on its own address (`--metrics-listen`), not with the pages.
    pub metrics_elsewhere: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            auth: crate::auth::Auth::none(),
            write_limit: WriteLimit::default(),
            open_to_anyone: false,
            metrics_elsewhere: false,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub metrics: Arc<HttpMetrics>,
    pub settings: Arc<Settings>,
    /// Values the form offers for customer, project and engineer.
    pub suggestions: Arc<suggestions::SuggestionCache>,
}

impl AppState {
    pub fn new(store: SharedStore, settings: Settings) -> Self {
        Self {
            store,
            metrics: Arc::new(HttpMetrics::default()),
            settings: Arc::new(settings),
            suggestions: Arc::default(),
        }
    }
}
