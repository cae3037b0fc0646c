//! The functions part of a pass: each declared function reconciled (at once, under a
//! deadline), each function removed from the spec deleted per the policy recorded in
//! the status, Events for what changed.

use futures::future::join_all;
use kube::runtime::events::EventType;
use metricsapp_aws::function::{
    Change, Deletion, DesiredFunction, FunctionRecord, FunctionReport, Owner,
};

use super::events::{publish, settled_for_this_generation};
use super::failures;
use super::{Context, key};
use crate::crd::{FunctionSpec, FunctionStatus, MetricsApp};
use crate::function::{self, Build};
use crate::status::{self, FunctionOutcome, PartState};
use crate::{Error, limits, table};

/// Every function of `app` after this pass: the declared ones, then the removed ones
/// still to be deleted.
pub(super) async fn reconcile_functions(
    app: &MetricsApp,
    ctx: &Context,
    stream_arn: Option<&str>,
) -> Vec<FunctionOutcome> {
    let previous: &[FunctionStatus] = app
        .status
        .as_ref()
        .map_or(&[], |status| status.functions.as_slice());
    let declared = join_all(
        app.spec
            .functions
            .iter()
            .map(|spec| reconcile_one(app, ctx, spec, previous, stream_arn)),
    )
    .await;
    let removed = previous
        .iter()
        .filter(|old| !app.spec.functions.iter().any(|spec| spec.name == old.name));
    let mut outcomes = declared;
    for old in removed {
        if let Some(outcome) = remove(app, ctx, old).await {
            outcomes.push(outcome);
        }
    }
    outcomes
}

async fn reconcile_one(
    app: &MetricsApp,
    ctx: &Context,
    spec: &FunctionSpec,
    previous: &[FunctionStatus],
    stream_arn: Option<&str>,
) -> FunctionOutcome {
    let prefix = ctx.settings.app.name_prefix.as_str();
    let previous = previous.iter().find(|status| status.name == spec.name);
    let mut status = previous.cloned().unwrap_or_else(|| FunctionStatus {
        name: spec.name.clone(),
        function_name: function::function_name(app, spec, prefix).unwrap_or_default(),
        ..FunctionStatus::default()
    });
    status.deletion_policy = spec.deletion_policy;
    let outcome = |status, state| FunctionOutcome {
        status,
        declared: true,
        state,
    };
    if let Err(refusal) = limits::check_function(spec, &ctx.settings.limits) {
        return outcome(status, PartState::Failed(failures::not_allowed(refusal)));
    }
    let desired = match table::table_name(app, prefix)
        .and_then(|table| function::desired_function(app, spec, &table, stream_arn, prefix))
    {
        Ok(Build::Ready(desired)) => desired,
        Ok(Build::Waiting(why)) => return outcome(status, PartState::InProgress(why)),
        Err(error) => return outcome(status, PartState::Failed(failures::of_error(&error))),
    };
    let owner = match table::owner(app) {
        Ok(owner) => owner,
        Err(error) => return outcome(status, PartState::Failed(failures::of_error(&error))),
    };
    let recorded = function::recorded(previous);
    let deadline = ctx.settings.aws_deadline;
    let result = tokio::time::timeout(
        deadline,
        reconcile_aws(app, ctx, spec, &desired, &owner, &recorded),
    )
    .await;
    match result {
        Err(_) => outcome(
            status,
            PartState::Unread(failures::timed_out("the function's AWS calls", deadline)),
        ),
        Ok(Err(error)) => {
            publish_changes(app, ctx, &desired.name, error.changes()).await;
            let transient = error.is_transient_read();
            let failure = failures::of_error(&Error::Function(error));
            let state = if transient {
                PartState::Unread(failure)
            } else {
                PartState::Failed(failure)
            };
            outcome(status, state)
        }
        Ok(Ok(report)) => {
            publish_changes(app, ctx, &report.name, &report.changes).await;
            let state = if report.settled {
                PartState::Settled
            } else if report.waiting.is_empty() {
                PartState::InProgress("changes applied; checking again shortly".to_owned())
            } else {
                PartState::InProgress(report.waiting.join("; "))
            };
            outcome(with_report(status, &report), state)
        }
    }
}

/// One pass over the function in AWS: a full read, or one GetFunction while the last
/// full read of a settled function is younger than the full-read period.
async fn reconcile_aws(
    app: &MetricsApp,
    ctx: &Context,
    spec: &FunctionSpec,
    desired: &DesiredFunction,
    owner: &Owner,
    recorded: &FunctionRecord,
) -> Result<FunctionReport, metricsapp_aws::function::Error> {
    let app_key = key(app);
    let settled =
        ctx.memory()
            .settled_function(&app_key, &spec.name, ctx.settings.aws_full_read_period);
    let (lambda, s3, adopt) = (&ctx.aws.lambda, &ctx.aws.s3, spec.adopt);
    let result = match &settled {
        Some(last) => {
            metricsapp_aws::function::reconcile_since(
                lambda, s3, desired, owner, adopt, recorded, last,
            )
            .await
        }
        None => {
            metricsapp_aws::function::reconcile(lambda, s3, desired, owner, adopt, recorded).await
        }
    };
    match &result {
        // A read that failed for a passing reason leaves what was learned before.
        Err(error) if error.is_transient_read() => {}
        Ok(_) | Err(_) => {
            ctx.memory()
                .keep_function(&app_key, &spec.name, result.as_ref().ok());
        }
    }
    result
}

fn with_report(mut status: FunctionStatus, report: &FunctionReport) -> FunctionStatus {
    status.function_name = report.name.clone();
    status.arn = report.arn.clone();
    status.state = report.state.clone();
    status.last_update_status = report.last_update_status.clone();
    status.code_sha256 = report.code_sha256.clone();
    status.code_source = report.code_source.clone();
    status.mapping_uuid = report.mapping.as_ref().map(|m| m.uuid.clone());
    status.mapping_state = report.mapping.as_ref().map(|m| m.state.clone());
    status.url = report.url.clone();
    status.managed_tags = report.managed_tags.iter().cloned().collect();
    status
}

/// Deletes (or retains) a function removed from the spec; `None` once it is gone from
/// the operator's care, else its status line with the failure.
async fn remove(app: &MetricsApp, ctx: &Context, old: &FunctionStatus) -> Option<FunctionOutcome> {
    let failed = |failure| {
        Some(FunctionOutcome {
            status: old.clone(),
            declared: false,
            state: PartState::Failed(failure),
        })
    };
    let owner = match table::owner(app) {
        Ok(owner) => owner,
        Err(error) => return failed(failures::of_error(&error)),
    };
    let policy = function::deletion_policy(old.deletion_policy);
    let result = tokio::time::timeout(
        ctx.settings.aws_deadline,
        metricsapp_aws::function::delete(&ctx.aws.lambda, &old.function_name, &owner, policy),
    )
    .await;
    match result {
        Err(_) => failed(failures::timed_out(
            &format!("deleting function {}", old.function_name),
            ctx.settings.aws_deadline,
        )),
        Ok(Err(error)) => failed(failures::of_error(&Error::Function(error))),
        Ok(Ok(deletion)) => {
            publish_deletion(app, ctx, &old.function_name, deletion).await;
            ctx.memory().keep_function(&key(app), &old.name, None);
            None
        }
    }
}

pub(super) async fn publish_deletion(
    app: &MetricsApp,
    ctx: &Context,
    name: &str,
    deletion: Deletion,
) {
    let (type_, reason, note) = match deletion {
        Deletion::Deleted => (
            EventType::Normal,
            "FunctionDeleted",
            format!("deleted Lambda function {name}, its trigger and URL"),
        ),
        Deletion::Retained => (
            EventType::Normal,
            "FunctionRetained",
            format!("kept Lambda function {name} (deletionPolicy Retain)"),
        ),
        Deletion::AlreadyGone => (
            EventType::Normal,
            "FunctionAlreadyGone",
            format!("Lambda function {name} no longer existed"),
        ),
        Deletion::NotOwned => (
            EventType::Warning,
            "FunctionNotOwned",
            format!("Lambda function {name} is not owned by this MetricsApp: left untouched"),
        ),
    };
    publish(app, ctx, type_, reason, "DeleteFunction", note).await;
}

/// Events for the changes made to one function. Changes to functions that had all
/// settled for this generation were not asked for by the spec: someone edited the
/// function behind the operator's back, and the Event says what was put back.
async fn publish_changes(app: &MetricsApp, ctx: &Context, name: &str, changes: &[Change]) {
    let drift = settled_for_this_generation(app, status::FUNCTIONS_READY);
    for change in changes {
        let reason = match change {
            Change::Created => "FunctionCreated",
            Change::Adopted => "FunctionAdopted",
            Change::CodeUpdated { .. } => "FunctionCodeUpdated",
            Change::ConfigurationUpdated { .. } => "FunctionConfigurationUpdated",
            Change::Tags { .. } => "FunctionTagsUpdated",
            Change::Concurrency { .. } => "FunctionConcurrencyUpdated",
            Change::TriggerCreated => "TriggerCreated",
            Change::TriggerUpdated { .. } => "TriggerUpdated",
            Change::TriggerDeleted => "TriggerDeleted",
            Change::UrlCreated => "FunctionUrlCreated",
            Change::UrlUpdated => "FunctionUrlUpdated",
            Change::UrlDeleted => "FunctionUrlDeleted",
        };
        let created = matches!(change, Change::Created | Change::Adopted);
        if drift && !created {
            let note = format!(
                "Lambda function {name} was changed outside the operator; put back: {change}"
            );
            publish(app, ctx, EventType::Warning, "DriftCorrected", reason, note).await;
        } else {
            let note = format!("Lambda function {name}: {change}");
            publish(app, ctx, EventType::Normal, reason, reason, note).await;
        }
    }
}
