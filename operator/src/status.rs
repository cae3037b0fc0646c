//! The status a MetricsApp should show, from what one reconcile pass saw. Pure: the
//! controller writes the result only when it differs from the current status.
//!
//! Conditions follow the Kubernetes conventions: `lastTransitionTime` moves only when
//! a condition's status changes, each carries the generation it describes, and the
//! reason says whether a problem is terminal (the spec or the table must change) or
//! recoverable (retried with backoff).
//!
//! `Ready` says whether the app and its resources work, not whether the last read of
//! AWS succeeded: a read that fails for a passing reason (throttled, an AWS 5xx, a
//! timeout) on a resource last seen settled keeps its condition and `Ready` as they
//! were, and shows on `Synced`; only when such failures outlast the grace period
//! (counted from `Synced`'s lastTransitionTime) do they reach `Ready`.

use std::time::Duration;

use k8s_openapi::api::apps::v1::DeploymentStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{FunctionStatus, MetricsAppStatus, PlanStatus, RollbackStatus, TableStatus};

pub const READY: &str = "Ready";
pub const TABLE_READY: &str = "TableReady";
pub const FUNCTIONS_READY: &str = "FunctionsReady";
pub const AVAILABLE: &str = "Available";
pub const TERMINAL: &str = "Terminal";
pub const SYNCED: &str = "Synced";
/// kstatus's abnormal-true conditions, read by Flux's `wait` and health checks: True
/// while the operator converges, True when only a spec change can help.
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Where the table stands after this pass.
#[derive(Debug, Clone, PartialEq)]
pub enum TableState {
    /// ACTIVE and matching the spec.
    Settled(TableStatus),
    /// AWS is still working, or more changes follow in later passes.
    InProgress(TableStatus),
    /// The pass failed; `table` is what was known before.
    Failed {
        table: Option<TableStatus>,
        failure: Failure,
    },
    /// The table could not be read for a passing reason (throttled, an AWS 5xx, a
    /// timeout, no connection) and nothing was changed: this says nothing about the
    /// table itself.
    Unread(Failure),
}

/// A failed part of a pass, as the conditions tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// CamelCase reason, e.g. `TableConflict`, `Throttled`, `ServiceApplyFailed`.
    pub reason: String,
    /// What AWS or the API server said, with what it was about.
    pub message: String,
    /// Terminal: retrying cannot help until the spec or the resource changes.
    pub terminal: bool,
}

/// Where the app's Deployment stands after this pass.
#[derive(Debug, Clone, PartialEq)]
pub enum AppState {
    /// The Deployment as applied or last seen: its generation and status (`None`
    /// before the first).
    Deployed {
        replicas: i32,
        generation: Option<i64>,
        status: Option<DeploymentStatus>,
    },
    /// Not applied because the table has never been usable yet.
    WaitingForTable,
    /// Not applied (the apply failed) and not known from an earlier pass.
    Unknown,
}

/// One function after this pass: its status line and how it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionOutcome {
    pub status: FunctionStatus,
    /// Still in the spec (false: removed, being deleted).
    pub declared: bool,
    pub state: PartState,
}

/// How one part (a function) stands after this pass.
#[derive(Debug, Clone, PartialEq)]
pub enum PartState {
    /// Matches the spec; nothing in progress.
    Settled,
    /// AWS is working, or more steps follow: what is awaited.
    InProgress(String),
    /// The part failed this pass.
    Failed(Failure),
    /// The part could not be read for a passing reason, as [`TableState::Unread`].
    Unread(Failure),
}

/// What one pass saw, besides the previous status.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub generation: Option<i64>,
    pub table: TableState,
    pub functions: Vec<FunctionOutcome>,
    pub app: AppState,
    /// An app object (ServiceAccount, ConfigMap, Service, Deployment) that could not
    /// be applied this pass.
    pub app_failure: Option<Failure>,
    pub url: Option<String>,
    /// The image the Deployment is meant to run this pass: the spec's, or the restored
    /// one during a rollback.
    pub image: String,
    /// The automatic rollback in force, if any.
    pub rollback: Option<RollbackStatus>,
    /// How long unread resources last seen settled keep their conditions
    /// (`--transient-grace-period`).
    pub transient_grace_period: Duration,
}

/// The status after a pass.
pub fn next_status(
    previous: Option<&MetricsAppStatus>,
    observation: Observation,
    now: &Time,
) -> MetricsAppStatus {
    let previous = previous.cloned().unwrap_or_default();
    let generation = observation.generation;
    let grace = within_grace(
        &previous.conditions,
        observation.transient_grace_period,
        now,
    );
    // A part last seen settled for this generation, now only unread, is still settled.
    let settled_before = |kind: &str| {
        find(&previous.conditions, kind)
            .filter(|c| c.status == "True" && c.observed_generation == generation)
            .map(Verdict::of)
    };
    let table_held = match &observation.table {
        TableState::Unread(_) if grace => settled_before(TABLE_READY),
        TableState::Settled(_)
        | TableState::InProgress(_)
        | TableState::Failed { .. }
        | TableState::Unread(_) => None,
    };
    let functions_unread_only = observation
        .functions
        .iter()
        .all(|f| matches!(f.state, PartState::Settled | PartState::Unread(_)))
        && observation
            .functions
            .iter()
            .any(|f| matches!(f.state, PartState::Unread(_)));
    let functions_held = if functions_unread_only && grace {
        settled_before(FUNCTIONS_READY)
    } else {
        None
    };
    let functions_are_held = functions_held.is_some();
    let synced = synced_condition(&observation, table_held.is_some() || functions_are_held);
    let table_ready = table_held.unwrap_or_else(|| table_condition(&observation.table));
    let functions_ready =
        functions_held.unwrap_or_else(|| functions_condition(&observation.functions));
    let rollout = match &observation.app {
        AppState::Deployed {
            replicas,
            generation,
            status,
        } => rollout(*replicas, *generation, status.as_ref()),
        AppState::WaitingForTable | AppState::Unknown => Rollout::Progressing(String::new()),
    };
    let available = match (&observation.app_failure, &observation.app) {
        (Some(failure), _) => failure_verdict(failure),
        (
            None,
            AppState::Deployed {
                replicas, status, ..
            },
        ) => available_condition(*replicas, status.as_ref()),
        (None, AppState::WaitingForTable | AppState::Unknown) => Verdict::unknown(
            "WaitingForTable",
            "the app is deployed once its table has been created",
        ),
    };
    let terminal = terminal_condition(&observation);
    let ready = match &observation.rollback {
        Some(rollback) => Verdict::new(
            false,
            "RolledBack",
            format!(
                "image {} did not become ready within the progress deadline; the app runs {} again until spec.image changes",
                rollback.failed_image, rollback.restored_image
            ),
        ),
        None => ready_condition(&[&table_ready, &functions_ready, &available], &rollout),
    };
    // The image the app runs is the spec's only once every replica runs it.
    let running_image = match rollout {
        Rollout::Complete => Some(observation.image.clone()),
        Rollout::Progressing(_) | Rollout::Failed(_) => previous.image.clone(),
    };
    let (reconciling, stalled) = kstatus_conditions(&ready, &terminal);
    let conditions = [
        (READY, ready),
        (TABLE_READY, table_ready),
        (FUNCTIONS_READY, functions_ready),
        (AVAILABLE, available),
        (TERMINAL, terminal),
        (SYNCED, synced),
        (RECONCILING, reconciling),
        (STALLED, stalled),
    ]
    .into_iter()
    .map(|(kind, verdict)| condition(&previous.conditions, kind, verdict, generation, now))
    .collect();
    let table = match &observation.table {
        TableState::Settled(table) | TableState::InProgress(table) => Some(table.clone()),
        TableState::Failed { table, .. } => table.clone().or(previous.table),
        TableState::Unread(_) => previous.table,
    };
    let (ready_replicas, image) = match &observation.app {
        AppState::Deployed { status, .. } => (
            Some(status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)),
            running_image,
        ),
        AppState::WaitingForTable | AppState::Unknown => (previous.ready_replicas, previous.image),
    };
    let declared: Vec<&FunctionOutcome> = observation
        .functions
        .iter()
        .filter(|f| f.declared)
        .collect();
    let functions_ready = (!declared.is_empty()).then(|| {
        let settled = declared
            .iter()
            .filter(|f| match f.state {
                PartState::Settled => true,
                PartState::Unread(_) => functions_are_held,
                PartState::InProgress(_) | PartState::Failed(_) => false,
            })
            .count();
        format!("{settled}/{}", declared.len())
    });
    MetricsAppStatus {
        observed_generation: generation,
        conditions,
        table,
        url: observation.url,
        image,
        ready_replicas,
        functions: observation
            .functions
            .into_iter()
            .map(|function| function.status)
            .collect(),
        functions_ready,
        rollback: observation.rollback,
        expires_at: previous.expires_at,
        plan: None,
    }
}

/// `Reconciling` and `Stalled`, as kstatus reads them: Stalled when the operator has
/// stopped trying (Terminal, or a rollout that failed or was rolled back), Reconciling
/// while it is still converging; both False once Ready.
fn kstatus_conditions(ready: &Verdict, terminal: &Verdict) -> (Verdict, Verdict) {
    let rolled_back = matches!(ready.reason.as_str(), "RolledBack" | "RolloutFailed");
    let stalled = if terminal.status == "True" {
        Verdict::new(true, &terminal.reason, terminal.message.clone())
    } else if rolled_back {
        Verdict::new(true, &ready.reason, ready.message.clone())
    } else {
        Verdict::new(false, "NotStalled", "the operator is not stuck")
    };
    let reconciling = if ready.status == "True" {
        Verdict::new(
            false,
            "Reconciled",
            "the app and its resources match the spec",
        )
    } else if stalled.status == "True" {
        Verdict::new(false, "Stalled", "stalled: see the Stalled condition")
    } else {
        Verdict::new(true, &ready.reason, ready.message.clone())
    };
    (reconciling, stalled)
}

/// The most steps `status.plan` lists.
pub const PLAN_STEPS: usize = 20;

/// The status under `managementPolicy: Observe`: the pending steps in `plan`, `Synced`
/// says whether any are pending; everything else is kept as it was.
pub fn observed_status(
    previous: Option<&MetricsAppStatus>,
    generation: Option<i64>,
    planned: &crate::plan::AppPlan,
    now: &Time,
) -> MetricsAppStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let steps: Vec<String> = planned
        .resources
        .iter()
        .flat_map(|resource| {
            let refusal = resource
                .refused
                .iter()
                .map(move |why| format!("{} {}: refused: {why}", resource.kind, resource.name));
            let steps = resource
                .steps
                .iter()
                .chain(&resource.later)
                .map(move |step| {
                    let mark = if step.destructive.is_some() { "! " } else { "" };
                    format!("{mark}{} {}: {}", resource.kind, resource.name, step.change)
                });
            refusal.chain(steps)
        })
        .collect();
    let verdict = match steps.len() {
        0 => Verdict::new(
            true,
            "Observed",
            "managementPolicy is Observe: nothing to change",
        ),
        n => Verdict::new(
            false,
            "PlanPending",
            format!(
                "managementPolicy is Observe: {n} step(s) pending in status.plan; set \
                 managementPolicy: Manage to apply them"
            ),
        ),
    };
    let synced = condition(&status.conditions, SYNCED, verdict, generation, now);
    status.conditions.retain(|c| c.type_ != SYNCED);
    status.conditions.push(synced);
    status.plan = Some(PlanStatus {
        more: i32::try_from(steps.len().saturating_sub(PLAN_STEPS)).unwrap_or(i32::MAX),
        steps: steps.into_iter().take(PLAN_STEPS).collect(),
    });
    status.observed_generation = generation;
    status
}

/// The status while `suspend` is true: Ready says so, everything else is kept.
pub fn suspended_status(
    previous: Option<&MetricsAppStatus>,
    generation: Option<i64>,
    now: &Time,
) -> MetricsAppStatus {
    held_status(
        previous,
        generation,
        Verdict::new(
            false,
            "Suspended",
            "spec.suspend is true: the operator leaves the table, the functions and the app as they are",
        ),
        now,
    )
}

/// The status of a MetricsApp the administrator's limits refuse as a whole (see
/// `limits::check_preview`): nothing is created or changed; Ready and Stalled name the
/// limit, everything else is kept.
pub fn refused_status(
    previous: Option<&MetricsAppStatus>,
    generation: Option<i64>,
    refusal: &crate::limits::Refusal,
    now: &Time,
) -> MetricsAppStatus {
    let ready = Verdict::new(false, "NotAllowed", refusal.message.clone());
    let mut status = held_status(previous, generation, ready, now);
    let refused = Verdict::new(true, "NotAllowed", refusal.message.clone());
    let idle = Verdict::new(
        false,
        "NotAllowed",
        "refused: nothing to do until the spec or the limit changes",
    );
    for (kind, verdict) in [
        (TERMINAL, &refused),
        (STALLED, &refused),
        (RECONCILING, &idle),
    ] {
        let updated = condition(&status.conditions, kind, verdict.clone(), generation, now);
        status.conditions.retain(|c| c.type_ != kind);
        status.conditions.push(updated);
    }
    status
}

/// Everything as it was but Ready, which says why the operator holds back.
fn held_status(
    previous: Option<&MetricsAppStatus>,
    generation: Option<i64>,
    ready: Verdict,
    now: &Time,
) -> MetricsAppStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let ready = condition(&status.conditions, READY, ready, generation, now);
    status.conditions.retain(|c| c.type_ != READY);
    status.conditions.insert(0, ready);
    status.observed_generation = generation;
    status
}

/// The condition of type `kind`, if the status has one.
pub fn find_condition<'a>(status: &'a MetricsAppStatus, kind: &str) -> Option<&'a Condition> {
    find(&status.conditions, kind)
}

/// Whether the Ready condition is True.
pub fn is_ready(status: Option<&MetricsAppStatus>) -> bool {
    status
        .and_then(|status| find(&status.conditions, READY))
        .is_some_and(|condition| condition.status == "True")
}

#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    status: String,
    reason: String,
    message: String,
}

impl Verdict {
    fn of(condition: &Condition) -> Self {
        Verdict {
            status: condition.status.clone(),
            reason: condition.reason.clone(),
            message: condition.message.clone(),
        }
    }

    fn new(ok: bool, reason: &str, message: impl Into<String>) -> Self {
        Verdict {
            status: if ok { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn unknown(reason: &str, message: &str) -> Self {
        Verdict {
            status: "Unknown".into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn is_true(&self) -> bool {
        self.status == "True"
    }
}

fn failure_verdict(failure: &Failure) -> Verdict {
    let hint = if failure.terminal {
        "terminal: fix the MetricsApp spec or the resource; not retried before the next resync"
    } else {
        "recoverable: retried with backoff"
    };
    Verdict::new(
        false,
        &failure.reason,
        format!("{} ({hint})", failure.message),
    )
}

fn table_condition(table: &TableState) -> Verdict {
    match table {
        TableState::Settled(table) => Verdict::new(
            true,
            "TableActive",
            format!("table {} is ACTIVE and matches the spec", table.name),
        ),
        TableState::InProgress(table) => Verdict::new(
            false,
            "TableProgressing",
            format!(
                "table {} is {}; the operator checks again shortly",
                table.name,
                table.status.as_deref().unwrap_or("being changed")
            ),
        ),
        TableState::Failed { failure, .. } | TableState::Unread(failure) => {
            failure_verdict(failure)
        }
    }
}

fn functions_condition(functions: &[FunctionOutcome]) -> Verdict {
    if let Some((function, failure)) = functions.iter().find_map(|f| match &f.state {
        PartState::Failed(failure) | PartState::Unread(failure) => Some((f, failure)),
        PartState::Settled | PartState::InProgress(_) => None,
    }) {
        let mut failure = failure.clone();
        failure.message = format!("function {}: {}", function.status.name, failure.message);
        return failure_verdict(&failure);
    }
    let waiting: Vec<String> = functions
        .iter()
        .filter_map(|f| match &f.state {
            PartState::InProgress(what) => Some(format!("{}: {what}", f.status.name)),
            PartState::Settled | PartState::Failed(_) | PartState::Unread(_) => None,
        })
        .collect();
    if !waiting.is_empty() {
        return Verdict::new(false, "FunctionsProgressing", waiting.join("; "));
    }
    let declared = functions.iter().filter(|f| f.declared).count();
    match declared {
        0 => Verdict::new(true, "NoFunctions", "spec.functions is empty"),
        1 => Verdict::new(
            true,
            "FunctionsActive",
            "the function is Active and matches the spec",
        ),
        n => Verdict::new(
            true,
            "FunctionsActive",
            format!("{n} functions are Active and match the spec"),
        ),
    }
}

/// True when a part failed in a way retrying cannot fix: a machine-readable flag that
/// tells "fix your spec" from "will retry".
fn terminal_condition(observation: &Observation) -> Verdict {
    let failures = failures(observation);
    match failures.iter().find(|(_, failure)| failure.terminal) {
        Some((part, failure)) => Verdict::new(
            true,
            &failure.reason,
            format!("{part}: {}; fix the spec or the resource", failure.message),
        ),
        None if failures.is_empty() => Verdict::new(false, "NoFailure", "nothing failed"),
        None => Verdict::new(
            false,
            "Retrying",
            "every failure is recoverable and retried with backoff",
        ),
    }
}

/// Every failure of the pass, with the part it concerns.
fn failures(observation: &Observation) -> Vec<(&'static str, &Failure)> {
    let table = match &observation.table {
        TableState::Failed { failure, .. } | TableState::Unread(failure) => {
            Some(("table", failure))
        }
        TableState::Settled(_) | TableState::InProgress(_) => None,
    };
    let functions = observation.functions.iter().filter_map(|f| match &f.state {
        PartState::Failed(failure) | PartState::Unread(failure) => Some(("function", failure)),
        PartState::Settled | PartState::InProgress(_) => None,
    });
    let app = observation
        .app_failure
        .as_ref()
        .map(|failure| ("app", failure));
    table.into_iter().chain(functions).chain(app).collect()
}

/// True when the last pass read every resource and made every change it needed; else
/// the first failure, with what AWS or the API server said.
fn synced_condition(observation: &Observation, held: bool) -> Verdict {
    let failures = failures(observation);
    let Some((part, failure)) = failures.first() else {
        return Verdict::new(
            true,
            "Synced",
            "the last pass read every resource and made every change the spec asks for",
        );
    };
    let hint = if held {
        "; Ready is kept: the resources were last seen settled, and a passing AWS error says nothing about them"
    } else {
        ""
    };
    Verdict::new(
        false,
        &failure.reason,
        format!("{part}: {}{hint}", failure.message),
    )
}

/// Whether passing failures are still within the grace period: they began when
/// `Synced` last turned False (or begin now).
fn within_grace(previous: &[Condition], grace: Duration, now: &Time) -> bool {
    let grace = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
    let since = match find(previous, SYNCED) {
        Some(synced) if synced.status == "False" => synced.last_transition_time.0,
        _ => now.0,
    };
    now.0.as_second().saturating_sub(since.as_second()) < grace
}

fn available_condition(replicas: i32, status: Option<&DeploymentStatus>) -> Verdict {
    if replicas == 0 {
        return Verdict::new(true, "ScaledToZero", "spec.replicas is 0");
    }
    let Some(status) = status else {
        return Verdict::new(
            false,
            "DeploymentPending",
            "the Deployment has not reported a status yet",
        );
    };
    let ready = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let counts = format!("{ready}/{replicas} replicas ready, {updated} on the current template");
    match status
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == "Available")
    {
        Some(condition) if condition.status == "True" => {
            Verdict::new(true, "MinimumReplicasAvailable", counts)
        }
        Some(condition) => Verdict::new(
            false,
            condition
                .reason
                .as_deref()
                .unwrap_or("MinimumReplicasUnavailable"),
            counts,
        ),
        None => Verdict::new(false, "MinimumReplicasUnavailable", counts),
    }
}

/// Where the Deployment's rollout of the current template stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rollout {
    /// Every replica runs the current template and is available.
    Complete,
    /// Pods of the current template are still starting, or old ones still run.
    Progressing(String),
    /// The Deployment gave up (`ProgressDeadlineExceeded`).
    Failed(String),
}

fn rollout(replicas: i32, generation: Option<i64>, status: Option<&DeploymentStatus>) -> Rollout {
    if replicas == 0 && status.is_none_or(|status| status.replicas.unwrap_or(0) == 0) {
        return Rollout::Complete;
    }
    let Some(status) = status else {
        return Rollout::Progressing("the Deployment has not reported a status yet".into());
    };
    let stalled = status.conditions.iter().flatten().find(|condition| {
        condition.type_ == "Progressing"
            && condition.status == "False"
            && condition.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(condition) = stalled {
        let detail = condition.message.clone().unwrap_or_default();
        return Rollout::Failed(format!(
            "the rollout exceeded its progress deadline: {detail}"
        ));
    }
    let observed = status.observed_generation.unwrap_or(0) >= generation.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let running = status.replicas.unwrap_or(0);
    if observed && updated == replicas && available >= replicas && running == replicas {
        Rollout::Complete
    } else {
        Rollout::Progressing(format!(
            "rolling out: {updated}/{replicas} replicas on the current template, {available} available, {running} running"
        ))
    }
}

/// Ready: the table is usable, every function matches the spec, the app is available
/// and every replica runs the current spec (so a pipeline waiting for Ready waits for
/// the whole rollout). The first part that is not true gives its reason.
fn ready_condition(parts: &[&Verdict], rollout: &Rollout) -> Verdict {
    if let Some(part) = parts.iter().find(|part| !part.is_true()) {
        return Verdict::new(false, &part.reason, part.message.clone());
    }
    match rollout {
        Rollout::Complete => Verdict::new(
            true,
            "Ready",
            "the table and functions are ready and every replica runs the current spec",
        ),
        Rollout::Progressing(message) => Verdict::new(false, "RollingOut", message.clone()),
        Rollout::Failed(message) => Verdict::new(false, "RolloutFailed", message.clone()),
    }
}

fn find<'a>(conditions: &'a [Condition], kind: &str) -> Option<&'a Condition> {
    conditions.iter().find(|condition| condition.type_ == kind)
}

fn condition(
    previous: &[Condition],
    kind: &str,
    verdict: Verdict,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let last_transition_time = match find(previous, kind) {
        Some(old) if old.status == verdict.status => old.last_transition_time.clone(),
        _ => now.clone(),
    };
    Condition {
        type_: kind.into(),
        status: verdict.status,
        reason: verdict.reason,
        message: verdict.message,
        last_transition_time,
        observed_generation: generation,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DeploymentCondition;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn table(status: &str) -> TableStatus {
        TableStatus {
            name: "team-metrics".into(),
            arn: Some("arn:aws:dynamodb:us-east-1:123456789012:table/team-metrics".into()),
            status: Some(status.into()),
            ..TableStatus::default()
        }
    }

    fn deployment(ready: i32, available: bool) -> DeploymentStatus {
        DeploymentStatus {
            observed_generation: Some(1),
            replicas: Some(ready),
            available_replicas: Some(ready),
            ready_replicas: Some(ready),
            updated_replicas: Some(ready),
            conditions: Some(vec![DeploymentCondition {
                type_: "Available".into(),
                status: if available { "True" } else { "False" }.into(),
                reason: Some(
                    if available {
                        "MinimumReplicasAvailable"
                    } else {
                        "MinimumReplicasUnavailable"
                    }
                    .into(),
                ),
                ..DeploymentCondition::default()
            }]),
            ..DeploymentStatus::default()
        }
    }

    /// Two replicas wanted, both ready and available.
    fn deployed() -> AppState {
        AppState::Deployed {
            replicas: 2,
            generation: Some(1),
            status: Some(deployment(2, true)),
        }
    }

    /// An ACTIVE table and a settled Deployment: nothing left to wait for.
    fn settled() -> Observation {
        observation(TableState::Settled(table("ACTIVE")), deployed())
    }

    fn observation(table: TableState, app: AppState) -> Observation {
        Observation {
            generation: Some(3),
            table,
            functions: Vec::new(),
            app,
            app_failure: None,
            url: Some("http://metrics.team.svc:80".into()),
            image: "ghcr.io/metricsapp/metrics-app:1".into(),
            rollback: None,
            transient_grace_period: GRACE,
        }
    }

    const GRACE: Duration = Duration::from_secs(600);

    fn get<'a>(status: &'a MetricsAppStatus, kind: &str) -> &'a Condition {
        find(&status.conditions, kind).unwrap()
    }

    #[test]
    fn active_table_and_available_app_is_ready() {
        let obs = settled();
        let status = next_status(None, obs, &at(100));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(get(&status, READY).status, "True");
        assert_eq!(get(&status, TABLE_READY).reason, "TableActive");
        assert_eq!(
            get(&status, AVAILABLE).message,
            "2/2 replicas ready, 2 on the current template"
        );
        assert_eq!(get(&status, READY).observed_generation, Some(3));
        assert_eq!(status.table, Some(table("ACTIVE")));
        assert_eq!(status.url.as_deref(), Some("http://metrics.team.svc:80"));
        assert_eq!(
            status.image.as_deref(),
            Some("ghcr.io/metricsapp/metrics-app:1")
        );
        assert_eq!(status.ready_replicas, Some(2));
        assert!(is_ready(Some(&status)));
    }

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let ready = || settled();
        let first = next_status(None, ready(), &at(100));
        let same = next_status(Some(&first), ready(), &at(200));
        assert_eq!(
            first, same,
            "an unchanged pass must give an identical status"
        );
        let unavailable = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 2,
                generation: Some(1),
                status: Some(deployment(0, false)),
            },
        );
        let changed = next_status(Some(&same), unavailable, &at(300));
        assert_eq!(get(&changed, AVAILABLE).last_transition_time, at(300));
        assert_eq!(get(&changed, TABLE_READY).last_transition_time, at(100));
        assert_eq!(get(&changed, READY).reason, "MinimumReplicasUnavailable");
    }

    #[test]
    fn table_in_progress_is_not_ready_and_says_its_aws_status() {
        let obs = observation(
            TableState::InProgress(table("CREATING")),
            AppState::WaitingForTable,
        );
        let status = next_status(None, obs, &at(1));
        let table_ready = get(&status, TABLE_READY);
        assert_eq!(table_ready.status, "False");
        assert_eq!(table_ready.reason, "TableProgressing");
        assert!(table_ready.message.contains("CREATING"));
        assert_eq!(get(&status, AVAILABLE).status, "Unknown");
        assert_eq!(get(&status, READY).reason, "TableProgressing");
    }

    #[test]
    fn terminal_and_recoverable_failures_read_differently() {
        let failed = |terminal| {
            observation(
                TableState::Failed {
                    table: None,
                    failure: Failure {
                        reason: if terminal {
                            "TableConflict"
                        } else {
                            "Throttled"
                        }
                        .into(),
                        message: "something happened".into(),
                        terminal,
                    },
                },
                AppState::WaitingForTable,
            )
        };
        let terminal = next_status(None, failed(true), &at(1));
        let condition = get(&terminal, TABLE_READY);
        assert_eq!(condition.reason, "TableConflict");
        assert!(
            condition.message.contains("terminal"),
            "{}",
            condition.message
        );
        assert_eq!(get(&terminal, READY).reason, "TableConflict");
        let recoverable = next_status(None, failed(false), &at(1));
        let condition = get(&recoverable, TABLE_READY);
        assert_eq!(condition.reason, "Throttled");
        assert!(
            condition.message.contains("retried with backoff"),
            "{}",
            condition.message
        );
    }

    #[test]
    fn failed_pass_keeps_what_was_known() {
        let ready = settled();
        let before = next_status(None, ready, &at(1));
        let failed = observation(
            TableState::Failed {
                table: None,
                failure: Failure {
                    reason: "Throttled".into(),
                    message: "slow down".into(),
                    terminal: false,
                },
            },
            deployed(),
        );
        let after = next_status(Some(&before), failed, &at(2));
        assert_eq!(after.table, before.table);
        assert_eq!(after.ready_replicas, Some(2));
        assert_eq!(after.image, before.image);
        assert_eq!(get(&after, AVAILABLE), get(&before, AVAILABLE));
        assert_eq!(get(&after, READY).status, "False");
        assert_eq!(get(&after, READY).reason, "Throttled");
        assert_eq!(get(&after, TERMINAL).status, "False");
        assert_eq!(get(&after, TERMINAL).reason, "Retrying");
    }

    #[test]
    fn a_refused_child_shows_on_available_with_the_api_servers_message() {
        let mut obs = settled();
        obs.app_failure = Some(Failure {
            reason: "ServiceApplyFailed".into(),
            message: "Service metrics: Internal error occurred: failed to allocate a serviceIP: range is full".into(),
            terminal: false,
        });
        let status = next_status(None, obs, &at(1));
        let available = get(&status, AVAILABLE);
        assert_eq!(available.status, "False");
        assert_eq!(available.reason, "ServiceApplyFailed");
        assert!(
            available.message.contains("range is full"),
            "{}",
            available.message
        );
        assert_eq!(get(&status, READY).reason, "ServiceApplyFailed");
        assert_eq!(get(&status, TABLE_READY).status, "True");
        assert_eq!(status.ready_replicas, Some(2));
    }

    #[test]
    fn a_terminal_failure_sets_the_terminal_condition_with_its_reason() {
        let obs = observation(
            TableState::Failed {
                table: None,
                failure: Failure {
                    reason: "InvalidTableSpec".into(),
                    message: "capacity".into(),
                    terminal: true,
                },
            },
            AppState::WaitingForTable,
        );
        let status = next_status(None, obs, &at(1));
        let terminal = get(&status, TERMINAL);
        assert_eq!(terminal.status, "True");
        assert_eq!(terminal.reason, "InvalidTableSpec");
        assert!(
            terminal.message.starts_with("table: "),
            "{}",
            terminal.message
        );
        assert_eq!(get(&status, AVAILABLE).status, "Unknown");
    }

    fn function(name: &str, state: PartState) -> FunctionOutcome {
        FunctionOutcome {
            status: FunctionStatus {
                name: name.into(),
                function_name: format!("team-metrics-{name}"),
                ..FunctionStatus::default()
            },
            declared: true,
            state,
        }
    }

    #[test]
    fn functions_ready_counts_settled_functions_and_names_the_failing_one() {
        let ready = |functions| {
            let mut obs = settled();
            obs.functions = functions;
            next_status(None, obs, &at(1))
        };
        let none = ready(Vec::new());
        assert_eq!(get(&none, FUNCTIONS_READY).reason, "NoFunctions");
        assert_eq!(none.functions_ready, None);
        assert!(is_ready(Some(&none)));

        let both = ready(vec![
            function("rollup", PartState::Settled),
            function("form", PartState::Settled),
        ]);
        assert_eq!(both.functions_ready.as_deref(), Some("2/2"));
        assert_eq!(get(&both, FUNCTIONS_READY).status, "True");
        assert!(is_ready(Some(&both)));

        let progressing = ready(vec![
            function(
                "rollup",
                PartState::InProgress("LastUpdateStatus is InProgress".into()),
            ),
            function("form", PartState::Settled),
        ]);
        assert_eq!(progressing.functions_ready.as_deref(), Some("1/2"));
        let condition = get(&progressing, FUNCTIONS_READY);
        assert_eq!(condition.reason, "FunctionsProgressing");
        assert!(
            condition.message.contains("rollup: LastUpdateStatus"),
            "{}",
            condition.message
        );
        assert_eq!(get(&progressing, READY).reason, "FunctionsProgressing");

        let failed = ready(vec![
            function("rollup", PartState::Settled),
            function(
                "form",
                PartState::Failed(Failure {
                    reason: "FunctionConflict".into(),
                    message: "belongs to someone else".into(),
                    terminal: true,
                }),
            ),
        ]);
        let condition = get(&failed, FUNCTIONS_READY);
        assert_eq!(condition.reason, "FunctionConflict");
        assert!(
            condition.message.starts_with("function form: "),
            "{}",
            condition.message
        );
        assert_eq!(get(&failed, TERMINAL).status, "True");
        // The app itself is unaffected by a function's failure.
        assert_eq!(get(&failed, AVAILABLE).status, "True");
    }

    #[test]
    fn a_function_being_removed_is_listed_but_not_counted() {
        let mut obs = settled();
        let mut removed = function("old", PartState::InProgress("being deleted".into()));
        removed.declared = false;
        obs.functions = vec![function("rollup", PartState::Settled), removed];
        let status = next_status(None, obs, &at(1));
        assert_eq!(status.functions_ready.as_deref(), Some("1/1"));
        assert_eq!(status.functions.len(), 2);
        assert_eq!(get(&status, FUNCTIONS_READY).reason, "FunctionsProgressing");
    }

    #[test]
    fn deployment_without_status_is_pending_and_zero_replicas_is_available() {
        let pending = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 2,
                generation: Some(1),
                status: None,
            },
        );
        let status = next_status(None, pending, &at(1));
        assert_eq!(get(&status, AVAILABLE).reason, "DeploymentPending");
        assert_eq!(status.ready_replicas, Some(0));
        let scaled = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 0,
                generation: Some(1),
                status: None,
            },
        );
        let status = next_status(None, scaled, &at(1));
        assert_eq!(get(&status, AVAILABLE).reason, "ScaledToZero");
        assert!(is_ready(Some(&status)));
    }

    #[test]
    fn suspension_shows_on_ready_and_keeps_the_rest() {
        let ready = settled();
        let before = next_status(None, ready, &at(1));
        let suspended = suspended_status(Some(&before), Some(4), &at(2));
        assert_eq!(get(&suspended, READY).reason, "Suspended");
        assert_eq!(get(&suspended, READY).status, "False");
        assert_eq!(get(&suspended, TABLE_READY), get(&before, TABLE_READY));
        assert_eq!(suspended.observed_generation, Some(4));
        assert_eq!(suspended.conditions.len(), 8, "every condition is kept");
        assert_eq!(
            suspended_status(Some(&suspended), Some(4), &at(3)),
            suspended
        );
    }

    #[test]
    fn a_rollout_in_progress_is_not_ready_and_keeps_the_running_image() {
        let ready = settled();
        let before = next_status(None, ready, &at(1));
        let mut rolling = deployment(2, true);
        rolling.observed_generation = Some(2);
        rolling.updated_replicas = Some(1);
        rolling.replicas = Some(3);
        let mut next = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 2,
                generation: Some(2),
                status: Some(rolling),
            },
        );
        next.image = "ghcr.io/metricsapp/metrics-app:2".into();
        let during = next_status(Some(&before), next.clone(), &at(2));
        assert_eq!(get(&during, AVAILABLE).status, "True");
        assert_eq!(get(&during, READY).reason, "RollingOut");
        assert!(
            get(&during, READY).message.contains("1/2"),
            "{}",
            get(&during, READY).message
        );
        assert_eq!(during.image, before.image, "the old image still runs");

        let mut done = deployment(2, true);
        done.observed_generation = Some(2);
        next.app = AppState::Deployed {
            replicas: 2,
            generation: Some(2),
            status: Some(done),
        };
        let after = next_status(Some(&during), next, &at(3));
        assert!(is_ready(Some(&after)));
        assert_eq!(
            after.image.as_deref(),
            Some("ghcr.io/metricsapp/metrics-app:2")
        );
    }

    #[test]
    fn a_template_the_deployment_has_not_seen_is_still_rolling_out() {
        let obs = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 2,
                generation: Some(5),
                status: Some(deployment(2, true)),
            },
        );
        let status = next_status(None, obs, &at(1));
        assert_eq!(get(&status, READY).reason, "RollingOut");
        assert_eq!(status.image, None);
    }

    #[test]
    fn a_rollback_keeps_ready_false_and_is_recorded() {
        let mut obs = settled();
        obs.rollback = Some(RollbackStatus {
            generation: 3,
            failed_image: "ghcr.io/metricsapp/metrics-app:2".into(),
            restored_image: "ghcr.io/metricsapp/metrics-app:1".into(),
        });
        let status = next_status(None, obs, &at(1));
        let ready = get(&status, READY);
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "RolledBack");
        assert!(
            ready.message.contains("metrics-app:2 did not become ready"),
            "{}",
            ready.message
        );
        assert_eq!(
            status.image.as_deref(),
            Some("ghcr.io/metricsapp/metrics-app:1"),
            "the restored image runs"
        );
        assert_eq!(status.rollback.unwrap().generation, 3);
    }

    #[test]
    fn a_stalled_rollout_is_reported_as_failed() {
        let mut stalled = deployment(2, true);
        stalled.updated_replicas = Some(1);
        stalled
            .conditions
            .as_mut()
            .unwrap()
            .push(DeploymentCondition {
                type_: "Progressing".into(),
                status: "False".into(),
                reason: Some("ProgressDeadlineExceeded".into()),
                message: Some("ReplicaSet \"metrics-2\" has timed out progressing.".into()),
                ..DeploymentCondition::default()
            });
        let obs = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 2,
                generation: Some(1),
                status: Some(stalled),
            },
        );
        let status = next_status(None, obs, &at(1));
        assert_eq!(get(&status, READY).reason, "RolloutFailed");
        assert!(get(&status, READY).message.contains("timed out"));
    }

    fn throttled(operation: &str) -> Failure {
        Failure {
            reason: "Throttled".into(),
            message: format!(
                "{operation} on table `team-metrics`: throttled: ThrottlingException: Rate of requests exceeds the allowed throughput."
            ),
            terminal: false,
        }
    }

    fn settled_app(table: TableState) -> Observation {
        observation(table, deployed())
    }

    #[test]
    fn ready_holds_through_a_throttled_read_until_the_grace_period_is_over() {
        let before = next_status(
            None,
            settled_app(TableState::Settled(table("ACTIVE"))),
            &at(100),
        );
        assert!(is_ready(Some(&before)));
        assert_eq!(get(&before, SYNCED).status, "True");
        let unread = || settled_app(TableState::Unread(throttled("DescribeTimeToLive")));

        let during = next_status(Some(&before), unread(), &at(200));
        assert!(is_ready(Some(&during)), "{:#?}", during.conditions);
        assert_eq!(get(&during, READY), get(&before, READY));
        assert_eq!(get(&during, TABLE_READY), get(&before, TABLE_READY));
        assert_eq!(during.table, before.table);
        let synced = get(&during, SYNCED);
        assert_eq!(synced.status, "False");
        assert_eq!(synced.reason, "Throttled");
        assert_eq!(synced.last_transition_time, at(200));
        assert!(
            synced.message.contains("DescribeTimeToLive")
                && synced.message.contains("Rate of requests"),
            "{}",
            synced.message
        );
        assert_eq!(get(&during, TERMINAL).reason, "Retrying");
        // Still within the grace period: nothing changes, so nothing is written.
        assert_eq!(next_status(Some(&during), unread(), &at(799)), during);

        let after = next_status(Some(&during), unread(), &at(800));
        assert_eq!(get(&after, READY).status, "False");
        assert_eq!(get(&after, READY).reason, "Throttled");
        assert_eq!(get(&after, TABLE_READY).reason, "Throttled");

        // A pass that reads again ends the episode: Ready and Synced are True.
        let back = next_status(
            Some(&after),
            settled_app(TableState::Settled(table("ACTIVE"))),
            &at(900),
        );
        assert!(is_ready(Some(&back)));
        assert_eq!(get(&back, SYNCED).status, "True");
    }

    #[test]
    fn an_unread_table_never_seen_settled_is_not_ready() {
        let status = next_status(
            None,
            observation(
                TableState::Unread(throttled("DescribeTable")),
                AppState::WaitingForTable,
            ),
            &at(1),
        );
        assert_eq!(get(&status, READY).status, "False");
        assert_eq!(get(&status, TABLE_READY).reason, "Throttled");
        assert_eq!(get(&status, SYNCED).reason, "Throttled");
        // Nor one settled for an older generation: the spec asks for something new.
        let before = next_status(
            None,
            settled_app(TableState::Settled(table("ACTIVE"))),
            &at(1),
        );
        let mut next = settled_app(TableState::Unread(throttled("DescribeTable")));
        next.generation = Some(4);
        let status = next_status(Some(&before), next, &at(2));
        assert_eq!(get(&status, READY).reason, "Throttled");
    }

    #[test]
    fn an_unread_function_last_seen_settled_keeps_functions_ready() {
        let with = |state| {
            let mut obs = settled_app(TableState::Settled(table("ACTIVE")));
            obs.functions = vec![function("rollup", state)];
            obs
        };
        let before = next_status(None, with(PartState::Settled), &at(1));
        assert_eq!(before.functions_ready.as_deref(), Some("1/1"));
        let unread = PartState::Unread(Failure {
            reason: "Throttled".into(),
            message:
                "GetFunction on function `f`: throttled: TooManyRequestsException: Rate exceeded"
                    .into(),
            terminal: false,
        });
        let during = next_status(Some(&before), with(unread.clone()), &at(2));
        assert!(is_ready(Some(&during)));
        assert_eq!(during.functions_ready.as_deref(), Some("1/1"));
        assert_eq!(get(&during, FUNCTIONS_READY), get(&before, FUNCTIONS_READY));
        assert_eq!(get(&during, SYNCED).reason, "Throttled");
        let after = next_status(Some(&during), with(unread), &at(2 + 600));
        assert_eq!(get(&after, READY).reason, "Throttled");
        assert_eq!(after.functions_ready.as_deref(), Some("0/1"));
    }

    /// kstatus's rules for a resource without rules of its own (sigs.k8s.io/cli-utils
    /// `kstatus/status`, `checkGenericProperties`), as Flux's `wait` applies them: a
    /// generation not yet observed is InProgress; then `Reconciling=True` is InProgress,
    /// `Stalled=True` is Failed; anything else is Current.
    fn kstatus(generation: i64, status: &MetricsAppStatus) -> &'static str {
        if status
            .observed_generation
            .is_none_or(|seen| seen < generation)
        {
            return "InProgress";
        }
        let is_true = |kind| find(&status.conditions, kind).is_some_and(|c| c.status == "True");
        if is_true(RECONCILING) {
            "InProgress"
        } else if is_true(STALLED) {
            "Failed"
        } else {
            "Current"
        }
    }

    #[test]
    fn kstatus_reads_converging_as_in_progress_ready_as_current_and_stuck_as_failed() {
        let deployed = |ready| AppState::Deployed {
            replicas: 2,
            generation: Some(1),
            status: Some(deployment(ready, ready == 2)),
        };
        let settled = next_status(
            None,
            observation(TableState::Settled(table("ACTIVE")), deployed(2)),
            &at(1),
        );
        assert!(is_ready(Some(&settled)));
        assert_eq!(kstatus(3, &settled), "Current");
        assert_eq!(kstatus(4, &settled), "InProgress", "a new generation");
        assert_eq!(get(&settled, RECONCILING).status, "False");
        assert_eq!(get(&settled, STALLED).status, "False");

        let creating = next_status(
            None,
            observation(
                TableState::InProgress(table("CREATING")),
                AppState::WaitingForTable,
            ),
            &at(1),
        );
        assert_eq!(kstatus(3, &creating), "InProgress");
        assert_eq!(
            get(&creating, RECONCILING).reason,
            get(&creating, READY).reason
        );
        let rolling = next_status(
            None,
            observation(TableState::Settled(table("ACTIVE")), deployed(1)),
            &at(1),
        );
        assert_eq!(kstatus(3, &rolling), "InProgress");

        let conflict = next_status(
            None,
            observation(
                TableState::Failed {
                    table: None,
                    failure: Failure {
                        reason: "TableConflict".into(),
                        message: "owned by another MetricsApp".into(),
                        terminal: true,
                    },
                },
                AppState::WaitingForTable,
            ),
            &at(1),
        );
        assert_eq!(kstatus(3, &conflict), "Failed");
        assert_eq!(get(&conflict, STALLED).reason, "TableConflict");

        let mut rolled_back = observation(TableState::Settled(table("ACTIVE")), deployed(2));
        rolled_back.rollback = Some(RollbackStatus {
            generation: 3,
            failed_image: "ghcr.io/metricsapp/metrics-app:2".into(),
            restored_image: "ghcr.io/metricsapp/metrics-app:1".into(),
        });
        let rolled_back = next_status(None, rolled_back, &at(1));
        assert_eq!(kstatus(3, &rolled_back), "Failed");
        assert_eq!(get(&rolled_back, STALLED).reason, "RolledBack");

        // A recoverable failure is still converging, not stuck.
        let throttled = next_status(
            None,
            observation(
                TableState::Failed {
                    table: None,
                    failure: Failure {
                        reason: "Throttled".into(),
                        message: "Rate exceeded".into(),
                        terminal: false,
                    },
                },
                AppState::WaitingForTable,
            ),
            &at(1),
        );
        assert_eq!(kstatus(3, &throttled), "InProgress");
    }
}
