//! How many app pods run and how many a drain may take: the HorizontalPodAutoscaler of
//! `spec.autoscaling` and the PodDisruptionBudget the app gets whenever it runs two or
//! more pods.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;

use super::{metadata, selector_labels};
use crate::Result;
use crate::crd::MetricsApp;

/// The fewest pods the app runs: `replicas`, or the autoscaler's minimum.
pub fn fewest_pods(app: &MetricsApp) -> i32 {
    match &app.spec.autoscaling {
        Some(autoscaling) => autoscaling.min_replicas,
        None => app.spec.replicas,
    }
}

/// The autoscaler of the app's Deployment, when `spec.autoscaling` asks for one.
pub fn autoscaler(app: &MetricsApp) -> Result<Option<HorizontalPodAutoscaler>> {
    let Some(autoscaling) = &app.spec.autoscaling else {
        return Ok(None);
    };
    let utilization = |resource: &str, percent: i32| MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: resource.into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(percent),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    };
    let metrics = std::iter::once(utilization(
        "cpu",
        autoscaling.target_cpu_utilization_percentage,
    ))
    .chain(
        autoscaling
            .target_memory_utilization_percentage
            .map(|percent| utilization("memory", percent)),
    )
    .collect();
    Ok(Some(HorizontalPodAutoscaler {
        metadata: metadata(app)?,
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: app.name_any(),
            },
            min_replicas: Some(autoscaling.min_replicas),
            max_replicas: autoscaling.max_replicas,
            metrics: Some(metrics),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        ..HorizontalPodAutoscaler::default()
    }))
}

/// The app's disruption budget, when it runs two or more pods.
pub fn disruption_budget(app: &MetricsApp) -> Result<Option<PodDisruptionBudget>> {
    if fewest_pods(app) < 2 {
        return Ok(None);
    }
    Ok(Some(PodDisruptionBudget {
        metadata: metadata(app)?,
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(app.spec.disruption.max_unavailable.clone()),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(app)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::*;
    use crate::crd::AutoscalingSpec;
    use crate::fixtures::MetricsAppExt;

    fn autoscaling(min: i32, max: i32) -> AutoscalingSpec {
        AutoscalingSpec {
            min_replicas: min,
            max_replicas: max,
            target_cpu_utilization_percentage: 70,
            target_memory_utilization_percentage: None,
        }
    }

    #[test]
    fn the_autoscaler_targets_the_deployment_with_its_bounds_and_targets() {
        let mut app = MetricsApp::test();
        assert_eq!(autoscaler(&app).unwrap(), None);
        app.spec.autoscaling = Some(autoscaling(2, 6));
        let spec = autoscaler(&app).unwrap().unwrap().spec.unwrap();
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        assert_eq!(spec.scale_target_ref.name, "metrics");
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 6));
        let metrics = spec.metrics.unwrap();
        assert_eq!(metrics.len(), 1);
        let cpu = metrics[0].resource.as_ref().unwrap();
        assert_eq!(
            (cpu.name.as_str(), cpu.target.average_utilization),
            ("cpu", Some(70))
        );
        app.spec
            .autoscaling
            .as_mut()
            .unwrap()
            .target_memory_utilization_percentage = Some(80);
        let metrics = autoscaler(&app)
            .unwrap()
            .unwrap()
            .spec
            .unwrap()
            .metrics
            .unwrap();
        assert_eq!(metrics[1].resource.as_ref().unwrap().name, "memory");
    }

    #[test]
    fn two_or_more_pods_get_a_budget_and_one_pod_none() {
        let mut app = MetricsApp::test();
        let budget = disruption_budget(&app).unwrap().unwrap().spec.unwrap();
        assert_eq!(budget.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(
            budget.selector.unwrap().match_labels,
            Some(selector_labels(&app))
        );
        app.spec.replicas = 1;
        assert_eq!(
            disruption_budget(&app).unwrap(),
            None,
            "it would block drains"
        );
        // The autoscaler's minimum counts, not `replicas`.
        app.spec.autoscaling = Some(autoscaling(2, 6));
        assert!(disruption_budget(&app).unwrap().is_some());
        app.spec.autoscaling = Some(autoscaling(1, 6));
        app.spec.replicas = 4;
        assert_eq!(disruption_budget(&app).unwrap(), None);
        app.spec.replicas = 3;
        app.spec.autoscaling = None;
        app.spec.disruption.max_unavailable = IntOrString::String("25%".into());
        let budget = disruption_budget(&app).unwrap().unwrap().spec.unwrap();
        assert_eq!(
            budget.max_unavailable,
            Some(IntOrString::String("25%".into()))
        );
    }
}
