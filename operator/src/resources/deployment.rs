use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, HTTPGetAction, Lifecycle, LifecycleHandler, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, SeccompProfile, SecurityContext, SleepAction, TopologySpreadConstraint,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{hash_of, labels, metadata, selector_labels};
use crate::Result;
use crate::crd::MetricsApp;

/// The port the app listens on (its `METRICS_APP_LISTEN`), named `http`.
pub const APP_PORT: i32 = 8080;

/// The app's default `--shutdown-timeout`: how long it finishes in-flight requests
/// after SIGTERM.
pub const SHUTDOWN_TIMEOUT_SECONDS: i64 = 20;

/// How long a terminating pod keeps serving before SIGTERM, so that Services and load
/// balancers have removed it from their endpoints and send it no new requests.
pub const PRE_STOP_SLEEP_SECONDS: i64 = 5;

/// Extra seconds before the kubelet kills the pod, beyond preStop and drain.
const TERMINATION_MARGIN_SECONDS: i64 = 5;

/// Pod template annotation with the ConfigMap's checksum: a configuration change
/// changes the template, which rolls the pods.
pub const CONFIG_CHECKSUM_ANNOTATION: &str = "metricsapp.dev/config-checksum";

const APP_UID: i64 = 65532;

/// Pods spread across zones, then nodes. `ScheduleAnyway`: a cluster with one zone or
/// one node still runs every replica. `pod-template-hash` spreads each rollout's pods on
/// their own, so a new ReplicaSet is not packed where the old one leaves room.
fn spread(app: &MetricsApp) -> Vec<TopologySpreadConstraint> {
    ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        .into_iter()
        .map(|key| TopologySpreadConstraint {
            topology_key: key.into(),
            max_skew: 1,
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(app)),
                ..LabelSelector::default()
            }),
            match_label_keys: Some(vec!["pod-template-hash".into()]),
            ..TopologySpreadConstraint::default()
        })
        .collect()
}

/// The app's Deployment: rolling update (no unavailable replica by default), probes on
/// `/readyz` and `/healthz`, time to drain on shutdown, a restricted security context,
/// configuration from `config` plus the user's `env`.
pub fn deployment(app: &MetricsApp, config: &ConfigMap) -> Result<Deployment> {
    let name = app.name_any();
    let rollout = &app.spec.rollout;
    let default_rollout = crate::crd::RolloutSpec::default();
    let token = super::auth::token_volume(app);
    let placement = &app.spec.placement;
    let container = Container {
        name: "metrics-app".into(),
        image: Some(app.spec.image.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: APP_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: name.clone(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        // Variables in `env` override those from `envFrom`, so the user's win.
        env: (!app.spec.env.is_empty()).then(|| app.spec.env.clone()),
        resources: app.spec.resources.clone(),
        readiness_probe: Some(http_probe("/readyz", 5, 3)),
        liveness_probe: Some(http_probe("/healthz", 10, 3)),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: PRE_STOP_SLEEP_SECONDS,
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(APP_UID),
            run_as_group: Some(APP_UID),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(runtime_default_seccomp()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(
            [VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..VolumeMount::default()
            }]
            .into_iter()
            .chain(token.as_ref().map(|(_, mount)| mount.clone()))
            .collect(),
        ),
        ..Container::default()
    };
    let pod = PodSpec {
        service_account_name: Some(name),
        automount_service_account_token: Some(false),
        termination_grace_period_seconds: Some(
            PRE_STOP_SLEEP_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + TERMINATION_MARGIN_SECONDS,
        ),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(APP_UID),
            run_as_group: Some(APP_UID),
            fs_group: Some(APP_UID),
            seccomp_profile: Some(runtime_default_seccomp()),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        topology_spread_constraints: placement.spread.then(|| spread(app)),
        node_selector: (!placement.node_selector.is_empty())
            .then(|| placement.node_selector.clone()),
        tolerations: (!placement.tolerations.is_empty()).then(|| placement.tolerations.clone()),
        affinity: placement.affinity.clone(),
        volumes: Some(
            [Volume {
                name: "tmp".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            }]
            .into_iter()
            .chain(token.map(|(volume, _)| volume))
            .collect(),
        ),
        ..PodSpec::default()
    };
    Ok(Deployment {
        metadata: metadata(app)?,
        spec: Some(DeploymentSpec {
            // Left to the autoscaler when there is one: not sending the field gives up
            // its ownership, so the autoscaler's count is never put back.
            replicas: app.spec.autoscaling.is_none().then_some(app.spec.replicas),
            progress_deadline_seconds: Some(rollout.progress_deadline_seconds),
            selector: LabelSelector {
                match_labels: Some(selector_labels(app)),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: rollout.max_surge.clone().or(default_rollout.max_surge),
                    max_unavailable: rollout
                        .max_unavailable
                        .clone()
                        .or(default_rollout.max_unavailable),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(app)),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_CHECKSUM_ANNOTATION.into(),
                        hash_of("ConfigMap", &config.data)?,
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}

fn http_probe(path: &str, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::*;
    use crate::fixtures::MetricsAppExt;
    use crate::resources::{AppSettings, config_map};

    fn build(app: &MetricsApp) -> Deployment {
        let settings = AppSettings {
            region: "us-east-1".into(),
            name_prefix: String::new(),
        };
        deployment(app, &config_map(app, &settings).unwrap()).unwrap()
    }

    fn pod(deployment: &Deployment) -> &PodSpec {
        deployment
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
    }

    #[test]
    fn rolling_update_keeps_every_replica_by_default() {
        let deployment = build(&MetricsApp::test());
        let spec = deployment.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(2));
        let strategy = spec.strategy.as_ref().unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
        let rolling = strategy.rolling_update.as_ref().unwrap();
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
        assert_eq!(rolling.max_surge, Some(IntOrString::String("25%".into())));
    }

    #[test]
    fn rollout_settings_from_the_spec() {
        let mut app = MetricsApp::test();
        app.spec.rollout.max_surge = Some(IntOrString::Int(3));
        app.spec.rollout.max_unavailable = Some(IntOrString::String("10%".into()));
        app.spec.replicas = 0;
        let deployment = build(&app);
        let spec = deployment.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(0));
        let rolling = spec
            .strategy
            .as_ref()
            .unwrap()
            .rolling_update
            .as_ref()
            .unwrap();
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(3)));
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::String("10%".into()))
        );
    }

    #[test]
    fn probes_hit_readyz_and_healthz_on_the_app_port() {
        let deployment = build(&MetricsApp::test());
        let container = &pod(&deployment).containers[0];
        assert_eq!(container.ports.as_ref().unwrap()[0].container_port, 8080);
        let readiness = container
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(readiness.path.as_deref(), Some("/readyz"));
        assert_eq!(readiness.port, IntOrString::String("http".into()));
        let liveness = container
            .liveness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(liveness.path.as_deref(), Some("/healthz"));
    }

    #[test]
    fn pods_drain_before_they_are_killed() {
        let deployment = build(&MetricsApp::test());
        let pod = pod(&deployment);
        let grace = pod.termination_grace_period_seconds.unwrap();
        assert!(
            grace >= PRE_STOP_SLEEP_SECONDS + SHUTDOWN_TIMEOUT_SECONDS,
            "grace {grace}s"
        );
        let pre_stop = pod.containers[0]
            .lifecycle
            .as_ref()
            .unwrap()
            .pre_stop
            .as_ref()
            .unwrap();
        assert_eq!(
            pre_stop.sleep.as_ref().unwrap().seconds,
            PRE_STOP_SLEEP_SECONDS
        );
    }

    #[test]
    fn pods_run_restricted() {
        let deployment = build(&MetricsApp::test());
        let pod = pod(&deployment);
        let pod_security = pod.security_context.as_ref().unwrap();
        assert_eq!(pod_security.run_as_non_root, Some(true));
        assert_eq!(pod_security.run_as_user, Some(65532));
        assert_eq!(
            pod_security.seccomp_profile.as_ref().unwrap().type_,
            "RuntimeDefault"
        );
        let security = pod.containers[0].security_context.as_ref().unwrap();
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(security.run_as_non_root, Some(true));
        assert_eq!(
            security.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_owned()][..])
        );
        assert_eq!(
            security.seccomp_profile.as_ref().unwrap().type_,
            "RuntimeDefault"
        );
        let mount = &pod.containers[0].volume_mounts.as_ref().unwrap()[0];
        assert_eq!(mount.mount_path, "/tmp");
        assert!(pod.volumes.as_ref().unwrap()[0].empty_dir.is_some());
        assert_eq!(pod.service_account_name.as_deref(), Some("metrics"));
    }

    #[test]
    fn configuration_comes_from_the_config_map_then_the_users_env() {
        let mut app = MetricsApp::test();
        app.spec.env = vec![EnvVar {
            name: "RUST_LOG".into(),
            value: Some("debug".into()),
            ..EnvVar::default()
        }];
        let deployment = build(&app);
        let container = &pod(&deployment).containers[0];
        let from = container.env_from.as_ref().unwrap()[0]
            .config_map_ref
            .as_ref()
            .unwrap();
        assert_eq!(from.name, "metrics");
        assert_eq!(container.env.as_ref().unwrap()[0].name, "RUST_LOG");
    }

    #[test]
    fn resources_are_passed_through() {
        let mut app = MetricsApp::test();
        app.spec.resources = Some(ResourceRequirements {
            requests: Some(BTreeMap::from([("cpu".into(), Quantity("100m".into()))])),
            ..ResourceRequirements::default()
        });
        let deployment = build(&app);
        assert_eq!(pod(&deployment).containers[0].resources, app.spec.resources);
    }

    #[test]
    fn config_change_changes_the_pod_template() {
        let app = MetricsApp::test();
        let east = AppSettings {
            region: "us-east-1".into(),
            name_prefix: String::new(),
        };
        let west = AppSettings {
            region: "us-west-2".into(),
            name_prefix: String::new(),
        };
        let before = deployment(&app, &config_map(&app, &east).unwrap()).unwrap();
        let after = deployment(&app, &config_map(&app, &west).unwrap()).unwrap();
        let checksum = |d: &Deployment| {
            d.spec
                .as_ref()
                .unwrap()
                .template
                .metadata
                .as_ref()
                .unwrap()
                .annotations
                .as_ref()
                .unwrap()[CONFIG_CHECKSUM_ANNOTATION]
                .clone()
        };
        assert_ne!(checksum(&before), checksum(&after));
    }

    #[test]
    fn image_change_changes_only_the_image() {
        let app = MetricsApp::test();
        let mut next = app.clone();
        next.spec.image = "ghcr.io/metricsapp/metrics-app:next".into();
        let mut before = serde_json::to_value(build(&app)).unwrap();
        let after = serde_json::to_value(build(&next)).unwrap();
        before["spec"]["template"]["spec"]["containers"][0]["image"] =
            "ghcr.io/metricsapp/metrics-app:next".into();
        assert_eq!(before, after);
    }

    #[test]
    fn pods_spread_across_zones_and_nodes_unless_told_not_to() {
        let mut app = MetricsApp::test();
        let built = build(&app);
        let spread = pod(&built).topology_spread_constraints.clone().unwrap();
        let keys: Vec<_> = spread.iter().map(|c| c.topology_key.as_str()).collect();
        assert_eq!(
            keys,
            ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        );
        for constraint in &spread {
            assert_eq!(constraint.max_skew, 1);
            assert_eq!(constraint.when_unsatisfiable, "ScheduleAnyway");
            assert_eq!(
                constraint.label_selector.as_ref().unwrap().match_labels,
                Some(selector_labels(&app))
            );
        }
        assert_eq!(pod(&built).node_selector, None);
        app.spec.placement.spread = false;
        app.spec.placement.node_selector = BTreeMap::from([("pool".into(), "apps".into())]);
        app.spec.placement.tolerations = vec![k8s_openapi::api::core::v1::Toleration {
            key: Some("dedicated".into()),
            operator: Some("Exists".into()),
            ..Default::default()
        }];
        let built = build(&app);
        let placed = pod(&built);
        assert_eq!(placed.topology_spread_constraints, None);
        assert_eq!(placed.node_selector.as_ref().unwrap()["pool"], "apps");
        assert_eq!(
            placed.tolerations.as_ref().unwrap()[0].key.as_deref(),
            Some("dedicated")
        );
    }
}
