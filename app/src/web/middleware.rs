//! The app's own per-request middleware (request ids, metrics, timeout, security
//! headers) as plain tower services.
//!
//! `axum::middleware::from_fn` boxes the rest of the stack into a fresh `Next` and clones
//! the whole app state on every request; these hold only what they use, call the inner
//! service in place (no clone of the rest of the stack per request) and return named
//! futures (no allocation per request), which matters on the cheapest requests.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::error::Error;
use crate::metrics::HttpMetrics;

/// Counts each answered request by method, route template and status, and observes its
/// latency.
#[derive(Clone)]
pub struct RecordMetricsLayer {
    pub metrics: Arc<HttpMetrics>,
}

impl<S> Layer<S> for RecordMetricsLayer {
    type Service = RecordMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordMetrics {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RecordMetrics<S> {
    inner: S,
    metrics: Arc<HttpMetrics>,
}

impl<S> Service<Request> for RecordMetrics<S>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RecordMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        RecordMetricsFuture {
            answer: self.inner.call(request),
            observed: Some(Observed {
                metrics: self.metrics.clone(),
                method,
                route,
                started: Instant::now(),
            }),
        }
    }
}

/// What [`RecordMetricsFuture`] records once the response is there.
struct Observed {
    metrics: Arc<HttpMetrics>,
    method: Method,
    route: Option<MatchedPath>,
    started: Instant,
}

pin_project_lite::pin_project! {
    pub struct RecordMetricsFuture<F> {
        #[pin]
        answer: F,
        observed: Option<Observed>,
    }
}

impl<F, R> Future for RecordMetricsFuture<F>
where
    F: Future<Output = Result<R, Infallible>>,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.answer.poll(cx))?.into_response();
        if let Some(observed) = this.observed.take() {
            observed.metrics.observe(
                observed.method.as_str(),
                observed
                    .route
                    .as_ref()
                    .map_or("unmatched", MatchedPath::as_str),
                response.status().as_u16(),
                observed.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(Ok(response))
    }
}

/// Answers 503 `timeout` when the inner service takes longer than `limit`.
#[derive(Clone)]
pub struct TimeoutLayer {
    pub limit: Duration,
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Timeout {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Clone)]
pub struct Timeout<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<Request> for Timeout<S>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        TimeoutFuture {
            answer: tokio::time::timeout(self.limit, self.inner.call(request)),
            seconds: self.limit.as_secs(),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct TimeoutFuture<F> {
        #[pin]
        answer: tokio::time::Timeout<F>,
        seconds: u64,
    }
}

impl<F, R> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<R, Infallible>>,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(Ok(match ready!(this.answer.poll(cx)) {
            Ok(response) => response?.into_response(),
            Err(_) => Error::Timeout {
                seconds: *this.seconds,
            }
            .into_response(),
        }))
    }
}

/// Adds each of `headers` a response does not set itself: one pass over the response, in
/// place of a layer (and a future) per header.
pub fn add_missing(response: &mut Response, headers: &[(HeaderName, HeaderValue)]) {
    let map = response.headers_mut();
    for (name, value) in headers {
        if !map.contains_key(name) {
            map.insert(name.clone(), value.clone());
        }
    }
}

/// The header a request's id travels in, both ways.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Keeps a client's `x-request-id` (or sets one made by `make`) on the request, so the
/// span and the logs carry it, and returns it on the response unless the response set
/// its own. What tower-http's `SetRequestId` and `PropagateRequestId` do together,
/// without also storing the id in the request's and the response's extensions, which
/// nothing reads: on a read that is two inserts and the response's extension map
/// (three allocations) fewer per request.
#[derive(Clone)]
pub struct RequestIdLayer<M> {
    pub make: M,
}

impl<S, M: Clone> Layer<S> for RequestIdLayer<M> {
    type Service = RequestIds<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIds {
            inner,
            make: self.make.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequestIds<S, M> {
    inner: S,
    make: M,
}

impl<S, M, ReqBody, ResBody> Service<axum::http::Request<ReqBody>> for RequestIds<S, M>
where
    S: Service<axum::http::Request<ReqBody>, Response = axum::http::Response<ResBody>>,
    M: tower_http::request_id::MakeRequestId,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<ReqBody>) -> Self::Future {
        let id = match request.headers().get(&REQUEST_ID) {
            Some(id) => Some(id.clone()),
            None => self.make.make_request_id(&request).map(|id| {
                let id = id.into_header_value();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }),
        };
        RequestIdFuture {
            answer: self.inner.call(request),
            id,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct RequestIdFuture<F> {
        #[pin]
        answer: F,
        id: Option<HeaderValue>,
    }
}

impl<F, B, E> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<axum::http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.answer.poll(cx))?;
        if let Some(id) = this.id.take()
            && !response.headers().contains_key(&REQUEST_ID)
        {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}
