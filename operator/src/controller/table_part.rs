//! The table part of a pass: reconcile the table under a deadline, publish Events for
//! what changed, and say where it stands.

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use metricsapp_aws::table::TableReport;
use serde_json::json;
use tracing::warn;

use super::events::publish_table_events;
use super::{Context, Next, failures, key};
use crate::crd::MetricsApp;
use crate::status::TableState;
use crate::{Error, Result, limits, table};

pub(super) async fn reconcile_table(app: &MetricsApp, ctx: &Context) -> (TableState, Next) {
    if let Err(refusal) = limits::check_table(app, &ctx.settings.limits) {
        let failure = failures::not_allowed(refusal);
        return (
            TableState::Failed {
                table: None,
                failure,
            },
            Next::Resync,
        );
    }
    let deadline = ctx.settings.aws_deadline;
    let result = match tokio::time::timeout(deadline, reconcile(app, ctx)).await {
        Ok(result) => result,
        Err(_) => {
            let failure = failures::timed_out("the table's AWS calls", deadline);
            return (
                TableState::Unread(failure),
                Next::Retry(std::time::Duration::ZERO),
            );
        }
    };
    match result {
        Ok(report) => {
            publish_table_events(app, ctx, &report.name, &report.changes).await;
            let recreated = report
                .changes
                .contains(&metricsapp_aws::table::Change::Created);
            if recreated && let Err(error) = clear_recreate_annotation(app, ctx).await {
                warn!(app = %key(app), %error, "could not remove the recreate-table annotation");
            }
            let status = table::table_status(&report, app, ctx.settings.default_deletion_policy);
            if report.settled {
                (TableState::Settled(status), Next::Resync)
            } else {
                (TableState::InProgress(status), Next::Settle)
            }
        }
        Err(error) => {
            // Changes made before the failure still deserve their Events.
            let name = table::table_name(app, &ctx.settings.app.name_prefix);
            if let (Error::Table(table_error), Ok(name)) = (&error, name) {
                publish_table_events(app, ctx, &name, table_error.changes()).await;
            }
            let failure = failures::of_error(&error);
            let next = if failure.terminal {
                Next::Resync
            } else {
                Next::Retry(match &error {
                    Error::Table(table_error) => table_error.retry_after().unwrap_or_default(),
                    _ => std::time::Duration::ZERO,
                })
            };
            let state = match &error {
                Error::Table(table_error) if table_error.is_transient_read() => {
                    TableState::Unread(failure)
                }
                _ => TableState::Failed {
                    table: None,
                    failure,
                },
            };
            (state, next)
        }
    }
}

/// One pass over the table: a full read, or one DescribeTable while the last full
/// read of a settled table is younger than the full-read period.
async fn reconcile(app: &MetricsApp, ctx: &Context) -> Result<TableReport> {
    let prefix = &ctx.settings.app.name_prefix;
    let desired = table::desired_table(app, prefix)?;
    let owner = table::owner(app)?;
    let record = table::record(app, prefix)?;
    let app_key = key(app);
    let settled = ctx
        .memory()
        .settled_table(&app_key, ctx.settings.aws_full_read_period);
    let (client, adopt) = (&ctx.aws.dynamodb, app.spec.table.adopt);
    let result = match &settled {
        Some(last) => {
            metricsapp_aws::table::reconcile_since(client, &desired, &owner, adopt, &record, last)
                .await
        }
        None => metricsapp_aws::table::reconcile(client, &desired, &owner, adopt, &record).await,
    };
    match &result {
        // A read that failed for a passing reason leaves what was learned before.
        Err(error) if error.is_transient_read() => {}
        Ok(_) | Err(_) => ctx.memory().keep_table(&app_key, result.as_ref().ok()),
    }
    Ok(result?)
}

/// The recreate annotation is a one-time request: once the table exists again it is
/// removed, so that it cannot re-create a table lost later without being asked again.
async fn clear_recreate_annotation(app: &MetricsApp, ctx: &Context) -> Result<()> {
    if !app.annotations().contains_key(table::RECREATE_ANNOTATION) {
        return Ok(());
    }
    let namespace = app
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let apps: kube::Api<MetricsApp> = kube::Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({ "metadata": { "annotations": { table::RECREATE_ANNOTATION: null } } });
    apps.patch(
        &app.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}
