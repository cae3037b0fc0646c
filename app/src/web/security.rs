//! The guard every request passes before its handler: who is asking ([`Caller`]), whether
//! they may use the route at all, CSRF defences, and the per-client write rate limit.
//! Ownership of one activity is decided in its handler, which has the activity.
//!
//! - JSON writes (`/api/*`, `/picus/*`) need `Content-Type: application/json`, which a
//!   cross-site page cannot send without a CORS preflight (415 otherwise).
//! - Form posts (the pages) need the per-browser CSRF token of the `metrics_csrf` cookie
//!   in their `csrf_token` field (double submit), and must not come from another site
//!   (`Sec-Fetch-Site`, `Origin`).
//! - A plain tower service, like `middleware.rs`, so it holds only what it uses.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

use super::context::{
    CSRF_COOKIE, CSRF_FIELD, PAGE, PageContext, cookie, served_over_tls, set_cookie,
};
use super::state::WriteLimit;
use super::views;
use crate::auth::{Auth, AuthMode, Caller, session};
use crate::error::Error;

/// What kind of route a path is, for the guard's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Health, metrics, the OpenAPI document, the stylesheet: for everyone.
    Public,
    /// `/api/*`: JSON for scripts and browsers.
    Api,
    /// `/picus/*`: the original endpoints.
    Items,
    /// `/sign-in`, `/sign-out`: forms anyone may post (with their CSRF token).
    SignIn,
    /// The HTML pages.
    Page,
}

fn route(path: &str) -> Route {
    match path {
        "/healthz" | "/readyz" | "/metrics" | "/openapi.json" => Route::Public,
        "/sign-in" | "/sign-out" => Route::SignIn,
        _ if path.starts_with("/static/") => Route::Public,
        _ if path.starts_with("/api/") => Route::Api,
        _ if path.starts_with("/picus/") => Route::Items,
        _ => Route::Page,
    }
}

pub struct Guard {
    pub auth: Auth,
    pub limiter: DefaultKeyedRateLimiter<String>,
    pub body_limit: usize,
    /// Origins besides the app's own that may post forms (the CORS allow-list).
    pub origins: Vec<HeaderValue>,
    pub open_to_anyone: bool,
}

impl Guard {
    pub fn new(
        auth: Auth,
        limit: WriteLimit,
        body_limit: usize,
        origins: Vec<HeaderValue>,
        open_to_anyone: bool,
    ) -> Self {
        Self {
            auth,
            limiter: RateLimiter::keyed(
                Quota::per_second(limit.per_second).allow_burst(limit.burst),
            ),
            body_limit,
            origins,
            open_to_anyone,
        }
    }

    fn check_rate(&self, caller: &Caller, peer: Option<SocketAddr>) -> Result<(), Error> {
        let key = match (caller.identity(), peer) {
            (Some(identity), _) => format!("engineer:{}", identity.engineer),
            (None, Some(peer)) => format!("address:{}", peer.ip()),
            (None, None) => "unknown".to_owned(),
        };
        // Forget idle clients now and then, so the table stays small.
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key)
            .map_err(|not_until| Error::RateLimited {
                retry_after: not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1),
            })
    }
}

#[derive(Clone)]
pub struct GuardLayer {
    pub guard: Arc<Guard>,
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.guard.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Arc<Guard>,
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// What the guard answers: the inner service's response (public and JSON routes, checked
/// before the call), a refusal, or a page's checks and response (they may read the form
/// body, so they run in a future of their own).
pub type GuardFuture<F, R> = futures::future::Either<
    futures::future::MapOk<F, fn(R) -> Response>,
    futures::future::Either<futures::future::Ready<Result<Response, Infallible>>, ResponseFuture>,
>;

impl<S> Service<Request> for GuardService<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures::TryFutureExt;
        use futures::future::{Either, ready};
        let respond: fn(S::Response) -> Response = IntoResponse::into_response;
        let kind = route(request.uri().path());
        let request = match kind {
            Route::Public => request,
            Route::Api | Route::Items => match check_json(&self.guard, kind, request) {
                Ok(request) => request,
                Err(error) => return Either::Right(Either::Left(ready(Ok(error.into_response())))),
            },
            Route::Page | Route::SignIn => {
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let guard = self.guard.clone();
                return Either::Right(Either::Right(Box::pin(async move {
                    Ok(guarded_page(guard, inner, kind, request).await)
                })));
            }
        };
        // Checked already: the inner service is called in place, not a clone of it.
        Either::Left(self.inner.call(request).map_ok(respond))
    }
}

fn new_csrf_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| {
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
}

/// Whether a request carries a body (an empty one cannot be a cross-site write).
fn has_body(body: &Body) -> bool {
    axum::body::HttpBody::size_hint(body).exact() != Some(0)
}

/// A form post must come from this app's own pages (or an allowed origin).
fn same_site_post(guard: &Guard, parts: &Parts) -> Result<(), Error> {
    let headers = &parts.headers;
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err(Error::CsrfRejected(
            "form posts from another site are refused",
        ));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    if guard.origins.iter().any(|allowed| allowed == origin) {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host);
    match (origin_host, host) {
        (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(Error::CsrfRejected(
            "form posts from another origin are refused",
        )),
    }
}

/// The request again, with its form body checked for the CSRF token.
async fn check_form_token(
    guard: &Guard,
    parts: Parts,
    body: Body,
    expected: Option<&str>,
) -> Result<Request, Error> {
    let bytes = axum::body::to_bytes(body, guard.body_limit)
        .await
        .map_err(|_| Error::BodyTooLarge {
            limit: guard.body_limit,
        })?;
    let sent = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(name, _)| name == CSRF_FIELD))
        .map(|(_, value)| value);
    match (sent, expected) {
        (Some(sent), Some(expected)) if bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(Error::CsrfRejected(
            "the form's CSRF token is missing or stale: reload the page and submit again",
        )),
    }
}

/// The guard of a page or the sign-in form: who is asking, CSRF (a form post's token,
/// read from its body), the write limit, and the page context its handler renders with.
async fn guarded_page<S>(guard: Arc<Guard>, mut inner: S, kind: Route, request: Request) -> Response
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    let (parts, body) = request.into_parts();
    let (peer, caller) = identify(&guard, &parts);
    let csrf_cookie = cookie(&parts.headers, CSRF_COOKIE).map(str::to_owned);
    let secure = served_over_tls(&parts.headers, &parts.uri);
    let context = PageContext {
        caller: caller.clone(),
        mode: guard.auth.mode(),
        csrf: csrf_cookie.clone().unwrap_or_else(new_csrf_token),
        open_to_anyone: guard.open_to_anyone,
    };
    let writes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let checked = async {
        if !writes {
            if kind != Route::SignIn {
                caller.may_read()?;
            }
            return Ok(Request::from_parts(parts, body));
        }
        match kind {
            Route::Page | Route::SignIn => {
                same_site_post(&guard, &parts)?;
                if kind == Route::Page {
                    caller.may_read()?;
                }
                guard.check_rate(&caller, peer)?;
                let expected = csrf_cookie.as_deref();
                check_form_token(&guard, parts, body, expected).await
            }
            Route::Api | Route::Items | Route::Public => Ok(Request::from_parts(parts, body)),
        }
    }
    .await;
    let mut response = match checked {
        Ok(mut request) => {
            request.extensions_mut().insert(caller);
            PAGE.scope(context.clone(), call(&mut inner, request)).await
        }
        Err(error) => match kind {
            Route::Api | Route::Items => error.into_response(),
            // Rendered with the context too: its sign-in form needs the CSRF token.
            Route::Page | Route::SignIn | Route::Public => {
                PAGE.sync_scope(context.clone(), || views::refused(&context, &error))
            }
        },
    };
    if csrf_cookie.is_none() && matches!(kind, Route::Page | Route::SignIn) {
        // A day: long enough for a form left open, and renewed on every page view.
        let cookie = set_cookie(CSRF_COOKIE, context.csrf, 24 * 60 * 60, secure);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Who is asking (token, session cookie or trusted proxy header), and from where.
fn identify(guard: &Guard, parts: &axum::http::request::Parts) -> (Option<SocketAddr>, Caller) {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let now = chrono::Utc::now().timestamp().max(0).unsigned_abs();
    let caller = guard.auth.identify(
        &parts.headers,
        peer.map(|p| p.ip()),
        cookie(&parts.headers, session::COOKIE),
        now,
    );
    (peer, caller)
}

/// The checks of the JSON routes (`/api/*`, `/picus/*`): the request again, with its
/// caller, or the refusal. They need nothing of the body but its media type, so they run
/// before the inner service is called, without what only pages need (the CSRF token and
/// its cookie, the page context), which would cost a random draw per API call.
fn check_json(guard: &Guard, kind: Route, request: Request) -> Result<Request, Error> {
    let (parts, body) = request.into_parts();
    let (peer, caller) = identify(guard, &parts);
    let writes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if writes && has_body(&body) && !is_json(&parts.headers) {
        return Err(Error::UnsupportedMediaType);
    }
    caller.may_read()?;
    if writes {
        if kind == Route::Items {
            caller.may_write_items()?;
        }
        guard.check_rate(&caller, peer)?;
    }
    let mut request = Request::from_parts(parts, body);
    request.extensions_mut().insert(caller);
    Ok(request)
}

async fn call<S>(inner: &mut S, request: Request) -> Response
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    match inner.call(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// The signed-in caller, as the guard found it; anonymous where no guard ran.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous))
    }
}

/// The security schemes, and which operations need them, in the OpenAPI document.
pub fn document(openapi: &mut utoipa::openapi::OpenApi, mode: AuthMode) {
    use utoipa::openapi::security::{
        ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let signed_in = match mode {
        AuthMode::None => false,
        AuthMode::Token | AuthMode::Proxy => true,
    };
    let components = openapi.components.get_or_insert_with(Default::default);
    if signed_in {
        components.add_security_scheme(
        "token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token from the token file (`--auth token`, or `proxy` for scripts).",
                ))
                .build(),
        ),
    );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                session::COOKIE,
                "The session cookie of the sign-in form at /sign-in (`--auth token`).",
            ))),
        );
        components.add_security_scheme(
        "proxy",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Auth-Request-Email",
            "Set by a trusted authenticating proxy (`--auth proxy`; the header is `--proxy-header`).",
        ))),
    );
    }
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    let anyone = vec![
        SecurityRequirement::new("token", Vec::<String>::new()),
        SecurityRequirement::new("session", Vec::<String>::new()),
        SecurityRequirement::new("proxy", Vec::<String>::new()),
    ];
    for (path, item) in openapi.paths.paths.iter_mut() {
        let items = path.starts_with("/picus/");
        for (method, operation) in [
            (Method::GET, item.get.as_mut()),
            (Method::POST, item.post.as_mut()),
            (Method::PUT, item.put.as_mut()),
            (Method::DELETE, item.delete.as_mut()),
        ] {
            let Some(operation) = operation else { continue };
            let writes = method != Method::GET;
            let responses = &mut operation.responses.responses;
            if signed_in {
                operation.security = Some(if items && writes {
                    vec![SecurityRequirement::new("token", Vec::<String>::new())]
                } else {
                    anyone.clone()
                });
                responses.insert(
                    "401".into(),
                    error("Sign-in is on and the request proves no identity"),
                );
            }
            if writes && signed_in {
                responses.insert(
                    "403".into(),
                    error("Signed in, but not allowed: another engineer's activity needs an admin token; `/picus` writes need a token"),
                );
            }
            if writes {
                responses.insert(
                    "429".into(),
                    error("Too many writes from this client; see `Retry-After`"),
                );
            }
            if method == Method::POST || method == Method::PUT {
                responses.insert(
                    "415".into(),
                    error("The body is not sent as `application/json`"),
                );
            }
        }
    }
    let info = &mut openapi.info;
    info.description = Some(format!(
        "{} Sign-in depends on the server's `--auth`: with `none` no operation needs \
         credentials and anyone may write; with `token` or `proxy` every operation needs \
         one of the security schemes below.",
        info.description.as_deref().unwrap_or_default()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified_by_path() {
        assert_eq!(route("/healthz"), Route::Public);
        assert_eq!(route("/static/style.css"), Route::Public);
        assert_eq!(route("/api/v1/activities"), Route::Api);
        assert_eq!(route("/picus/put"), Route::Items);
        assert_eq!(route("/sign-in"), Route::SignIn);
        assert_eq!(route("/"), Route::Page);
        assert_eq!(route("/activities"), Route::Page);
    }

    #[test]
    fn only_json_content_types_are_json() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().expect("value"));
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
