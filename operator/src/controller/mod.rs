//! The reconciler: for each MetricsApp, bring its table and its app to the spec,
//! report the outcome in its status, Events and metrics, and on deletion retain or
//! delete the table before the finalizer lets the object go.
//!
//! Requeue policy, per object:
//! - table settled and nothing failed: check again after the resync period (this is
//!   what finds table drift, which no Kubernetes watch can see);
//! - table still CREATING/UPDATING or with changes left (DynamoDB takes one at a time):
//!   a short delay that grows 2s, 4s, 8s ... up to 60s;
//! - terminal table error (bad input AWS refuses, a table owned by someone else):
//!   reported in the conditions and checked again only at the resync period, so a
//!   broken spec does not hot-loop against AWS;
//! - any other error: exponential backoff from 2s up to 5 minutes (`error_policy`).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use metricsapp_aws::table::{DeletionPolicy, TableReport};
use serde_json::json;
use tracing::warn;

use self::children::apply_app;
use self::cleanup::cleanup;
use self::events::{already_reported, publish, publish_table_events};

mod children;
mod cleanup;
mod events;

use crate::crd::{MetricsApp, MetricsAppStatus};
use crate::metrics::Metrics;
use crate::resources::{self, AppSettings};
use crate::status::{self, AppState, Failure, Observation, TableState};
use crate::{Error, FINALIZER, MANAGER, Result, table};

/// Shortest and longest wait while a table settles.
const SETTLE_FIRST: Duration = Duration::from_secs(2);
const SETTLE_MAX: Duration = Duration::from_secs(60);
/// Shortest and longest wait after a recoverable error.
const BACKOFF_FIRST: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// How the operator was configured.
#[derive(Debug, Clone)]
pub struct Settings {
    pub resync_period: Duration,
    pub default_deletion_policy: DeletionPolicy,
    pub app: AppSettings,
}

/// What every reconcile pass shares.
pub struct Context {
    pub client: Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    /// Consecutive passes per object (`namespace/name`) spent waiting for the table
    /// and spent failing, for the growing delays above.
    attempts: Mutex<HashMap<String, Attempts>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Attempts {
    settling: u32,
    failing: u32,
}

impl Context {
    pub fn new(
        client: Client,
        dynamodb: aws_sdk_dynamodb::Client,
        metrics: Arc<Metrics>,
        settings: Settings,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance,
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            dynamodb,
            metrics,
            settings,
            attempts: Mutex::new(HashMap::new()),
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

    fn forget(&self, key: &str) {
        let mut attempts = self
            .attempts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        attempts.remove(key);
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
    if app.spec.suspend {
        let status = status::suspended_status(app.status.as_ref(), app.metadata.generation, &now);
        patch_status(&app, ctx, &status).await?;
        ctx.metrics.set_ready(&namespace, &app.name_any(), false);
        ctx.reset(&key, failing);
        return Ok(Action::requeue(ctx.settings.resync_period));
    }

    let table_result = reconcile_table(&app, ctx).await;
    let table_state = match &table_result {
        Ok(report) => {
            publish_table_events(&app, ctx, &report.name, &report.changes).await;
            if report.settled {
                TableState::Settled(table::table_status(report))
            } else {
                TableState::InProgress(table::table_status(report))
            }
        }
        Err(error) => {
            // Changes made before the failure still deserve their Events.
            if let (Error::Table(table_error), Ok(name)) = (error, table::table_name(&app)) {
                publish_table_events(&app, ctx, &name, table_error.changes()).await;
            }
            TableState::Failed {
                table: None,
                failure: failure(error),
            }
        }
    };

    let app_state = match table_state {
        TableState::Failed { .. } => AppState::WaitingForTable,
        TableState::Settled(_) | TableState::InProgress(_) => apply_app(&app, ctx).await?,
    };

    let observation = Observation {
        generation: app.metadata.generation,
        table: table_state,
        app: app_state,
        url: resources::url(&app),
        image: app.spec.image.clone(),
    };
    let failed = match &observation.table {
        TableState::Failed { failure, .. } => Some(failure.clone()),
        TableState::Settled(_) | TableState::InProgress(_) => None,
    };
    let status = status::next_status(app.status.as_ref(), observation, &now);
    if let Some(failure) = failed
        && !already_reported(&app, &failure)
    {
        let note = status::find_condition(&status, status::TABLE_READY).map_or_else(
            || failure.message.clone(),
            |condition| condition.message.clone(),
        );
        publish(
            &app,
            ctx,
            EventType::Warning,
            &failure.reason,
            "ReconcileTable",
            note,
        )
        .await;
    }
    patch_status(&app, ctx, &status).await?;
    ctx.metrics
        .set_ready(&namespace, &app.name_any(), status::is_ready(Some(&status)));

    match table_result {
        Ok(report) if report.settled => {
            ctx.reset(&key, settling);
            ctx.reset(&key, failing);
            Ok(Action::requeue(ctx.settings.resync_period))
        }
        Ok(_) => {
            ctx.reset(&key, failing);
            let attempt = ctx.bump(&key, settling);
            Ok(Action::requeue(growing_delay(
                SETTLE_FIRST,
                SETTLE_MAX,
                attempt,
            )))
        }
        Err(error @ Error::Table(_)) | Err(error @ Error::InvalidSpec(_))
            if is_terminal(&error) =>
        {
            ctx.metrics.reconcile_failed(error.reason());
            warn!(app = %key, %error, reason = error.reason(), "terminal table error; next check at resync");
            Ok(Action::requeue(ctx.settings.resync_period))
        }
        Err(error) => Err(error),
    }
}

async fn reconcile_table(app: &MetricsApp, ctx: &Context) -> Result<TableReport> {
    let desired = table::desired_table(app)?;
    let owner = table::owner(app)?;
    Ok(
        metricsapp_aws::table::reconcile(&ctx.dynamodb, &desired, &owner, app.spec.table.adopt)
            .await?,
    )
}

fn is_terminal(error: &Error) -> bool {
    match error {
        Error::Table(error) => error.is_terminal(),
        Error::InvalidSpec(_) => true,
        Error::Kube(_)
        | Error::Finalizer(_)
        | Error::Serialize { .. }
        | Error::MissingMetadata(_)
        | Error::Config(_)
        | Error::LeaderElection(_)
        | Error::LeaseLost
        | Error::MetricsServer { .. }
        | Error::KubeConfig(_) => false,
    }
}

fn failure(error: &Error) -> Failure {
    Failure {
        reason: error.reason().to_owned(),
        message: error.to_string(),
        terminal: is_terminal(error),
    }
}

async fn patch_status(app: &MetricsApp, ctx: &Context, status: &MetricsAppStatus) -> Result<()> {
    if app.status.as_ref() == Some(status) {
        return Ok(());
    }
    let namespace = app
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let apps: Api<MetricsApp> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({ "status": status });
    apps.patch_status(
        &app.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Runs the controller until `shutdown` completes. Fails fast when the CRD is not
/// installed, rather than retrying a watch that cannot work.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<()> {
    let client = ctx.client.clone();
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
    let owned =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"));
    Controller::new(apps, watcher::Config::default().any_semantic())
        // A rollout changes the Deployment's status many times a second; one pass
        // after the burst is enough.
        .with_config(kube::runtime::controller::Config::default().debounce(Duration::from_secs(1)))
        .owns(
            namespaced_or_all::<Deployment>(&client, namespace),
            owned.clone(),
        )
        .owns(
            namespaced_or_all::<Service>(&client, namespace),
            owned.clone(),
        )
        .owns(
            namespaced_or_all::<ConfigMap>(&client, namespace),
            owned.clone(),
        )
        .owns(
            namespaced_or_all::<ServiceAccount>(&client, namespace),
            owned,
        )
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
