//! The app's own per-request middleware (metrics, timeout) as plain tower services.
//!
//! `axum::middleware::from_fn` boxes the rest of the stack into a fresh `Next` and clones
//! the whole app state on every request; these hold only what they use and call the inner
//! service directly, which matters on the cheapest requests.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::error::Error;
use crate::metrics::HttpMetrics;

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Calls a clone of `inner` and leaves the clone that was polled ready in its place, as
/// tower requires of services that are cloned per call.
fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

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
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let answer = take_ready(&mut self.inner).call(request);
        Box::pin(async move {
            let response = answer.await?.into_response();
            metrics.observe(
                method.as_str(),
                route.as_ref().map_or("unmatched", MatchedPath::as_str),
                response.status().as_u16(),
                started.elapsed().as_secs_f64(),
            );
            Ok(response)
        })
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
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let limit = self.limit;
        let answer = take_ready(&mut self.inner).call(request);
        Box::pin(async move {
            Ok(match tokio::time::timeout(limit, answer).await {
                Ok(response) => response?.into_response(),
                Err(_) => Error::Timeout {
                    seconds: limit.as_secs(),
                }
                .into_response(),
            })
        })
    }
}
