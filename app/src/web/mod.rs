//! The HTTP service: one router for the JSON API, the original `/picus` endpoints, the
//! HTML pages and the operational endpoints, all on one port.

// In layers, bottom to top, one group each; a module imports only modules of the groups
// above its own, so no import circle can form (tests/layering.rs checks it).

// What every request is given: the form's suggestions, then the state and settings.
mod suggestions;

mod state;

// Helpers: the request's page context and cookies, query parameters, small responses,
// extractors, chart drawing.
mod charts;
mod context;
mod extract;
mod params;
mod respond;

// Views: the layout, the sign-in form, error and refusal pages.
mod views;

// Middleware: request ids, metrics, timeouts; the guard (sign-in, CSRF, rate limit).
mod middleware;
pub mod security;

// What more than one handler shares: the CSV export.
mod export;

// Handlers, each with its own routes, and the API's exact contract.
pub mod api;
mod contract;
mod ops;
mod pages;
mod picus;
mod signin;

pub use state::{AppState, Settings, WriteLimit};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower::ServiceBuilder;
use tower::util::MapResponseLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, RequestId};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use self::middleware::{RecordMetricsLayer, RequestIdLayer, TimeoutLayer};
use crate::error::Error;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Metrics App",
        description = "Record the activities engineers perform for customer projects."
    ),
    tags(
        (name = "activities", description = "Activities and their summaries"),
        (name = "picus", description = "The original endpoints of the serverless app, same shapes"),
    )
)]
struct ApiDoc;

/// The routes the OpenAPI document describes, and the document, built from one list so
/// they cannot disagree.
fn api_routes(mode: crate::auth::AuthMode) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api::routes())
        .merge(picus::routes())
        .split_for_parts();
    security::document(&mut openapi, mode);
    (routes, openapi)
}

/// The OpenAPI document of the JSON API for sign-in `mode`, exact
/// ([`contract::refine`]).
pub fn openapi(mode: crate::auth::AuthMode) -> serde_json::Value {
    exact(api_routes(mode).1)
}

fn exact(generated: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut doc = serde_json::to_value(generated).unwrap_or_default();
    contract::refine(&mut doc);
    doc
}

pub fn app(state: AppState) -> Router {
    // The document describes this server: its security follows the configured mode.
    let (api, openapi) = api_routes(state.settings.auth.mode());
    // Encoded once: the document is the same for every request.
    let openapi = axum::body::Bytes::from(serde_json::to_vec(&exact(openapi)).unwrap_or_default());
    let routes = api
        .route(
            "/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], openapi) }
            }),
        )
        .merge(pages::routes())
        .merge(signin::routes())
        .merge(ops::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let routes = if state.settings.metrics_elsewhere {
        routes
    } else {
        routes.route("/metrics", get(ops::metrics))
    };
    with_middleware(routes, &state).with_state(state)
}

/// Only `/metrics`, for `--metrics-listen`: an address the scraper reaches and the
/// public does not.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(state)
}

/// Every route's middleware.
fn with_middleware(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(state.settings.cors_origins.clone()))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(Duration::from_secs(3600));
    // One stack, outermost first. Request ids come first so the span and the response
    // carry them; trace sees everything; metrics count panics and timeouts as the
    // 500/503 the client got; the timeout covers reading the body and the handler, so a
    // client that stalls mid-upload is cut off too. One `layer` call, not one per
    // middleware: axum boxes each route once per call, and clones every box per request.
    routes.layer(
        ServiceBuilder::new()
            // A client's `x-request-id` is kept (or one is made) and returned, so a
            // request can be followed from the client through the logs.
            .layer(RequestIdLayer {
                make: RequestIds::default(),
            })
            .layer(TraceLayer::new_for_http().make_span_with(request_span))
            .layer(RecordMetricsLayer {
                metrics: state.metrics.clone(),
            })
            .layer(CatchPanicLayer::custom(|_| Error::Panic.into_response()))
            .layer(MapResponseLayer::new(
                with_security_headers as fn(axum::response::Response) -> axum::response::Response,
            ))
            .layer(cors)
            .layer(DefaultBodyLimit::max(state.settings.body_limit))
            .layer(TimeoutLayer {
                limit: state.settings.request_timeout,
            })
            // Innermost: who is asking and may they, CSRF, the write rate limit. Inside
            // the timeout (it reads form bodies) and CORS (preflights never reach it).
            .layer(security::GuardLayer {
                guard: Arc::new(security::Guard::new(
                    state.settings.auth.clone(),
                    state.settings.write_limit,
                    state.settings.body_limit,
                    state.settings.cors_origins.clone(),
                    state.settings.open_to_anyone,
                )),
            }),
    )
}

/// Headers on every response: pages load nothing but this app's own stylesheet (no
/// script at all), nothing may frame them, and no response is type-sniffed.
static SECURITY_HEADERS: [(header::HeaderName, HeaderValue); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    ),
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    ),
];

/// [`SECURITY_HEADERS`] on `response`, where it does not set them itself.
fn with_security_headers(mut response: axum::response::Response) -> axum::response::Response {
    middleware::add_missing(&mut response, &SECURITY_HEADERS);
    response
}

/// Request ids unique across processes without a random draw per request: a random
/// per-process prefix and a counter.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        Self {
            prefix: random[..16].into(),
            next: Arc::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // `{prefix}-{n:08x}`, written without the formatting machinery: this runs on
        // every request.
        let mut id = [0u8; 16 + 1 + 16];
        let prefix = self.prefix.as_bytes();
        id[..prefix.len()].copy_from_slice(prefix);
        id[prefix.len()] = b'-';
        let digits = (16 - (n.leading_zeros() / 4) as usize).max(8);
        let start = prefix.len() + 1;
        for (i, byte) in id[start..start + digits].iter_mut().enumerate() {
            let nibble = (n >> (4 * (digits - 1 - i))) & 0xf;
            *byte = b"0123456789abcdef"[nibble as usize];
        }
        HeaderValue::from_bytes(&id[..start + digits])
            .ok()
            .map(RequestId::new)
    }
}

fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Debug level like tower-http's default: a span per request costs more than the
    // cheapest requests take; `RUST_LOG=metrics_app=debug,tower_http=debug` turns it on.
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

async fn not_found(request: Request) -> Error {
    Error::RouteNotFound(request.uri().path().chars().take(200).collect())
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::store::EmbeddedStore;

    async fn panics() -> &'static str {
        panic!("a bug in a handler")
    }

    #[test]
    fn request_ids_are_the_prefix_and_the_counter_in_hex() {
        let mut ids = RequestIds::default();
        let request = axum::http::Request::new(());
        for n in [0u64, 1, 0xabc, 0xffff_ffff, 0x1_0000_0000, u64::MAX] {
            ids.next.store(n, std::sync::atomic::Ordering::Relaxed);
            let id = ids.make_request_id(&request).expect("an id");
            assert_eq!(
                id.header_value().to_str().expect("ASCII"),
                format!("{}-{n:08x}", ids.prefix)
            );
        }
    }

    #[tokio::test]
    async fn a_panic_is_a_json_500_with_a_request_id_and_counted_as_500() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(dir.path()).expect("open embedded store");
        let state = AppState::new(Arc::new(store), Settings::default());
        let routes = Router::new().route("/panics", get(panics));
        let app = with_middleware(routes, &state).with_state(state.clone());

        let response = app
            .oneshot(
                axum::http::Request::get("/panics")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");

        assert_eq!(response.status(), 500);
        assert!(response.headers().contains_key("x-request-id"));
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["error"]["code"], "internal");
        let metrics = state.metrics.encode().expect("encode");
        assert!(
            metrics.contains(r#"http_requests_total{method="GET",route="/panics",status="500"} 1"#),
            "{metrics}"
        );
    }
}
