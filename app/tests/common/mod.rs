//! Shared by the integration tests: stores to test against, and an HTTP client for the
//! router that needs no socket.
#![allow(dead_code)]

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use metrics_app::store::{DynamoDbStore, EmbeddedStore, SharedStore};
use metrics_app::{AppState, Settings, app};
use serde_json::Value;
use tower::ServiceExt;

/// An embedded store in a fresh directory (kept alive by the returned guard).
pub fn embedded() -> (SharedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open embedded store");
    (Arc::new(store), dir)
}

/// The moto endpoint, or `None` after saying loudly that the test is skipped. Fails
/// instead when `METRICSAPP_REQUIRE_AWS=1` (as `./scripts/test` sets it).
pub fn moto_endpoint(test: &str) -> Option<String> {
    metricsapp_testing::endpoint("MOTO_ENDPOINT", test)
}

/// The dynalite endpoint (DynamoDB with CREATING/UPDATING states), or `None` after
/// saying loudly that the test is skipped; fails under `METRICSAPP_REQUIRE_AWS=1`.
pub fn dynalite_endpoint(test: &str) -> Option<String> {
    metricsapp_testing::endpoint("DYNALITE_ENDPOINT", test)
}

/// A DynamoDB client for `endpoint` with test credentials, through the real SDK.
pub async fn dynamodb_client(endpoint: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    Client::new(&config)
}

/// A DynamoDB store on a new, uniquely named table in moto, created exactly as the
/// operator creates it: from `metrics-app-table`'s layout.
pub async fn dynamodb(test: &str) -> Option<SharedStore> {
    let (client, table) = dynamodb_table(test).await?;
    Some(Arc::new(DynamoDbStore::new(client, table)))
}

/// A client and a new, uniquely named table in moto, laid out as the operator does it.
pub async fn dynamodb_table(test: &str) -> Option<(Client, String)> {
    let endpoint = moto_endpoint(test)?;
    let client = dynamodb_client(&endpoint).await;
    let table = metricsapp_testing::unique("metrics-app-test");
    metricsapp_testing::app_table(&client, &table, false).await;
    Some((client, table))
}

pub fn router(store: SharedStore) -> Router {
    app(AppState::new(store, Settings::default()))
}

/// The router with default settings on a fresh embedded store (kept alive by the
/// returned guard).
pub fn embedded_router() -> (Router, tempfile::TempDir) {
    let (store, dir) = embedded();
    (router(store), dir)
}

/// The app served on a local port until `stop` is sent, then draining its requests for
/// at most the `drain` it was started with.
pub struct Served {
    pub addr: std::net::SocketAddr,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<metrics_app::Result<()>>,
}

impl Served {
    pub async fn start(app: Router, drain: std::time::Duration) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(metrics_app::server::serve(
            listener,
            app,
            async move {
                let _ = stopped.await;
            },
            drain,
        ));
        Served { addr, stop, task }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// The `error.code` of a JSON error reply, checking its shape on the way.
    pub fn error_code(&self) -> String {
        let body = self.json();
        let error = body["error"]
            .as_object()
            .unwrap_or_else(|| panic!("no error object: {body}"));
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        error["code"].as_str().expect("code").to_owned()
    }
}

pub async fn send(app: &Router, method: Method, uri: &str, body: Option<&str>) -> Reply {
    send_with_token(app, method, uri, None, body).await
}

/// A JSON request with an optional Bearer token.
pub async fn send_with_token(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .expect("request");
    reply(app, request).await
}

pub async fn reply(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Method::GET, uri, None).await
}

pub async fn post(app: &Router, uri: &str, body: &str) -> Reply {
    send(app, Method::POST, uri, Some(body)).await
}

/// The CSRF cookie a page sets and the token its forms carry, read from a page view.
pub async fn csrf(app: &Router) -> (String, String) {
    let page = get(app, "/sign-in").await;
    let cookie = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("metrics_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("a page sets the CSRF cookie")
        .to_owned();
    let token = cookie.trim_start_matches("metrics_csrf=").to_owned();
    assert!(
        page.text.contains(&format!("value=\"{token}\"")) || !page.text.contains("csrf_token"),
        "forms carry the cookie's token"
    );
    (cookie, token)
}

/// Posts `form` to `uri` with only the headers given (besides its content type): a
/// form as a client may send it, CSRF token or not.
pub async fn post_form(
    app: &Router,
    uri: &str,
    headers: &[(HeaderName, &str)],
    form: impl Into<String>,
) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let request = request.body(Body::from(form.into())).expect("request");
    reply(app, request).await
}

/// Posts a form the way a browser on the app's own page does: with its CSRF cookie and
/// token, and any other cookies given.
pub async fn submit_form(app: &Router, uri: &str, form: &str, cookies: &[&str]) -> Reply {
    let (cookie, token) = csrf(app).await;
    let mut all = vec![cookie.as_str()];
    all.extend_from_slice(cookies);
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, all.join("; "))
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(format!("csrf_token={token}&{form}")))
        .expect("request");
    reply(app, request).await
}
