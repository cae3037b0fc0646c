//! End-to-end tests against the real cluster in `KUBECONFIG` and an AWS-compatible
//! endpoint (moto), run with
//!
//!   E2E=1 cargo test -p metricsapp-operator --test e2e -- --test-threads=1 --nocapture
//!
//! Environment:
//! - `E2E_OPERATOR`: `in-process` (default: this test runs the controller itself,
//!   watching only its own namespace, with a 10s resync) or `cluster` (an operator is
//!   already installed, e.g. by the chart; none is started here).
//! - `AWS_ENDPOINT_URL` (+ `AWS_REGION`, credentials): the endpoint this process uses
//!   to check tables (and the in-process operator uses to manage them).
//! - `E2E_APP_ENDPOINT_URL`: the endpoint the app pods use (an in-cluster moto Service,
//!   e.g. `http://moto.moto.svc.cluster.local:5000`); default `AWS_ENDPOINT_URL`.
//! - `E2E_APP_IMAGE`, `E2E_APP_IMAGE_NEXT`: two pullable app images; the rollout
//!   switches from the first to the second.
//! - `E2E_RESYNC_WAIT`: how long to wait for drift to be reverted in `cluster` mode
//!   (default `6m`, above the operator's default 5m resync).
//!
//! Without `E2E=1` every test says it was skipped and passes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PointInTimeRecoverySpecification};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use metricsapp_aws::table::DeletionPolicy;
use metricsapp_operator::cli::parse_period;
use metricsapp_operator::controller::{self, AwsClients, Context, Settings};
use metricsapp_operator::crd::{self, MetricsApp};
use metricsapp_operator::metrics::Metrics;
use metricsapp_operator::resources::AppSettings;
use serde_json::json;
use tokio::sync::oneshot;

const SKIPPED: &str = "SKIPPED (set E2E=1 and KUBECONFIG to run against a cluster)";
const READY_WITHIN: Duration = Duration::from_secs(180);
const IN_PROCESS_RESYNC: Duration = Duration::from_secs(10);
const E2E_MANAGER: &str = "metricsapp-e2e";

fn enabled(test: &str) -> bool {
    if std::env::var("E2E").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("{test}: {SKIPPED}");
    false
}

fn required(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| panic!("E2E=1 needs {name} (see operator/README.md)"))
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// One test's world: a fresh namespace, the CRD, an operator, AWS access.
struct World {
    client: Client,
    dynamodb: aws_sdk_dynamodb::Client,
    namespace: String,
    resync_wait: Duration,
    stop_operator: Option<oneshot::Sender<()>>,
    operator: Option<tokio::task::JoinHandle<()>>,
}

impl World {
    async fn new(prefix: &str) -> World {
        let client = Client::try_default()
            .await
            .expect("a cluster in KUBECONFIG");
        install_crd(&client).await;
        let namespace = format!("{prefix}-{}", short_id());
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap(),
            )
            .await
            .expect("create the test namespace");
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
        let mut world = World {
            client,
            dynamodb,
            namespace,
            resync_wait: Duration::from_secs(360),
            stop_operator: None,
            operator: None,
        };
        match std::env::var("E2E_OPERATOR").as_deref() {
            Ok("cluster") => {
                if let Ok(wait) = std::env::var("E2E_RESYNC_WAIT") {
                    world.resync_wait = parse_period(&wait).expect("E2E_RESYNC_WAIT");
                }
            }
            Ok("in-process") | Err(_) => world.start_operator(&aws).await,
            Ok(other) => panic!("E2E_OPERATOR must be in-process or cluster, not {other}"),
        }
        world
    }

    async fn start_operator(&mut self, aws: &aws_config::SdkConfig) {
        let region = aws.region().expect("AWS_REGION").to_string();
        let settings = Settings {
            resync_period: IN_PROCESS_RESYNC,
            default_deletion_policy: DeletionPolicy::Retain,
            app: AppSettings { region },
            aws_deadline: Duration::from_secs(60),
            concurrency: 4,
        };
        let clients = AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(aws),
            lambda: aws_sdk_lambda::Client::new(aws),
            s3: aws_sdk_s3::Client::new(aws),
        };
        let (caches, writers) = controller::caches();
        let ctx = Arc::new(Context::new(
            self.client.clone(),
            clients,
            Arc::new(Metrics::default()),
            settings,
            caches,
            Some("e2e".into()),
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let namespace = self.namespace.clone();
        self.operator = Some(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
            if let Err(error) =
                controller::run(ctx, writers, Some(&namespace), ready, shutdown).await
            {
                panic!("in-process operator: {error}");
            }
        }));
        self.stop_operator = Some(stop);
        self.resync_wait = IN_PROCESS_RESYNC * 6;
    }

    fn apps(&self) -> Api<MetricsApp> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// A MetricsApp for `image` whose pods reach the app endpoint with test credentials.
    fn app(&self, name: &str, image: &str, table: &str) -> MetricsApp {
        let endpoint = std::env::var("E2E_APP_ENDPOINT_URL")
            .ok()
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| required("AWS_ENDPOINT_URL"));
        serde_json::from_value(json!({
            "apiVersion": "metricsapp.dev/v1alpha1",
            "kind": "MetricsApp",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "image": image,
                "replicas": 2,
                "table": {"name": table},
                "env": [
                    {"name": "AWS_ENDPOINT_URL", "value": endpoint},
                    {"name": "AWS_ACCESS_KEY_ID", "value": "testing"},
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": "testing"},
                ],
            },
        }))
        .expect("a valid MetricsApp")
    }

    async fn apply(&self, app: &MetricsApp) {
        let params = PatchParams::apply(E2E_MANAGER).force();
        self.apps()
            .patch(&app.name_any(), &params, &Patch::Apply(app))
            .await
            .unwrap_or_else(|error| panic!("apply MetricsApp {}: {error}", app.name_any()));
    }

    async fn wait_ready(&self, name: &str, generation_at_least: i64) -> MetricsApp {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let app = self.apps().get(name).await.expect("get MetricsApp");
            let observed = app
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            let ready = app.status.as_ref().is_some_and(|status| {
                status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
            if ready && observed >= generation_at_least {
                return app;
            }
            assert!(
                Instant::now() < deadline,
                "MetricsApp {}/{name} not Ready within {READY_WITHIN:?}; last status: {}",
                self.namespace,
                serde_json::to_string_pretty(&app.status).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn events_with_reason(&self, reason: &str) -> Vec<Event> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        events
            .list(&ListParams::default())
            .await
            .expect("list Events")
            .items
            .into_iter()
            .filter(|event| event.reason.as_deref() == Some(reason))
            .collect()
    }

    async fn delete_app_and_wait(&self, name: &str) {
        self.apps()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete MetricsApp");
        let deadline = Instant::now() + READY_WITHIN;
        while self
            .apps()
            .get_opt(name)
            .await
            .expect("get MetricsApp")
            .is_some()
        {
            assert!(
                Instant::now() < deadline,
                "MetricsApp {name} still present after {READY_WITHIN:?}: finalizer not removed"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn finish(mut self) {
        if let Some(stop) = self.stop_operator.take() {
            let _ = stop.send(());
        }
        if let Some(operator) = self.operator.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), operator).await;
        }
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.namespace, &DeleteParams::default())
            .await;
    }
}

async fn install_crd(client: &Client) {
    let crd: CustomResourceDefinition =
        serde_yaml::from_str(&crd::crd_yaml().expect("CRD YAML")).expect("CRD parses");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply(E2E_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("server-side apply of the CRD (its CEL rules must compile on this API server)");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let current = crds.get(&crd.name_any()).await.expect("get CRD");
        let established = current
            .status
            .and_then(|status| status.conditions)
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return;
        }
        assert!(Instant::now() < deadline, "CRD not Established within 30s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Apply → Ready; image change → rollout with no unavailable replica; a console-style
/// edit of the table → reverted on resync with a DriftCorrected Event; delete with
/// Retain → table and items kept.
#[tokio::test]
async fn lifecycle_ready_rollout_drift_and_retain() {
    if !enabled("lifecycle_ready_rollout_drift_and_retain") {
        return;
    }
    let image = required("E2E_APP_IMAGE");
    let next_image = required("E2E_APP_IMAGE_NEXT");
    let world = World::new("metricsapp-e2e").await;
    let table = format!("e2e-{}", short_id());
    let name = "metrics";

    // Apply → Ready.
    let started = Instant::now();
    world.apply(&world.app(name, &image, &table)).await;
    let app = world.wait_ready(name, 1).await;
    eprintln!("Ready after {:?}", started.elapsed());
    let status = app.status.clone().expect("status");
    assert_eq!(
        status.table.as_ref().map(|t| t.name.as_str()),
        Some(table.as_str())
    );
    assert_eq!(status.image.as_deref(), Some(image.as_str()));
    assert_eq!(
        status.url.as_deref(),
        Some(format!("http://{name}.{}.svc:80", world.namespace).as_str())
    );
    let described = world
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("table exists");
    assert_eq!(
        described
            .table()
            .and_then(|t| t.table_status())
            .map(|s| s.as_str()),
        Some("ACTIVE")
    );
    world
        .dynamodb
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("e2e".into()))
        .item("sk", AttributeValue::S("kept".into()))
        .send()
        .await
        .expect("put a probe item");

    // Image change → rollout with no unavailable replica.
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.namespace);
    let before = deployments.get(name).await.expect("Deployment");
    let mut next = world.app(name, &next_image, &table);
    next.spec.replicas = 2;
    world.apply(&next).await;
    let deadline = Instant::now() + READY_WITHIN;
    let mut worst_unavailable = 0;
    let mut worst_ready = i32::MAX;
    loop {
        let deployment = deployments.get(name).await.expect("Deployment");
        let generation = deployment.metadata.generation.unwrap_or(0);
        let status = deployment.status.clone().unwrap_or_default();
        worst_unavailable = worst_unavailable.max(status.unavailable_replicas.unwrap_or(0));
        worst_ready = worst_ready.min(status.ready_replicas.unwrap_or(0));
        let image_now = deployment
            .spec
            .as_ref()
            .and_then(|spec| spec.template.spec.as_ref())
            .and_then(|pod| pod.containers.first())
            .and_then(|container| container.image.clone());
        let rolled = generation > before.metadata.generation.unwrap_or(0)
            && status.observed_generation.unwrap_or(0) >= generation
            && status.updated_replicas == Some(2)
            && status.ready_replicas == Some(2)
            && status.replicas == Some(2)
            && image_now.as_deref() == Some(next_image.as_str());
        if rolled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rollout to {next_image} not done within {READY_WITHIN:?}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        worst_unavailable, 0,
        "a replica was unavailable during the rollout"
    );
    assert!(
        worst_ready >= 2,
        "ready replicas dropped to {worst_ready} during the rollout"
    );
    let app = world.wait_ready(name, 2).await;
    assert_eq!(
        app.status.and_then(|s| s.image).as_deref(),
        Some(next_image.as_str())
    );
    assert!(
        !world
            .events_with_reason("DeploymentUpdated")
            .await
            .is_empty()
    );

    // Console-style edit: point-in-time recovery turned on behind the operator's back.
    world
        .dynamodb
        .update_continuous_backups()
        .table_name(&table)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .expect("PITR spec"),
        )
        .send()
        .await
        .expect("edit the table behind the operator");
    let deadline = Instant::now() + world.resync_wait;
    loop {
        let backups = world
            .dynamodb
            .describe_continuous_backups()
            .table_name(&table)
            .send()
            .await
            .expect("describe continuous backups");
        let pitr = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|d| d.point_in_time_recovery_status())
            .map(|s| s.as_str().to_owned());
        if pitr.as_deref() == Some("DISABLED")
            && !world.events_with_reason("DriftCorrected").await.is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "drift (PITR {pitr:?}) not reverted within {:?}",
            world.resync_wait
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // Delete with Retain (the default): table and items kept.
    world.delete_app_and_wait(name).await;
    assert!(!world.events_with_reason("TableRetained").await.is_empty());
    let item = world
        .dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("e2e".into()))
        .key("sk", AttributeValue::S("kept".into()))
        .send()
        .await
        .expect("the retained table answers");
    assert!(item.item().is_some(), "the probe item must be kept");

    let _ = world
        .dynamodb
        .delete_table()
        .table_name(&table)
        .send()
        .await;
    world.finish().await;
}

/// Delete with `deletionPolicy: Delete`: a backup, then the table is gone.
#[tokio::test]
async fn delete_policy_backs_up_and_deletes_the_table() {
    if !enabled("delete_policy_backs_up_and_deletes_the_table") {
        return;
    }
    let image = required("E2E_APP_IMAGE");
    let world = World::new("metricsapp-e2e-delete").await;
    let table = format!("e2e-{}", short_id());
    let name = "doomed";
    let mut app = world.app(name, &image, &table);
    app.spec.table.deletion_policy = Some(crd::DeletionPolicy::Delete);
    world.apply(&app).await;
    world.wait_ready(name, 1).await;
    world.delete_app_and_wait(name).await;
    assert!(!world.events_with_reason("TableBackedUp").await.is_empty());
    assert!(!world.events_with_reason("TableDeleted").await.is_empty());
    let deadline = Instant::now() + Duration::from_secs(60);
    while world
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "table {table} still exists");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let backups = world
        .dynamodb
        .list_backups()
        .table_name(&table)
        .send()
        .await
        .expect("list backups");
    assert_eq!(
        backups.backup_summaries().len(),
        1,
        "one backup before the deletion"
    );
    world.finish().await;
}
