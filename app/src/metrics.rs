//! Prometheus metrics of the HTTP service: requests by route and status, and latency.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A label value: a method or route template, shared rather than copied, so counting a
/// request allocates nothing once its series exists.
pub type LabelValue = Arc<str>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: LabelValue,
    /// The route template (`/api/v1/activities/{id}`), never the raw path, so ids do not
    /// explode the number of series.
    pub route: LabelValue,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: LabelValue,
    pub route: LabelValue,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

pub struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// The label values seen so far (methods and route templates: a handful), each
    /// made once.
    values: RwLock<HashMap<Box<str>, LabelValue>>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route",
            duration.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            values: RwLock::default(),
        }
    }
}

impl HttpMetrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = self.value(method);
        let route = self.value(route);
        let labels = RouteLabels { method, route };
        self.duration.get_or_create(&labels).observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method: labels.method,
                route: labels.route,
                status,
            })
            .inc();
    }

    fn value(&self, text: &str) -> LabelValue {
        let known = self
            .values
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(text)
            .cloned();
        known.unwrap_or_else(|| {
            self.values
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(text.into())
                .or_insert_with(|| text.into())
                .clone()
        })
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
