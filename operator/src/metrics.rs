//! Prometheus metrics of the controller, served on `/metrics` (see `server`).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::aws_calls::AwsCallCounter;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabels {
    pub namespace: String,
    pub name: String,
}

/// The controller's metrics, registered in one registry.
pub struct Metrics {
    pub registry: Registry,
    reconciles: Counter,
    failures: Family<FailureLabels, Counter>,
    duration: Histogram,
    ready: Family<AppLabels, Gauge>,
    /// AWS calls by service, operation and outcome, counted by [`AwsCallCounter`].
    pub aws_calls: AwsCallCounter,
    resident_memory: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconciles = Counter::default();
        // prometheus-client appends `_total` to counter names.
        registry.register(
            "metricsapp_reconciles",
            "Reconcile passes started",
            reconciles.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "metricsapp_reconcile_failures",
            "Reconcile passes that failed, by reason",
            failures.clone(),
        );
        // 5 ms .. ~20 s: a no-op pass is milliseconds, a pass creating a table seconds.
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 13));
        registry.register(
            "metricsapp_reconcile_duration_seconds",
            "Duration of reconcile passes",
            duration.clone(),
        );
        let ready = Family::<AppLabels, Gauge>::default();
        registry.register(
            "metricsapp_ready",
            "1 when the MetricsApp's Ready condition is True, else 0",
            ready.clone(),
        );
        let aws_calls = AwsCallCounter::default();
        registry.register(
            "metricsapp_aws_calls",
            "AWS calls made, by service, operation and outcome",
            aws_calls.calls.clone(),
        );
        registry.register(
            "metricsapp_aws_calls_failed",
            "Failed attempts of AWS calls (each retry counts), by service, operation and kind: throttled, server, timeout, other",
            aws_calls.failures.clone(),
        );
        let resident_memory = Gauge::default();
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the operator process (read at each scrape)",
            resident_memory.clone(),
        );
        Metrics {
            registry,
            reconciles,
            failures,
            duration,
            ready,
            aws_calls,
            resident_memory,
        }
    }
}

impl Metrics {
    /// Counts a pass; the returned guard records its duration when dropped.
    pub fn reconcile_started(&self) -> ReconcileTimer<'_> {
        self.reconciles.inc();
        ReconcileTimer {
            histogram: &self.duration,
            started: std::time::Instant::now(),
        }
    }

    pub fn reconcile_failed(&self, reason: &str) {
        self.failures
            .get_or_create(&FailureLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn set_ready(&self, namespace: &str, name: &str, ready: bool) {
        self.ready
            .get_or_create(&app_labels(namespace, name))
            .set(i64::from(ready));
    }

    /// Drops the series of a deleted MetricsApp.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.ready.remove(&app_labels(namespace, name));
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        if let Some(bytes) = resident_memory_bytes() {
            self.resident_memory
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// VmRSS of this process, from `/proc/self/status` (Linux; `None` elsewhere).
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn app_labels(namespace: &str, name: &str) -> AppLabels {
    AppLabels {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// Records the duration of one reconcile pass when dropped.
pub struct ReconcileTimer<'a> {
    histogram: &'a Histogram,
    started: std::time::Instant,
}

impl ReconcileTimer<'_> {
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_the_agreed_metric_names() {
        let metrics = Metrics::default();
        drop(metrics.reconcile_started());
        metrics.reconcile_failed("TableConflict");
        metrics.set_ready("team", "metrics", true);
        let text = metrics.encode().unwrap();
        assert!(text.contains("metricsapp_reconciles_total 1"), "{text}");
        assert!(
            text.contains(r#"metricsapp_reconcile_failures_total{reason="TableConflict"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("metricsapp_reconcile_duration_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"metricsapp_ready{namespace="team",name="metrics"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn failed_aws_attempts_are_counted_by_kind() {
        use crate::aws_calls::{AwsFailureLabels, FailureKind};
        let metrics = Metrics::default();
        metrics
            .aws_calls
            .failures
            .get_or_create(&AwsFailureLabels {
                service: "DynamoDB".into(),
                operation: "DescribeTimeToLive".into(),
                kind: FailureKind::Throttled,
            })
            .inc();
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"metricsapp_aws_calls_failed_total{service="DynamoDB",operation="DescribeTimeToLive",kind="throttled"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn deleted_apps_leave_no_ready_series() {
        let metrics = Metrics::default();
        metrics.set_ready("team", "metrics", false);
        assert!(metrics.encode().unwrap().contains(r#"name="metrics"} 0"#));
        metrics.forget("team", "metrics");
        assert!(!metrics.encode().unwrap().contains(r#"name="metrics""#));
    }
}
