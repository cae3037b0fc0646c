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
//!   to check tables and functions (and the in-process operator uses to manage them).
//!   The function test creates its execution role through this endpoint's IAM, so it
//!   needs moto (or another emulator that takes unsigned-looking test credentials).
//! - `E2E_APP_ENDPOINT_URL`: the endpoint the app pods use (an in-cluster moto Service,
//!   e.g. `http://moto.moto.svc.cluster.local:5000`); default `AWS_ENDPOINT_URL`.
//! - `E2E_APP_IMAGE`, `E2E_APP_IMAGE_NEXT`: two pullable app images; the rollout
//!   switches from the first to the second.
//! - `E2E_RESYNC_WAIT`: how long to wait for drift to be reverted in `cluster` mode
//!   (default `6m`, above the operator's default 5m resync).
//!
//! Every test runs through [`e2e`], which cleans up whether the test passed or
//! panicked: the MetricsApps are deleted (their finalizer handled by the operator,
//! which is still running, or removed when it does not finish in time), then the
//! tables, functions and buckets the test named or the MetricsApps reported, then the
//! namespace. A passing test whose cleanup had to force anything fails.
//!
//! Without `E2E=1` every test says it was skipped and passes.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, GlobalSecondaryIndexUpdate, ProvisionedThroughput,
    UpdateGlobalSecondaryIndexAction,
};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use metricsapp_aws::table::DeletionPolicy;
use metricsapp_operator::cli::parse_period;
use metricsapp_operator::controller::{self, AwsClients, Context, Settings};
use metricsapp_operator::crd::{self, FunctionSpec, MetricsApp, MetricsAppStatus, StreamViewType};
use metricsapp_operator::metrics::Metrics;
use metricsapp_operator::resources::AppSettings;
use metricsapp_operator::{FINALIZER, function, status, table};
use serde_json::json;
use tokio::sync::oneshot;

const SKIPPED: &str = "SKIPPED (set E2E=1 and KUBECONFIG to run against a cluster)";
const READY_WITHIN: Duration = Duration::from_secs(180);
const IN_PROCESS_RESYNC: Duration = Duration::from_secs(10);
/// How long cleanup waits for the operator to let go of a deleted MetricsApp before
/// it removes the finalizer itself.
const CLEANUP_WAIT: Duration = Duration::from_secs(90);
const E2E_MANAGER: &str = "metricsapp-e2e";
const REPLICAS: i32 = 2;

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

/// Runs `body` in a fresh [`World`] and cleans up after it, passed or panicked; the
/// panic is raised again once the cleanup is done.
async fn e2e<F, Fut>(test: &str, prefix: &str, body: F)
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = ()>,
{
    if !enabled(test) {
        return;
    }
    let (world, operator) = World::new(prefix).await;
    let outcome = AssertUnwindSafe(body(world.clone())).catch_unwind().await;
    let forced = world.clean_up(operator).await;
    match outcome {
        Ok(()) => assert!(
            forced.is_empty(),
            "{test} passed but its cleanup had to force: {forced:#?}"
        ),
        Err(panic) => {
            if !forced.is_empty() {
                eprintln!("{test}: cleanup after the failure: {forced:#?}");
            }
            std::panic::resume_unwind(panic);
        }
    }
}

/// The AWS resources a test made, by name, for the cleanup.
#[derive(Debug, Default)]
struct Made {
    tables: BTreeSet<String>,
    functions: BTreeSet<String>,
    buckets: BTreeSet<String>,
}

/// One test's world: a fresh namespace, the CRD, AWS access. Cheap to clone (the test
/// body gets a clone; the cleanup keeps one).
#[derive(Clone)]
struct World {
    client: Client,
    aws: aws_config::SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    lambda: aws_sdk_lambda::Client,
    s3: aws_sdk_s3::Client,
    namespace: String,
    resync_wait: Duration,
    made: Arc<Mutex<Made>>,
}

/// The in-process operator, stopped by the cleanup once the MetricsApps are gone.
struct Operator {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl World {
    /// Everything that can fail comes before the namespace is created, so that a
    /// failure here leaves nothing behind.
    async fn new(prefix: &str) -> (World, Option<Operator>) {
        let client = Client::try_default()
            .await
            .expect("a cluster in KUBECONFIG");
        install_crd(&client).await;
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let in_process = match std::env::var("E2E_OPERATOR").as_deref() {
            Ok("cluster") => false,
            Ok("in-process") | Err(_) => true,
            Ok(other) => panic!("E2E_OPERATOR must be in-process or cluster, not {other}"),
        };
        let resync_wait = if in_process {
            IN_PROCESS_RESYNC * 6
        } else {
            std::env::var("E2E_RESYNC_WAIT").map_or(Duration::from_secs(360), |wait| {
                parse_period(&wait).expect("E2E_RESYNC_WAIT")
            })
        };
        let region = aws.region().expect("AWS_REGION").to_string();
        let world = World {
            dynamodb: aws_sdk_dynamodb::Client::new(&aws),
            lambda: aws_sdk_lambda::Client::new(&aws),
            s3: s3_client(&aws),
            aws,
            client,
            namespace: format!("{prefix}-{}", short_id()),
            resync_wait,
            made: Arc::default(),
        };
        let namespaces: Api<Namespace> = Api::all(world.client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": world.namespace}}))
                    .expect("a Namespace"),
            )
            .await
            .expect("create the test namespace");
        let operator = in_process.then(|| world.start_operator(region));
        (world, operator)
    }

    fn start_operator(&self, region: String) -> Operator {
        let settings = Settings {
            resync_period: IN_PROCESS_RESYNC,
            default_deletion_policy: DeletionPolicy::Retain,
            app: AppSettings {
                region,
                name_prefix: String::new(),
            },
            limits: metricsapp_operator::limits::Limits::default(),
            aws_deadline: Duration::from_secs(60),
            aws_full_read_period: Duration::from_secs(3600),
            concurrency: 4,
            transient_grace_period: Duration::from_secs(600),
        };
        let clients = AwsClients {
            dynamodb: self.dynamodb.clone(),
            lambda: self.lambda.clone(),
            s3: self.s3.clone(),
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
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
            if let Err(error) =
                controller::run(ctx, writers, Some(&namespace), ready, shutdown).await
            {
                panic!("in-process operator: {error}");
            }
        });
        Operator { stop, task }
    }

    fn apps(&self) -> Api<MetricsApp> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn made(&self) -> std::sync::MutexGuard<'_, Made> {
        self.made
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A MetricsApp for `image` whose pods reach the app endpoint with test credentials;
    /// its table is remembered for the cleanup.
    fn app(&self, name: &str, image: &str, table: &str) -> MetricsApp {
        self.made().tables.insert(table.to_owned());
        let endpoint = std::env::var("E2E_APP_ENDPOINT_URL")
            .ok()
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| required("AWS_ENDPOINT_URL"));
        // The pods' NetworkPolicy lets them reach the emulator's port too.
        let port: i32 = endpoint
            .rsplit(':')
            .next()
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or(443);
        serde_json::from_value(json!({
            "apiVersion": "metricsapp.dev/v1alpha1",
            "kind": "MetricsApp",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "image": image,
                "replicas": REPLICAS,
                "table": {"name": table},
                "networkPolicy": {"egressPorts": [443, port]},
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

    /// Polls the MetricsApp until `done` holds for it, failing with its last status
    /// after `within`.
    async fn wait_for(
        &self,
        name: &str,
        what: &str,
        within: Duration,
        done: impl Fn(&MetricsApp) -> bool,
    ) -> MetricsApp {
        let deadline = Instant::now() + within;
        loop {
            let app = self.apps().get(name).await.expect("get MetricsApp");
            if done(&app) {
                return app;
            }
            assert!(
                Instant::now() < deadline,
                "MetricsApp {}/{name}: {what} not within {within:?}; last status: {}",
                self.namespace,
                serde_json::to_string_pretty(&app.status).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn wait_ready(&self, name: &str, generation_at_least: i64) -> MetricsApp {
        self.wait_for(
            name,
            &format!("Ready for generation {generation_at_least}"),
            READY_WITHIN,
            |app| {
                let status = app.status.as_ref();
                status::is_ready(status)
                    && status.and_then(|s| s.observed_generation).unwrap_or(0)
                        >= generation_at_least
            },
        )
        .await
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

    /// Removes everything the test made, whether it passed or not, and returns what
    /// it had to force or could not remove. Never panics: it runs after a failure.
    async fn clean_up(&self, operator: Option<Operator>) -> Vec<String> {
        let mut forced = Vec::new();
        self.delete_apps(operator.as_ref(), &mut forced).await;
        if let Some(operator) = operator {
            let _ = operator.stop.send(());
            if tokio::time::timeout(Duration::from_secs(30), operator.task)
                .await
                .is_err()
            {
                eprintln!("the in-process operator did not stop within 30s");
            }
        }
        self.delete_aws_resources(&mut forced).await;
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        match namespaces
            .delete(&self.namespace, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => forced.push(format!("delete namespace {}: {error}", self.namespace)),
        }
        forced
    }

    /// Deletes every MetricsApp of the namespace and waits for the operator to let go
    /// of them; then removes the finalizer from those still there. What they reported
    /// (table, functions) joins the AWS resources to delete.
    async fn delete_apps(&self, operator: Option<&Operator>, forced: &mut Vec<String>) {
        let apps = match self.apps().list(&ListParams::default()).await {
            Ok(apps) => apps.items,
            Err(error) => {
                forced.push(format!("list MetricsApps in {}: {error}", self.namespace));
                return;
            }
        };
        for app in &apps {
            self.remember_resources_of(app);
            match self
                .apps()
                .delete(&app.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => forced.push(format!("delete MetricsApp {}: {error}", app.name_any())),
            }
        }
        let deadline = Instant::now() + CLEANUP_WAIT;
        let remaining = loop {
            let remaining = match self.apps().list(&ListParams::default()).await {
                Ok(apps) => apps.items,
                Err(error) => {
                    forced.push(format!("list MetricsApps in {}: {error}", self.namespace));
                    return;
                }
            };
            let operator_gone = operator.is_some_and(|operator| operator.task.is_finished());
            if remaining.is_empty() || operator_gone || Instant::now() >= deadline {
                break remaining;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        for app in remaining {
            self.remember_resources_of(&app);
            let finalizers: Vec<&String> = app
                .finalizers()
                .iter()
                .filter(|f| *f != FINALIZER)
                .collect();
            let patch = json!({"metadata": {"finalizers": finalizers}});
            let outcome = self
                .apps()
                .patch(
                    &app.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await;
            forced.push(match outcome {
                Ok(_) => format!(
                    "removed the finalizer of MetricsApp {}/{}: the operator did not finish its deletion within {CLEANUP_WAIT:?}",
                    self.namespace,
                    app.name_any()
                ),
                Err(error) => format!(
                    "could not remove the finalizer of MetricsApp {}/{}: {error}",
                    self.namespace,
                    app.name_any()
                ),
            });
        }
    }

    /// The table and functions `app` names or reports, for the cleanup.
    fn remember_resources_of(&self, app: &MetricsApp) {
        let mut made = self.made();
        // The in-process operator and the kind job's chart (examples/dev/values.yaml)
        // put no prefix in front of AWS names.
        if let Ok(name) = table::table_name(app, "") {
            made.tables.insert(name);
        }
        let status = app.status.as_ref();
        if let Some(name) = status
            .and_then(|s| s.table.as_ref())
            .map(|t| t.name.clone())
        {
            made.tables.insert(name);
        }
        for spec in &app.spec.functions {
            if let Ok(name) = function::function_name(app, spec, "") {
                made.functions.insert(name);
            }
        }
        for function in status.map_or(&[][..], |s| s.functions.as_slice()) {
            made.functions.insert(function.function_name.clone());
        }
    }

    /// Deletes the functions (their stream mappings first), tables (and their
    /// backups) and buckets the test made; those already gone are fine.
    async fn delete_aws_resources(&self, forced: &mut Vec<String>) {
        let made = std::mem::take(&mut *self.made());
        for name in &made.functions {
            if let Err(error) = self.delete_function(name).await {
                forced.push(format!("delete function {name}: {error}"));
            }
        }
        for name in &made.tables {
            if let Err(error) = self.delete_table(name).await {
                forced.push(format!("delete table {name}: {error}"));
            }
        }
        for name in &made.buckets {
            if let Err(error) = self.delete_bucket(name).await {
                forced.push(format!("delete bucket {name}: {error}"));
            }
        }
    }

    async fn delete_function(&self, name: &str) -> Result<(), String> {
        let mappings: Vec<String> = if_found(
            "ListEventSourceMappings",
            self.lambda
                .list_event_source_mappings()
                .function_name(name)
                .send()
                .await,
        )?
        .map(|output| {
            output
                .event_source_mappings()
                .iter()
                .filter_map(|m| m.uuid().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
        for uuid in &mappings {
            if_found(
                &format!("DeleteEventSourceMapping {uuid}"),
                self.lambda
                    .delete_event_source_mapping()
                    .uuid(uuid)
                    .send()
                    .await,
            )?;
        }
        if_found(
            "DeleteFunction",
            self.lambda
                .delete_function()
                .function_name(name)
                .send()
                .await,
        )
        .map(|_| ())
    }

    async fn delete_table(&self, name: &str) -> Result<(), String> {
        let backups = self
            .dynamodb
            .list_backups()
            .table_name(name)
            .send()
            .await
            .map_err(|e| format!("ListBackups: {e:?}"))?;
        for arn in backups
            .backup_summaries()
            .iter()
            .filter_map(|b| b.backup_arn())
        {
            self.dynamodb
                .delete_backup()
                .backup_arn(arn)
                .send()
                .await
                .map_err(|e| format!("DeleteBackup {arn}: {e:?}"))?;
        }
        if_found(
            "DeleteTable",
            self.dynamodb.delete_table().table_name(name).send().await,
        )
        .map(|_| ())
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), String> {
        let objects = self
            .s3
            .list_objects_v2()
            .bucket(name)
            .send()
            .await
            .map_err(|e| format!("ListObjectsV2: {e:?}"))?;
        for key in objects.contents().iter().filter_map(|o| o.key()) {
            self.s3
                .delete_object()
                .bucket(name)
                .key(key)
                .send()
                .await
                .map_err(|e| format!("DeleteObject {key}: {e:?}"))?;
        }
        self.s3
            .delete_bucket()
            .bucket(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("DeleteBucket: {e:?}"))
    }

    /// An execution role in the endpoint's IAM and a bucket holding a real zip (a
    /// `bootstrap` script), remembered for the cleanup: what a zip function needs.
    async fn function_code(&self, key: &str) -> (String, String) {
        let id = short_id();
        let role = metricsapp_testing::execution_role(&self.aws, &format!("e2e-{id}")).await;
        let bucket = format!("e2e-code-{id}");
        let mut create = self.s3.create_bucket().bucket(&bucket);
        let region = self.aws.region().map(ToString::to_string);
        if let Some(region) = region.filter(|region| region != "us-east-1") {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(region.as_str().into())
                    .build(),
            );
        }
        create.send().await.expect("CreateBucket");
        self.made().buckets.insert(bucket.clone());
        metricsapp_testing::upload(
            &self.s3,
            &bucket,
            key,
            metricsapp_testing::bootstrap_zip("1"),
        )
        .await;
        (role, bucket)
    }

    async fn mappings_of(
        &self,
        function: &str,
    ) -> Vec<aws_sdk_lambda::types::EventSourceMappingConfiguration> {
        self.lambda
            .list_event_source_mappings()
            .function_name(function)
            .send()
            .await
            .expect("ListEventSourceMappings")
            .event_source_mappings()
            .to_vec()
    }
}

/// The test's S3 client: path-style against an emulator, which serves every bucket on
/// its one endpoint (an in-cluster Service name has no per-bucket DNS).
fn s3_client(aws: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let emulated = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|url| !url.is_empty());
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(emulated)
            .build(),
    )
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

/// Whether `deployment` has finished rolling out `image` at a generation after
/// `before`: every replica updated and ready, the surge pod gone.
fn rolled_out(deployment: &Deployment, before: i64, image: &str) -> bool {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let status = deployment.status.clone().unwrap_or_default();
    let image_now = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .and_then(|pod| pod.containers.first())
        .and_then(|container| container.image.as_deref());
    generation > before
        && status.observed_generation.unwrap_or(0) >= generation
        && status.updated_replicas == Some(REPLICAS)
        && status.ready_replicas == Some(REPLICAS)
        && status.available_replicas == Some(REPLICAS)
        && status.replicas == Some(REPLICAS)
        && image_now == Some(image)
}

/// Apply → Ready; image change → rollout during which ready and available replicas
/// never drop below the desired count (a surge pod that is not yet ready counts as
/// unavailable, so `unavailableReplicas` is not the measure); a console-style edit of
/// the table → reverted on resync with a DriftCorrected Event; delete with Retain →
/// table and items kept.
#[tokio::test]
async fn lifecycle_ready_rollout_drift_and_retain() {
    e2e(
        "lifecycle_ready_rollout_drift_and_retain",
        "metricsapp-e2e",
        lifecycle,
    )
    .await;
}

async fn lifecycle(world: World) {
    let image = required("E2E_APP_IMAGE");
    let next_image = required("E2E_APP_IMAGE_NEXT");
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

    // Image change → rollout that never goes below the desired ready count. The watch
    // sees every status the Deployment controller writes; it is established (its first
    // event received) before the change is applied, so none is missed.
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.namespace);
    let mut watch = watcher(
        deployments,
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .default_backoff()
    .applied_objects()
    .boxed();
    let before = match tokio::time::timeout(Duration::from_secs(30), watch.next()).await {
        Ok(Some(Ok(deployment))) => deployment,
        other => panic!("watch the Deployment {name}: {other:?}"),
    };
    let before_generation = before.metadata.generation.unwrap_or(0);
    world.apply(&world.app(name, &next_image, &table)).await;
    let deadline = tokio::time::Instant::now() + READY_WITHIN;
    let mut lowest_ready = i32::MAX;
    let mut lowest_available = i32::MAX;
    let mut last: Option<DeploymentStatus> = None;
    loop {
        let deployment = match tokio::time::timeout_at(deadline, watch.next()).await {
            Err(_) => panic!(
                "rollout to {next_image} not done within {READY_WITHIN:?}; last status: {last:?}"
            ),
            Ok(None) => panic!("the watch of the Deployment ended"),
            Ok(Some(Err(error))) => {
                eprintln!("watching the Deployment (retried): {error}");
                continue;
            }
            Ok(Some(Ok(deployment))) => deployment,
        };
        let status = deployment.status.clone().unwrap_or_default();
        lowest_ready = lowest_ready.min(status.ready_replicas.unwrap_or(0));
        lowest_available = lowest_available.min(status.available_replicas.unwrap_or(0));
        last = Some(status);
        if rolled_out(&deployment, before_generation, &next_image) {
            break;
        }
    }
    drop(watch);
    assert!(
        lowest_ready >= REPLICAS,
        "ready replicas dropped to {lowest_ready} (desired {REPLICAS}) during the rollout"
    );
    assert!(
        lowest_available >= REPLICAS,
        "available replicas dropped to {lowest_available} (desired {REPLICAS}) during the rollout"
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

    // Console-style edit: the on-demand table switched to provisioned capacity behind
    // the operator's back. DescribeTable shows it, so the one read of a pass at rest
    // finds it within a resync (settings DescribeTable does not show, like
    // point-in-time recovery, wait for the operator's full-read period).
    let one = || {
        ProvisionedThroughput::builder()
            .read_capacity_units(1)
            .write_capacity_units(1)
            .build()
            .expect("throughput")
    };
    let mut edit = world
        .dynamodb
        .update_table()
        .table_name(&table)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(one());
    for index in metrics_app_table::global_secondary_indexes(None) {
        edit = edit.global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .update(
                    UpdateGlobalSecondaryIndexAction::builder()
                        .index_name(index.index_name())
                        .provisioned_throughput(one())
                        .build()
                        .expect("index update"),
                )
                .build(),
        );
    }
    edit.send()
        .await
        .expect("edit the table behind the operator");
    let deadline = Instant::now() + world.resync_wait;
    loop {
        let described = world
            .dynamodb
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .expect("describe the table");
        let billing = described
            .table()
            .and_then(|t| t.billing_mode_summary())
            .and_then(|s| s.billing_mode())
            .map(|m| m.as_str().to_owned());
        if billing.as_deref() == Some("PAY_PER_REQUEST")
            && !world.events_with_reason("DriftCorrected").await.is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "drift (billing {billing:?}) not reverted within {:?}",
            world.resync_wait
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // Hand edits of the Service (`kubectl patch --type json`): the port replaced (a new
    // key of the ports list map, owned by the editor), the targetPort changed and a label
    // deleted. Within two resyncs all three are back, with no foreign port left.
    let services: Api<Service> = Api::namespaced(world.client.clone(), &world.namespace);
    let spec_port = services
        .get(name)
        .await
        .expect("the Service")
        .spec
        .unwrap()
        .ports
        .unwrap()[0]
        .port;
    let edit = json!([
        {"op": "replace", "path": "/spec/ports/0/port", "value": 8999},
        {"op": "replace", "path": "/spec/ports/0/targetPort", "value": 9090},
        {"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1name"},
    ]);
    let drift_events = world.events_with_reason("DriftCorrected").await.len();
    services
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(edit).expect("a JSON patch")),
        )
        .await
        .expect("edit the Service by hand");
    let deadline = Instant::now() + world.resync_wait * 2;
    loop {
        let service = services.get(name).await.expect("the Service");
        let ports: Vec<(i32, Option<String>)> = service
            .spec
            .and_then(|spec| spec.ports)
            .unwrap_or_default()
            .into_iter()
            .map(|port| (port.port, port.target_port.map(|t| format!("{t:?}"))))
            .collect();
        let labelled = service
            .metadata
            .labels
            .is_some_and(|labels| labels.contains_key("app.kubernetes.io/name"));
        let noted = world.events_with_reason("DriftCorrected").await.len() > drift_events;
        if ports.len() == 1 && ports[0].0 == spec_port && labelled && noted {
            assert_eq!(ports[0].1.as_deref(), Some(r#"String("http")"#));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Service was not put back within two resyncs: ports {ports:?}, label {labelled}, event {noted}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Two replicas: a PodDisruptionBudget selects the pods. With autoscaling 2..6, the
    // HPA targets the Deployment and a count set through the scale subresource (what
    // the autoscaler does) stays.
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(world.client.clone(), &world.namespace);
    let budget = budgets.get(name).await.expect("the PodDisruptionBudget");
    let selected = budget
        .spec
        .and_then(|spec| spec.selector)
        .and_then(|selector| selector.match_labels)
        .unwrap_or_default();
    assert_eq!(
        selected
            .get("app.kubernetes.io/instance")
            .map(String::as_str),
        Some(name)
    );
    let mut scaled = world.app(name, &next_image, &table);
    scaled.spec.autoscaling = Some(crd::AutoscalingSpec {
        min_replicas: 2,
        max_replicas: 6,
        target_cpu_utilization_percentage: 70,
        target_memory_utilization_percentage: None,
    });
    world.apply(&scaled).await;
    let autoscalers: Api<HorizontalPodAutoscaler> =
        Api::namespaced(world.client.clone(), &world.namespace);
    let deadline = Instant::now() + world.resync_wait;
    let autoscaler = loop {
        if let Some(found) = autoscalers.get_opt(name).await.expect("get the HPA") {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no HorizontalPodAutoscaler {name}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let spec = autoscaler.spec.expect("HPA spec");
    assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 6));
    assert_eq!(spec.scale_target_ref.name, name);
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.namespace);
    deployments
        .patch_scale(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("scale the Deployment as the autoscaler would");
    // The scale change starts a pass at once (the Deployment is watched); two in-process
    // resyncs cover the passes after it.
    tokio::time::sleep(IN_PROCESS_RESYNC * 2).await;
    let replicas = deployments
        .get(name)
        .await
        .expect("the Deployment")
        .spec
        .and_then(|spec| spec.replicas);
    assert_eq!(replicas, Some(4), "the autoscaler's count was put back");

    // Delete with Retain (the default): table and items kept (the cleanup deletes it).
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
}

/// Delete with `deletionPolicy: Delete`: a backup, then the table is gone.
#[tokio::test]
async fn delete_policy_backs_up_and_deletes_the_table() {
    e2e(
        "delete_policy_backs_up_and_deletes_the_table",
        "metricsapp-e2e-delete",
        delete_policy,
    )
    .await;
}

async fn delete_policy(world: World) {
    let image = required("E2E_APP_IMAGE");
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
}

/// A function triggered by the app's table stream: created with the app (Ready,
/// `functionsReady` 1/1, a mapping from the table's stream in Lambda), then deleted
/// with its mapping when it is removed from the spec.
#[tokio::test]
async fn function_with_a_table_stream_trigger_is_created_and_removed() {
    e2e(
        "function_with_a_table_stream_trigger_is_created_and_removed",
        "metricsapp-e2e-fn",
        function_lifecycle,
    )
    .await;
}

async fn function_lifecycle(world: World) {
    let image = required("E2E_APP_IMAGE");
    let table = format!("e2e-{}", short_id());
    let name = "metrics";
    let key = "rollup.zip";
    let (role, bucket) = world.function_code(key).await;
    let function_name = format!("{}-{name}-rollup", world.namespace);
    world.made().functions.insert(function_name.clone());

    let mut app = world.app(name, &image, &table);
    app.spec.table.stream = Some(StreamViewType::NewAndOldImages);
    let rollup: FunctionSpec = serde_json::from_value(json!({
        "name": "rollup",
        "code": {"s3": {"bucket": bucket, "key": key}},
        "roleArn": role,
        "trigger": {"tableStream": {"startingPosition": "TRIM_HORIZON", "batchSize": 100}},
    }))
    .expect("a valid function");
    app.spec.functions = vec![rollup];
    world.apply(&app).await;

    // Ready with the function and its trigger.
    let app = world.wait_ready(name, 1).await;
    let status: MetricsAppStatus = app.status.expect("status");
    assert_eq!(status.functions_ready.as_deref(), Some("1/1"));
    let stream_arn = status
        .table
        .as_ref()
        .and_then(|t| t.stream_arn.clone())
        .expect("status.table.streamArn once the stream is on");
    let described = world
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("the table exists");
    assert_eq!(
        described.table().and_then(|t| t.latest_stream_arn()),
        Some(stream_arn.as_str()),
        "status.table.streamArn is the table's stream"
    );
    let [reported] = status.functions.as_slice() else {
        panic!("one function in status: {:#?}", status.functions);
    };
    assert_eq!(reported.name, "rollup");
    assert_eq!(reported.function_name, function_name);
    assert_eq!(reported.state.as_deref(), Some("Active"));
    let got = world
        .lambda
        .get_function()
        .function_name(&function_name)
        .send()
        .await
        .expect("the function exists in Lambda");
    assert_eq!(
        got.configuration().and_then(|c| c.role()),
        Some(role.as_str())
    );
    let mappings = world.mappings_of(&function_name).await;
    let [mapping] = mappings.as_slice() else {
        panic!("one mapping for {function_name}: {mappings:#?}");
    };
    assert_eq!(mapping.event_source_arn(), Some(stream_arn.as_str()));
    assert_eq!(mapping.uuid(), reported.mapping_uuid.as_deref());
    assert!(!world.events_with_reason("FunctionCreated").await.is_empty());

    // Removed from the spec → deleted, with its mapping.
    let mut without_function = world.app(name, &image, &table);
    without_function.spec.table.stream = Some(StreamViewType::NewAndOldImages);
    world.apply(&without_function).await;
    let app = world
        .wait_for(
            name,
            "the removed function gone from the status",
            READY_WITHIN,
            |app| {
                let status = app.status.as_ref();
                status::is_ready(status)
                    && status.and_then(|s| s.observed_generation).unwrap_or(0) >= 2
                    && status.is_some_and(|s| s.functions.is_empty())
            },
        )
        .await;
    assert_eq!(
        app.status.and_then(|s| s.functions_ready),
        None,
        "no functions declared"
    );
    match world
        .lambda
        .get_function()
        .function_name(&function_name)
        .send()
        .await
    {
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        other => panic!("{function_name} should be deleted: {other:?}"),
    }
    assert!(
        world.mappings_of(&function_name).await.is_empty(),
        "the stream mapping went with the function"
    );
    assert!(!world.events_with_reason("FunctionDeleted").await.is_empty());

    world.delete_app_and_wait(name).await;
}

/// A new image whose pods never become ready is rolled back to the last good one by
/// the operator: `RolledBack` in the status and an Event, the Deployment on the good
/// image again with every replica ready, and Ready again once the spec goes back.
#[tokio::test]
async fn an_image_that_never_becomes_ready_is_rolled_back() {
    e2e(
        "an_image_that_never_becomes_ready_is_rolled_back",
        "metricsapp-e2e-rollback",
        rollback,
    )
    .await;
}

async fn rollback(world: World) {
    let good = required("E2E_APP_IMAGE");
    let broken = "registry.invalid/metricsapp/never-ready:0";
    let table = format!("e2e-{}", short_id());
    let name = "rollback";
    let mut app = world.app(name, &good, &table);
    app.spec.rollout.progress_deadline_seconds = 20;
    world.apply(&app).await;
    world.wait_ready(name, 1).await;

    app.spec.image = broken.into();
    world.apply(&app).await;
    let rolled = world
        .wait_for(name, "rolled back", READY_WITHIN, |app| {
            app.status
                .as_ref()
                .and_then(|status| status.rollback.as_ref())
                .is_some_and(|rollback| {
                    rollback.failed_image == broken && rollback.restored_image == good
                })
        })
        .await;
    let ready = status::find_condition(rolled.status.as_ref().unwrap(), status::READY)
        .expect("a Ready condition");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "RolledBack")
    );
    assert!(!world.events_with_reason("RolledBack").await.is_empty());

    // The good image serves again, with every replica.
    let deployments: Api<Deployment> = Api::namespaced(world.client.clone(), &world.namespace);
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let deployment = deployments.get(name).await.expect("get Deployment");
        let image = deployment
            .spec
            .as_ref()
            .and_then(|spec| spec.template.spec.as_ref())
            .and_then(|pod| pod.containers.first())
            .and_then(|container| container.image.clone());
        let available = deployment
            .status
            .as_ref()
            .and_then(|status| status.available_replicas)
            .unwrap_or(0);
        if image.as_deref() == Some(good.as_str()) && available >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Deployment {name} not back on {good} with 2 available replicas: image {image:?}, available {available}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Going back to the good image in the spec ends the rollback.
    app.spec.image = good.clone();
    world.apply(&app).await;
    let back = world.wait_ready(name, 3).await;
    assert!(back.status.unwrap().rollback.is_none());
}

/// The answer, or `None` when AWS answered that the resource does not exist (for a
/// cleanup, the outcome wanted); any other error described with `operation`.
fn if_found<T, E, R>(
    operation: &str,
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<Option<T>, String>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e)
            if e.as_service_error().and_then(|e| e.code()) == Some("ResourceNotFoundException") =>
        {
            Ok(None)
        }
        Err(e) => Err(format!("{operation}: {e:?}")),
    }
}
