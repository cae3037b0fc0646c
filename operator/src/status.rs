//! The status a MetricsApp should show, from what one reconcile pass saw. Pure: the
//! controller writes the result only when it differs from the current status.
//!
//! Conditions follow the Kubernetes conventions: `lastTransitionTime` moves only when
//! a condition's status changes, each carries the generation it describes, and the
//! reason says whether a problem is terminal (the spec or the table must change) or
//! recoverable (retried with backoff).

use k8s_openapi::api::apps::v1::DeploymentStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{MetricsAppStatus, TableStatus};

pub const READY: &str = "Ready";
pub const TABLE_READY: &str = "TableReady";
pub const AVAILABLE: &str = "Available";

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
}

/// A failed pass, as the conditions tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// CamelCase reason, e.g. `TableConflict`, `Throttled`.
    pub reason: String,
    pub message: String,
    /// Terminal: retrying cannot help until the spec or the table changes.
    pub terminal: bool,
}

/// Where the app's Deployment stands after this pass.
#[derive(Debug, Clone, PartialEq)]
pub enum AppState {
    /// The Deployment was applied; its generation and status as last read (`None`
    /// before the first).
    Deployed {
        replicas: i32,
        generation: Option<i64>,
        status: Option<DeploymentStatus>,
    },
    /// Not applied this pass because the table is not usable yet.
    WaitingForTable,
}

/// What one pass saw, besides the previous status.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub generation: Option<i64>,
    pub table: TableState,
    pub app: AppState,
    pub url: Option<String>,
    pub image: String,
}

/// The status after a pass.
pub fn next_status(
    previous: Option<&MetricsAppStatus>,
    observation: Observation,
    now: &Time,
) -> MetricsAppStatus {
    let previous = previous.cloned().unwrap_or_default();
    let generation = observation.generation;
    let table_ready = table_condition(&observation.table);
    let rollout = match &observation.app {
        AppState::Deployed {
            replicas,
            generation,
            status,
        } => rollout(*replicas, *generation, status.as_ref()),
        AppState::WaitingForTable => Rollout::Progressing(String::new()),
    };
    let available = match &observation.app {
        AppState::Deployed {
            replicas, status, ..
        } => available_condition(*replicas, status.as_ref()),
        AppState::WaitingForTable => find(&previous.conditions, AVAILABLE)
            .map(|condition| Verdict {
                status: condition.status.clone(),
                reason: condition.reason.clone(),
                message: condition.message.clone(),
            })
            .unwrap_or_else(|| {
                Verdict::unknown(
                    "WaitingForTable",
                    "the app is deployed once its table is usable",
                )
            }),
    };
    let ready = ready_condition(&table_ready, &available, &rollout);
    // The image the app runs is the spec's only once every replica runs it.
    let running_image = match rollout {
        Rollout::Complete => Some(observation.image.clone()),
        Rollout::Progressing(_) | Rollout::Failed(_) => previous.image.clone(),
    };
    let conditions = [
        (READY, ready),
        (TABLE_READY, table_ready),
        (AVAILABLE, available),
    ]
    .into_iter()
    .map(|(kind, verdict)| condition(&previous.conditions, kind, verdict, generation, now))
    .collect();
    let (table, ready_replicas, image) = match (&observation.table, &observation.app) {
        (
            TableState::Settled(table) | TableState::InProgress(table),
            AppState::Deployed { status, .. },
        ) => (
            Some(table.clone()),
            Some(status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)),
            running_image,
        ),
        (TableState::Settled(table) | TableState::InProgress(table), AppState::WaitingForTable) => {
            (Some(table.clone()), previous.ready_replicas, previous.image)
        }
        (TableState::Failed { table, .. }, AppState::Deployed { status, .. }) => (
            table.clone().or(previous.table),
            Some(status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)),
            running_image,
        ),
        (TableState::Failed { table, .. }, AppState::WaitingForTable) => (
            table.clone().or(previous.table),
            previous.ready_replicas,
            previous.image,
        ),
    };
    MetricsAppStatus {
        observed_generation: generation,
        conditions,
        table,
        url: observation.url,
        image,
        ready_replicas,
    }
}

/// The status while `suspend` is true: Ready says so, everything else is kept.
pub fn suspended_status(
    previous: Option<&MetricsAppStatus>,
    generation: Option<i64>,
    now: &Time,
) -> MetricsAppStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let ready = Verdict::new(
        false,
        "Suspended",
        "spec.suspend is true: the operator leaves the table and the app as they are",
    );
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
        TableState::Failed { failure, .. } => {
            let hint = if failure.terminal {
                "terminal: fix the MetricsApp spec or the table; not retried before the next resync"
            } else {
                "recoverable: retried with backoff"
            };
            Verdict::new(
                false,
                &failure.reason,
                format!("{} ({hint})", failure.message),
            )
        }
    }
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

/// Ready: the table is usable, the app available, and every replica runs the current
/// spec (so a pipeline waiting for Ready waits for the whole rollout).
fn ready_condition(table: &Verdict, available: &Verdict, rollout: &Rollout) -> Verdict {
    if !table.is_true() {
        return Verdict::new(false, &table.reason, table.message.clone());
    }
    if !available.is_true() {
        return Verdict::new(false, &available.reason, available.message.clone());
    }
    match rollout {
        Rollout::Complete => Verdict::new(
            true,
            "Ready",
            "the table is ready and every replica runs the current spec",
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

    fn observation(table: TableState, app: AppState) -> Observation {
        Observation {
            generation: Some(3),
            table,
            app,
            url: Some("http://metrics.team.svc:80".into()),
            image: "ghcr.io/metricsapp/metrics-app:1".into(),
        }
    }

    fn get<'a>(status: &'a MetricsAppStatus, kind: &str) -> &'a Condition {
        find(&status.conditions, kind).unwrap()
    }

    #[test]
    fn active_table_and_available_app_is_ready() {
        let obs = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 2,
                generation: Some(1),
                status: Some(deployment(2, true)),
            },
        );
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
        let ready = || {
            observation(
                TableState::Settled(table("ACTIVE")),
                AppState::Deployed {
                    replicas: 2,
                    generation: Some(1),
                    status: Some(deployment(2, true)),
                },
            )
        };
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
        let ready = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 2,
                generation: Some(1),
                status: Some(deployment(2, true)),
            },
        );
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
            AppState::WaitingForTable,
        );
        let after = next_status(Some(&before), failed, &at(2));
        assert_eq!(after.table, before.table);
        assert_eq!(after.ready_replicas, Some(2));
        assert_eq!(after.image, before.image);
        assert_eq!(get(&after, AVAILABLE), get(&before, AVAILABLE));
        assert_eq!(get(&after, READY).status, "False");
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
        let ready = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 2,
                generation: Some(1),
                status: Some(deployment(2, true)),
            },
        );
        let before = next_status(None, ready, &at(1));
        let suspended = suspended_status(Some(&before), Some(4), &at(2));
        assert_eq!(get(&suspended, READY).reason, "Suspended");
        assert_eq!(get(&suspended, READY).status, "False");
        assert_eq!(get(&suspended, TABLE_READY), get(&before, TABLE_READY));
        assert_eq!(suspended.observed_generation, Some(4));
        assert_eq!(suspended.conditions.len(), 3);
        assert_eq!(
            suspended_status(Some(&suspended), Some(4), &at(3)),
            suspended
        );
    }

    #[test]
    fn a_rollout_in_progress_is_not_ready_and_keeps_the_running_image() {
        let ready = observation(
            TableState::Settled(table("ACTIVE")),
            AppState::Deployed {
                replicas: 2,
                generation: Some(1),
                status: Some(deployment(2, true)),
            },
        );
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
}
