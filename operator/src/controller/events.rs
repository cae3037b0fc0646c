//! Events for what a pass changed or found, in the words of `kubectl describe`.

use kube::Resource;
use kube::runtime::events::{Event, EventType};
use metricsapp_aws::table::Change;
use serde::Serialize;
use tracing::warn;

use super::{Context, key};
use crate::crd::{MetricsApp, MetricsAppStatus};
use crate::status::{self, Failure};

/// Events for the table changes of one pass. Changes to a table that had already
/// settled for this generation were not asked for by the spec: someone edited the
/// table behind the operator's back, and the Event says what was reverted.
pub(super) async fn publish_table_events(
    app: &MetricsApp,
    ctx: &Context,
    table: &str,
    changes: &[Change],
) {
    let mut updates = Vec::new();
    for change in changes {
        match change {
            Change::Created => {
                publish(
                    app,
                    ctx,
                    EventType::Normal,
                    "TableCreated",
                    "CreateTable",
                    format!("created DynamoDB table {}", table),
                )
                .await;
            }
            Change::Adopted => {
                publish(
                    app,
                    ctx,
                    EventType::Normal,
                    "TableAdopted",
                    "AdoptTable",
                    format!("adopted existing DynamoDB table {} (adopt: true)", table),
                )
                .await;
            }
            Change::Billing { .. }
            | Change::Stream { .. }
            | Change::TimeToLive { .. }
            | Change::PointInTimeRecovery { .. }
            | Change::Tags { .. } => updates.push(change.to_string()),
        }
    }
    if updates.is_empty() {
        return;
    }
    let updates = updates.join("; ");
    if settled_for_this_generation(app, status::TABLE_READY) {
        publish(
            app,
            ctx,
            EventType::Warning,
            "DriftCorrected",
            "UpdateTable",
            format!(
                "table {} was changed outside the operator; reverted: {updates}",
                table
            ),
        )
        .await;
    } else {
        publish(
            app,
            ctx,
            EventType::Normal,
            "TableUpdated",
            "UpdateTable",
            format!("table {}: {updates}", table),
        )
        .await;
    }
}

/// A failure already shown by the condition `kind` was reported by an Event when it
/// first appeared: repeating it on every retry would only add noise. Passing AWS
/// errors (on `Synced`) are reported once while they last, whatever their mix of
/// throttles and 5xx.
pub(super) fn already_reported(app: &MetricsApp, kind: &str, failure: &Failure) -> bool {
    app.status
        .as_ref()
        .and_then(|status| status::find_condition(status, kind))
        .is_some_and(|condition| {
            condition.status == "False"
                && (kind == status::SYNCED || condition.reason == failure.reason)
        })
}

/// One Warning Event for each failure that its condition did not show before.
pub(super) async fn publish_failures(
    app: &MetricsApp,
    ctx: &Context,
    next: &MetricsAppStatus,
    failures: &[(&'static str, &'static str, Failure)],
) {
    for (kind, action, failure) in failures {
        if already_reported(app, kind, failure) {
            continue;
        }
        let note = status::find_condition(next, kind)
            .map_or_else(|| failure.message.clone(), |c| c.message.clone());
        publish(app, ctx, EventType::Warning, &failure.reason, action, note).await;
    }
}

/// True when the condition `kind` was True for the current generation: a change found
/// now was not asked for by the spec, so someone changed the resource behind the
/// operator's back.
pub(super) fn settled_for_this_generation(app: &MetricsApp, kind: &str) -> bool {
    app.status.as_ref().is_some_and(|status| {
        status.conditions.iter().any(|condition| {
            condition.type_ == kind
                && condition.status == "True"
                && condition.observed_generation == app.metadata.generation
        })
    })
}

/// Says what changed in words users look for: the image, for a Deployment.
pub(super) fn update_note<K: Serialize>(
    kind: &str,
    name: &str,
    before_image: Option<String>,
    after: &K,
) -> String {
    let after_image = serde_json::to_value(after).ok().and_then(|value| {
        value
            .pointer("/spec/template/spec/containers/0/image")
            .and_then(|image| image.as_str().map(str::to_owned))
    });
    match (before_image, after_image) {
        (Some(before), Some(after)) if before != after => {
            format!("updated {kind} {name}: image {before} → {after}")
        }
        _ => format!("updated {kind} {name} to the spec"),
    }
}

/// Publishes an Event about `app`. Events are a report, not the work: a failure to
/// publish one is logged and does not fail the pass.
pub(super) async fn publish(
    app: &MetricsApp,
    ctx: &Context,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(error) = ctx
        .recorder
        .recorder()
        .publish(&event, &app.object_ref(&()))
        .await
    {
        warn!(app = %key(app), %error, %reason, "could not publish Event");
    }
}
