//! Test-only builders that read like sentences, and a mocked Kubernetes API server
//! that answers an expected sequence of requests and records what it was sent.

use kube::Resource;

use crate::crd::{MetricsApp, MetricsAppSpec, RolloutSpec, ServiceSpec, TableSpec};

pub const TEST_UID: &str = "5b7c4a0e-2f7b-4a8e-9d59-2f4c1f0e8a11";

pub trait MetricsAppExt {
    /// `team/metrics`, image `ghcr.io/metricsapp/metrics-app:1`, every default.
    fn test() -> Self;
}

impl MetricsAppExt for MetricsApp {
    fn test() -> Self {
        let mut app = MetricsApp::new(
            "metrics",
            MetricsAppSpec {
                image: "ghcr.io/metricsapp/metrics-app:1".into(),
                replicas: 2,
                table: TableSpec::default(),
                rollout: RolloutSpec::default(),
                service: ServiceSpec::default(),
                resources: None,
                env: Vec::new(),
                service_account: None,
                suspend: false,
            },
        );
        app.meta_mut().namespace = Some("team".into());
        app.meta_mut().uid = Some(TEST_UID.into());
        app.meta_mut().generation = Some(1);
        app
    }
}
