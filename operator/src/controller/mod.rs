//! The reconciler: for each MetricsApp, bring its table, its functions and its app to
//! the spec, report the outcome in its status, Events and metrics, and on deletion
//! retain or delete its AWS resources before the finalizer lets the object go.
//!
//! The three parts converge independently: a throttled or broken table does not hold
//! back a new image, a refused Service does not stop the table, a failing function
//! stops neither. Each part reports on its own condition; every failure ends in a
//! status write and one Warning Event when it first appears.
//!
//! Requeue policy, per object (the shortest wait any part asks for):
//! - everything settled, or only terminal failures: the resync period (this is what
//!   finds drift in AWS, which no Kubernetes watch can see; terminal problems are not
//!   hot-looped against AWS);
//! - a part still settling (table CREATING/UPDATING, a function update in progress,
//!   more steps to come): a short delay that grows 2s, 4s, 8s ... up to 60s;
//! - a recoverable failure: exponential backoff from 2s up to a minute (so every app
//!   is retried at least once a minute however long AWS throttles), never shorter
//!   than what the failure asks for (DynamoDB's LimitExceeded clears slowly);
//! - a failed status write or finalizer update: the same backoff (`error_policy`).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use metricsapp_aws::table::DeletionPolicy;
use serde_json::json;
use tracing::warn;

use self::children::{Applied, apply_app};
use self::cleanup::cleanup;
use self::events::publish_failures;
use self::functions::reconcile_functions;
pub(crate) use self::memory::Memory;
use self::pass::Next;
use self::recorder::IdleRecorder;
use self::table_part::reconcile_table;

pub mod children;
mod cleanup;
mod events;
pub(crate) mod failures;
mod functions;
mod memory;
mod pass;
mod previews;
mod recorder;
mod table_part;

use crate::crd::{ManagementPolicy, MetricsApp, MetricsAppStatus};
use crate::expiry::{Expiry, expiry};
use crate::metrics::Metrics;
use crate::resources::{self, AppSettings};
use crate::status::{self, AppState, Observation};
use crate::{Error, FINALIZER, MANAGER, Result};

/// Shortest and longest wait while a part settles.
const SETTLE_FIRST: Duration = Duration::from_secs(2);
const SETTLE_MAX: Duration = Duration::from_secs(60);
/// Shortest and longest wait after a recoverable error.
const BACKOFF_FIRST: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// How the operator was configured.
#[derive(Debug, Clone)]
pub struct Settings {
    pub resync_period: Duration,
    pub default_deletion_policy: DeletionPolicy,
    pub app: AppSettings,
    /// Longest time the AWS side of one part (the table, the functions) may take in a
    /// pass; past it the part is reported as timed out and retried.
    pub aws_deadline: Duration,
    /// How long a full AWS read of a resource stands in for the next passes: until
    /// then a pass at rest reads it once to check nothing changed. Zero: always full.
    pub aws_full_read_period: Duration,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// How long a resource last seen settled keeps its condition (and `Ready`) while
    /// its reads fail for passing reasons (throttled, AWS 5xx, timeouts).
    pub transient_grace_period: Duration,
    /// What the administrator allows any MetricsApp to ask for.
    pub limits: crate::limits::Limits,
}

/// The AWS clients the operator uses.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub s3: aws_sdk_s3::Client,
}

impl AwsClients {
    /// The clients of `aws`, each with its own retry quota, counting calls in `counter`.
    pub fn new(aws: &aws_config::SdkConfig, counter: crate::aws_calls::AwsCallCounter) -> Self {
        use crate::aws_calls::retry_partition;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(aws)
                    .retry_partition(retry_partition("dynamodb"))
                    .interceptor(counter.clone())
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(aws)
                    .retry_partition(retry_partition("lambda"))
                    .interceptor(counter.clone())
                    .build(),
            ),
            // AWS-compatible endpoints (moto, MinIO) serve every bucket on one host:
            // virtual-host addressing would look up `<bucket>.<host>`.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(aws)
                    .force_path_style(aws.endpoint_url().is_some())
                    .retry_partition(retry_partition("s3"))
                    .interceptor(counter)
                    .build(),
            ),
        }
    }
}

/// The watch caches of the app's objects: the Deployment whole (its status tells the
/// rollout), the others as metadata only (a resourceVersion is all the operator
/// compares).
#[derive(Clone)]
pub struct Caches {
    pub deployments: Store<Deployment>,
    pub services: Store<PartialObjectMeta<Service>>,
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    pub service_accounts: Store<PartialObjectMeta<ServiceAccount>>,
    /// Token Secrets (labelled `metricsapp.dev/tokens`) with the names of their keys and
    /// none of their values: the operator only asks whether a key is there.
    pub secrets: Store<Secret>,
    pub autoscalers: Store<PartialObjectMeta<HorizontalPodAutoscaler>>,
    pub disruption_budgets: Store<PartialObjectMeta<PodDisruptionBudget>>,
    pub network_policies: Store<PartialObjectMeta<NetworkPolicy>>,
}

/// The writing side of [`Caches`], fed by the watches (or by tests).
pub struct CacheWriters {
    pub deployments: reflector::store::Writer<Deployment>,
    pub services: reflector::store::Writer<PartialObjectMeta<Service>>,
    pub config_maps: reflector::store::Writer<PartialObjectMeta<ConfigMap>>,
    pub service_accounts: reflector::store::Writer<PartialObjectMeta<ServiceAccount>>,
    pub secrets: reflector::store::Writer<Secret>,
    pub autoscalers: reflector::store::Writer<PartialObjectMeta<HorizontalPodAutoscaler>>,
    pub disruption_budgets: reflector::store::Writer<PartialObjectMeta<PodDisruptionBudget>>,
    pub network_policies: reflector::store::Writer<PartialObjectMeta<NetworkPolicy>>,
}

/// Empty caches and their writers.
pub fn caches() -> (Caches, CacheWriters) {
    let (deployments, deployments_writer) = reflector::store();
    let (services, services_writer) = reflector::store();
    let (config_maps, config_maps_writer) = reflector::store();
    let (service_accounts, service_accounts_writer) = reflector::store();
    let (secrets, secrets_writer) = reflector::store();
    let (autoscalers, autoscalers_writer) = reflector::store();
    let (disruption_budgets, disruption_budgets_writer) = reflector::store();
    let (network_policies, network_policies_writer) = reflector::store();
    (
        Caches {
            deployments,
            services,
            config_maps,
            service_accounts,
            secrets,
            autoscalers,
            disruption_budgets,
            network_policies,
        },
        CacheWriters {
            deployments: deployments_writer,
            services: services_writer,
            config_maps: config_maps_writer,
            service_accounts: service_accounts_writer,
            secrets: secrets_writer,
            autoscalers: autoscalers_writer,
            disruption_budgets: disruption_budgets_writer,
            network_policies: network_policies_writer,
        },
    )
}

/// What every reconcile pass shares.
pub struct Context {
    pub client: Client,
    pub aws: AwsClients,
    pub recorder: IdleRecorder,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    pub caches: Caches,
    /// Consecutive passes per object (`namespace/name`) spent waiting for a part to
    /// settle and spent failing, for the growing delays above.
    attempts: Mutex<HashMap<String, Attempts>>,
    /// What this process remembers between passes (see `memory`).
    memory: Mutex<Memory>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Attempts {
    settling: u32,
    failing: u32,
}

impl Context {
    pub fn new(
        client: Client,
        aws: AwsClients,
        metrics: Arc<Metrics>,
        settings: Settings,
        caches: Caches,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance,
        };
        Context {
            recorder: IdleRecorder::new(client.clone(), reporter),
            client,
            aws,
            metrics,
            settings,
            caches,
            attempts: Mutex::new(HashMap::new()),
            memory: Mutex::new(Memory::default()),
        }
    }

    /// Counts one more pass of `kind` for `key` and returns the count before it.
    fn bump(&self, key: &str, kind: fn(&mut Attempts) -> &mut u32) -> u32 {
        let mut attempts = self
            .attempts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let counter = kind(attempts.entry(key.to_owned()).or_default());
        let before = *counter;
        *counter = counter.saturating_add(1);
        before
    }

    fn reset(&self, key: &str, kind: fn(&mut Attempts) -> &mut u32) {
        let mut attempts = self
            .attempts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = attempts.get_mut(key) {
            *kind(entry) = 0;
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn last_applied(&self, record: &str) -> Option<Applied> {
        self.memory().applied.get(record).cloned()
    }

    fn remember_applied(&self, record: String, applied: Applied) {
        self.memory().applied.insert(record, applied);
    }

    fn forget_applied(&self, record: &str) {
        self.memory().applied.remove(record);
    }

    /// What this operator process remembers so far (tests carry it from pass to pass,
    /// as one process would).
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> Memory {
        self.memory().clone()
    }

    #[cfg(test)]
    pub(crate) fn carry(&self, memory: Memory) {
        *self.memory() = memory;
    }

    /// Drops what is kept in memory about a deleted MetricsApp.
    fn forget(&self, app: &MetricsApp) {
        let key = key(app);
        self.attempts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&key);
        self.memory().forget(&key);
    }
}

fn settling(attempts: &mut Attempts) -> &mut u32 {
    &mut attempts.settling
}

fn failing(attempts: &mut Attempts) -> &mut u32 {
    &mut attempts.failing
}

/// `first`, doubled per attempt, capped at `max`.
pub fn growing_delay(first: Duration, max: Duration, attempt: u32) -> Duration {
    first
        .checked_mul(2u32.saturating_pow(attempt.min(16)))
        .map_or(max, |delay| delay.min(max))
}

fn key(app: &MetricsApp) -> String {
    format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any())
}

/// One reconcile pass for `app` (the function the `Controller` calls).
pub async fn reconcile(app: Arc<MetricsApp>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started();
    ctx.recorder.forget_if_idle();
    let namespace = app
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let apps: Api<MetricsApp> = Api::namespaced(ctx.client.clone(), &namespace);
    finalizer(&apps, FINALIZER, app, |event| async {
        match event {
            finalizer::Event::Apply(app) => apply(app, &ctx).await,
            finalizer::Event::Cleanup(app) => cleanup(app, &ctx).await,
        }
    })
    .await
    .map_err(|error| Error::Finalizer(Box::new(error)))
}

/// What happens after a failed pass (the `Controller`'s error policy).
pub fn error_policy(app: Arc<MetricsApp>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(error.reason());
    let attempt = ctx.bump(&key(&app), failing);
    let delay = growing_delay(BACKOFF_FIRST, BACKOFF_MAX, attempt);
    warn!(app = %key(&app), %error, reason = error.reason(), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn apply(app: Arc<MetricsApp>, ctx: &Context) -> Result<Action> {
    let key = key(&app);
    let namespace = app
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let now = Time(Timestamp::now());
    // `expireAfter` comes first: a suspended or observed preview still expires.
    let (expires_at, expiry_check) = match expiry(&app, now.0).map_err(Error::InvalidSpec)? {
        Expiry::Never => (None, None),
        Expiry::Later { at, check_in } => (Some(Time(at)), Some(check_in)),
        Expiry::Soon { at, check_in } => {
            events::publish(
                &app,
                ctx,
                kube::runtime::events::EventType::Warning,
                "ExpiresSoon",
                "Expire",
                format!(
                    "spec.expireAfter: this MetricsApp is deleted at {at}; its table and \
                     functions follow their deletion policies"
                ),
            )
            .await;
            (Some(Time(at)), Some(check_in))
        }
        Expiry::Expired { at } => {
            events::publish(
                &app,
                ctx,
                kube::runtime::events::EventType::Warning,
                "Expired",
                "Delete",
                format!("spec.expireAfter: expired at {at}; the MetricsApp is deleted"),
            )
            .await;
            let apps: Api<MetricsApp> = Api::namespaced(ctx.client.clone(), &namespace);
            match apps.delete(&app.name_any(), &Default::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(Error::Kube(error)),
            }
            // The deletion comes back as a change; the finalizer's cleanup does the rest.
            return Ok(Action::await_change());
        }
    };
    // The next pass comes no later than the expiry's next moment.
    let requeue = |delay: Duration| Action::requeue(expiry_check.map_or(delay, |c| delay.min(c)));
    if let Some(refusal) = Box::pin(previews::refusal(&app, ctx)).await? {
        let already = app.status.as_ref().is_some_and(|status| {
            status::find_condition(status, status::READY).is_some_and(|ready| {
                ready.reason == "NotAllowed" && ready.message == refusal.message
            })
        });
        if !already {
            events::publish(
                &app,
                ctx,
                kube::runtime::events::EventType::Warning,
                "NotAllowed",
                "Refuse",
                refusal.message.clone(),
            )
            .await;
        }
        let mut status =
            status::refused_status(app.status.as_ref(), app.metadata.generation, &refusal, &now);
        status.expires_at = expires_at;
        patch_status(&app, ctx, &status).await?;
        ctx.metrics.set_ready(&namespace, &app.name_any(), false);
        ctx.metrics.reconcile_failed("NotAllowed");
        ctx.reset(&key, failing);
        return Ok(requeue(ctx.settings.resync_period));
    }
    if app.spec.suspend {
        let mut status =
            status::suspended_status(app.status.as_ref(), app.metadata.generation, &now);
        status.expires_at = expires_at;
        patch_status(&app, ctx, &status).await?;
        ctx.metrics.set_ready(&namespace, &app.name_any(), false);
        ctx.reset(&key, failing);
        return Ok(requeue(ctx.settings.resync_period));
    }

    if app.spec.management_policy == ManagementPolicy::Observe {
        // The same reads and planners as a pass, and no write to AWS or the app.
        let planned = Box::pin(crate::plan::plan(
            &app,
            &ctx.aws,
            &ctx.settings.app.name_prefix,
        ))
        .await?;
        let mut status =
            status::observed_status(app.status.as_ref(), app.metadata.generation, &planned, &now);
        status.expires_at = expires_at;
        patch_status(&app, ctx, &status).await?;
        ctx.reset(&key, failing);
        return Ok(requeue(ctx.settings.resync_period));
    }

    // Each part boxed: a pass holds them all, and a test thread's stack is small.
    let (table, table_next) = Box::pin(reconcile_table(&app, ctx)).await;
    let stream_arn = pass::stream_arn(&table, app.status.as_ref());
    let functions = Box::pin(reconcile_functions(&app, ctx, stream_arn.as_deref())).await;
    // A failed rollout of a new image puts back the last good one (the app keeps
    // serving) until the spec changes.
    let cached = ctx
        .caches
        .deployments
        .get(&kube::runtime::reflector::ObjectRef::new(&app.name_any()).within(&namespace));
    let rollback = crate::rollback::rollback(&app, cached.as_deref());
    let deployed = match &rollback {
        Some(rollback) => {
            let already = app
                .status
                .as_ref()
                .is_some_and(|status| status.rollback.as_ref() == Some(rollback));
            if !already {
                events::publish(
                    &app,
                    ctx,
                    kube::runtime::events::EventType::Warning,
                    "RolledBack",
                    "Rollback",
                    format!(
                        "image {} did not become ready within {}s; rolled back to {}",
                        rollback.failed_image,
                        app.spec.rollout.progress_deadline_seconds,
                        rollback.restored_image
                    ),
                )
                .await;
            }
            let mut restored = app.as_ref().clone();
            restored.spec.image = rollback.restored_image.clone();
            std::borrow::Cow::Owned(restored)
        }
        None => std::borrow::Cow::Borrowed(app.as_ref()),
    };
    let (app_state, app_failure) = if pass::table_known(&table, app.status.as_ref()) {
        Box::pin(apply_app(&deployed, ctx)).await
    } else {
        (AppState::WaitingForTable, None)
    };

    let outcome = pass::combine(&table, table_next, &functions, app_failure.as_ref());

    let observation = Observation {
        generation: app.metadata.generation,
        table,
        functions,
        app: app_state,
        app_failure,
        url: resources::url(&app),
        image: deployed.spec.image.clone(),
        rollback,
        transient_grace_period: ctx.settings.transient_grace_period,
    };
    let mut status = status::next_status(app.status.as_ref(), observation, &now);
    status.expires_at = expires_at;
    publish_failures(&app, ctx, &status, &outcome.failures).await;
    for (_, _, failure) in &outcome.failures {
        ctx.metrics.reconcile_failed(&failure.reason);
    }
    patch_status(&app, ctx, &status).await?;
    ctx.metrics
        .set_ready(&namespace, &app.name_any(), status::is_ready(Some(&status)));
    Ok(requeue(next_delay(ctx, &key, &outcome.nexts)))
}

/// The shortest wait any part asks for, counting attempts for the growing delays.
fn next_delay(ctx: &Context, key: &str, nexts: &[Next]) -> Duration {
    let pass::Wait { retry, settle } = pass::wait(nexts);
    let mut delay = ctx.settings.resync_period;
    match retry {
        Some(floor) => {
            let attempt = ctx.bump(key, failing);
            delay = delay.min(growing_delay(BACKOFF_FIRST, BACKOFF_MAX, attempt).max(floor));
        }
        None => ctx.reset(key, failing),
    }
    if settle {
        let attempt = ctx.bump(key, settling);
        delay = delay.min(growing_delay(SETTLE_FIRST, SETTLE_MAX, attempt));
    } else {
        ctx.reset(key, settling);
    }
    delay
}

async fn patch_status(app: &MetricsApp, ctx: &Context, status: &MetricsAppStatus) -> Result<()> {
    if app.status.as_ref() == Some(status) {
        return Ok(());
    }
    let namespace = app
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let apps: Api<MetricsApp> = Api::namespaced(ctx.client.clone(), &namespace);
    let serialize = |status: &MetricsAppStatus| {
        serde_json::to_value(status).map_err(|source| Error::Serialize {
            what: "MetricsApp status",
            source,
        })
    };
    let before = app.status.as_ref().map(serialize).transpose()?;
    let patch = json!({ "status": merge_patch(before.as_ref(), &serialize(status)?) });
    apps.patch_status(
        &app.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// The JSON merge patch (RFC 7386) that turns `before` into `after`: a field that
/// became empty (and so is no longer serialized) must be sent as `null`, or the API
/// server keeps the old value — a removed function would stay in the status.
fn merge_patch(before: Option<&serde_json::Value>, after: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (before, after) {
        (Some(Value::Object(before)), Value::Object(after)) => {
            let mut patch = serde_json::Map::new();
            for (key, value) in after {
                patch.insert(key.clone(), merge_patch(before.get(key), value));
            }
            for key in before.keys().filter(|key| !after.contains_key(*key)) {
                patch.insert(key.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        (_, after) => after.clone(),
    }
}

/// What a pass depends on besides the spec: a change of any of these starts a pass, a
/// status-only change (the operator's own status writes) does not.
fn spec_or_lifecycle(app: &MetricsApp) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    predicates::generation(app).hash(&mut hasher);
    predicates::finalizers(app).hash(&mut hasher);
    app.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    app.annotations()
        .get(crate::table::RECREATE_ANNOTATION)
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// Drops what the operator never reads from a cached object, to keep the caches small.
fn prune<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
    if let Some(annotations) = object.meta_mut().annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A cached Secret keeps its metadata and the names of its keys; every value is
/// dropped on arrival, so no secret stays in the operator's memory.
pub fn strip_secret(secret: &mut Secret) {
    prune(secret);
    secret.string_data = None;
    if let Some(data) = secret.data.as_mut() {
        for value in data.values_mut() {
            value.0.clear();
        }
    }
}

/// Lists MetricsApps once: fails when the CRD is missing or the operator may not list
/// them. Readiness waits for it.
pub async fn can_list(client: &Client, namespace: Option<&str>) -> Result<()> {
    let apps: Api<MetricsApp> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    apps.list(&ListParams::default().limit(1))
        .await
        .map_err(|error| {
            Error::Config(format!(
                "cannot list MetricsApps ({error}); is the CRD installed (kubectl apply --server-side -f crds/metricsapp.yaml) and is the operator allowed to list them?"
            ))
        })?;
    Ok(())
}

/// A cached Deployment keeps what the operator reads: metadata, status and the image of
/// each container (for the rollout, Events and rollback); the rest of the pod template
/// is most of its size.
fn prune_deployment(deployment: &mut Deployment) {
    prune(deployment);
    if let Some(pod) = deployment
        .spec
        .as_mut()
        .and_then(|spec| spec.template.spec.as_mut())
    {
        let containers = std::mem::take(&mut pod.containers)
            .into_iter()
            .map(|container| k8s_openapi::api::core::v1::Container {
                name: container.name,
                image: container.image,
                ..Default::default()
            })
            .collect();
        *pod = k8s_openapi::api::core::v1::PodSpec {
            containers,
            ..Default::default()
        };
    }
    if let Some(spec) = deployment.spec.as_mut() {
        spec.template.metadata = None;
    }
}

/// Runs the controller until `shutdown` completes, feeding `writers`. Fails fast when
/// the CRD is not installed, rather than retrying a watch that cannot work; `ready` is
/// set once MetricsApps could be listed.
pub async fn run(
    ctx: Arc<Context>,
    writers: CacheWriters,
    namespace: Option<&str>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<()> {
    let client = ctx.client.clone();
    can_list(&client, namespace).await?;
    ready.store(true, Ordering::Relaxed);
    let apps: Api<MetricsApp> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let owned =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"));
    let (reader, writer) = reflector::store();
    let apps_stream = watcher(apps, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(prune)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(spec_or_lifecycle, Default::default());
    let deployments = watcher(
        namespaced_or_all::<Deployment>(&client, namespace),
        owned.clone(),
    )
    .default_backoff()
    .modify(prune_deployment)
    .reflect(writers.deployments)
    .touched_objects();
    let services = watcher(
        namespaced_or_all::<PartialObjectMeta<Service>>(&client, namespace),
        owned.clone(),
    )
    .default_backoff()
    .modify(prune)
    .reflect(writers.services)
    .touched_objects();
    let config_maps = watcher(
        namespaced_or_all::<PartialObjectMeta<ConfigMap>>(&client, namespace),
        owned.clone(),
    )
    .default_backoff()
    .modify(prune)
    .reflect(writers.config_maps)
    .touched_objects();
    let autoscalers = watcher(
        namespaced_or_all::<PartialObjectMeta<HorizontalPodAutoscaler>>(&client, namespace),
        owned.clone(),
    )
    .default_backoff()
    .modify(prune)
    .reflect(writers.autoscalers)
    .touched_objects();
    let disruption_budgets = watcher(
        namespaced_or_all::<PartialObjectMeta<PodDisruptionBudget>>(&client, namespace),
        owned.clone(),
    )
    .default_backoff()
    .modify(prune)
    .reflect(writers.disruption_budgets)
    .touched_objects();
    let network_policies = watcher(
        namespaced_or_all::<PartialObjectMeta<NetworkPolicy>>(&client, namespace),
        owned.clone(),
    )
    .default_backoff()
    .modify(prune)
    .reflect(writers.network_policies)
    .touched_objects();
    let service_accounts = watcher(
        namespaced_or_all::<PartialObjectMeta<ServiceAccount>>(&client, namespace),
        owned,
    )
    .default_backoff()
    .modify(prune)
    .reflect(writers.service_accounts)
    .touched_objects();
    let secrets = watcher(
        namespaced_or_all::<Secret>(&client, namespace),
        watcher::Config::default().labels(resources::auth::TOKENS_LABEL),
    )
    .default_backoff()
    .modify(strip_secret)
    .reflect(writers.secrets)
    .touched_objects();
    let config = kube::runtime::controller::Config::default()
        // A rollout changes the Deployment's status many times a second; one pass
        // after the burst is enough.
        .debounce(Duration::from_secs(1))
        .concurrency(ctx.settings.concurrency);
    Controller::for_stream(apps_stream, reader)
        .with_config(config)
        .owns_stream(deployments)
        .owns_stream(services)
        .owns_stream(config_maps)
        .owns_stream(service_accounts)
        .owns_stream(autoscalers)
        .owns_stream(disruption_budgets)
        .owns_stream(network_policies)
        // A referenced Secret is not owned by its MetricsApp: a change of one (a session
        // key added) is seen on the next pass, which a missing key makes come soon.
        .owns_stream(secrets)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                warn!(%error, "controller");
            }
        })
        .await;
    Ok(())
}

fn namespaced_or_all<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_that_became_empty_is_removed_by_the_status_patch() {
        let before = json!({
            "functions": [{"name": "old"}],
            "functionsReady": "1/1",
            "table": {"name": "t", "streamArn": "arn:stream"},
            "image": "a",
        });
        let after = json!({"table": {"name": "t"}, "image": "b"});
        assert_eq!(
            merge_patch(Some(&before), &after),
            json!({
                "functions": null,
                "functionsReady": null,
                "table": {"name": "t", "streamArn": null},
                "image": "b",
            })
        );
        assert_eq!(merge_patch(None, &after), after);
    }

    #[test]
    fn a_cached_deployment_keeps_what_the_operator_reads() {
        use crate::fixtures::MetricsAppExt;
        let app = MetricsApp::test();
        let settings = crate::resources::AppSettings {
            region: "us-east-1".into(),
            name_prefix: String::new(),
        };
        let config = crate::resources::config_map(&app, &settings).unwrap();
        let mut deployment = crate::resources::deployment(&app, &config).unwrap();
        deployment.metadata.generation = Some(3);
        deployment.status = Some(Default::default());
        let full = serde_json::to_vec(&deployment).unwrap().len();
        prune_deployment(&mut deployment);
        let pruned = serde_json::to_vec(&deployment).unwrap().len();
        assert_eq!(
            crate::rollback::template_image(&deployment),
            Some("ghcr.io/metricsapp/metrics-app:1")
        );
        assert_eq!(deployment.metadata.generation, Some(3));
        assert!(deployment.status.is_some());
        assert!(pruned * 2 < full, "pruned {pruned} bytes of {full}");
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let delays: Vec<u64> = (0..8)
            .map(|attempt| growing_delay(SETTLE_FIRST, SETTLE_MAX, attempt).as_secs())
            .collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(
            growing_delay(BACKOFF_FIRST, BACKOFF_MAX, u32::MAX),
            BACKOFF_MAX
        );
    }
}
