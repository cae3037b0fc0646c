//! Deletion of a MetricsApp, as far as its table is concerned.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use metricsapp_aws::table::Deletion;

use super::events::publish;
use super::{Context, key};
use crate::crd::MetricsApp;
use crate::{Result, table};

/// Deletion: keep or delete the table as the policy says; the finalizer helper then
/// removes the finalizer, and Kubernetes garbage-collects the owned objects.
pub(super) async fn cleanup(app: Arc<MetricsApp>, ctx: &Context) -> Result<Action> {
    let policy = table::deletion_policy(&app, ctx.settings.default_deletion_policy);
    let name = table::table_name(&app)?;
    let owner = table::owner(&app)?;
    let deletion = metricsapp_aws::table::delete(
        &ctx.dynamodb,
        &name,
        &owner,
        policy,
        app.spec.table.backup_before_delete,
    )
    .await?;
    match deletion {
        Deletion::Retained => {
            publish(
                &app,
                ctx,
                EventType::Normal,
                "TableRetained",
                "DeleteMetricsApp",
                format!("kept DynamoDB table {name} and its items (deletionPolicy Retain)"),
            )
            .await;
        }
        Deletion::Deleted { backup_arn } => {
            if let Some(backup_arn) = &backup_arn {
                publish(
                    &app,
                    ctx,
                    EventType::Normal,
                    "TableBackedUp",
                    "CreateBackup",
                    format!("backed up DynamoDB table {name} to {backup_arn}"),
                )
                .await;
            }
            let note = match backup_arn {
                Some(_) => format!("deleted DynamoDB table {name} (deletionPolicy Delete)"),
                None => format!(
                    "deleted DynamoDB table {name} without a backup (backupBeforeDelete false)"
                ),
            };
            publish(
                &app,
                ctx,
                EventType::Normal,
                "TableDeleted",
                "DeleteTable",
                note,
            )
            .await;
        }
        Deletion::AlreadyGone => {
            publish(
                &app,
                ctx,
                EventType::Normal,
                "TableAlreadyGone",
                "DeleteTable",
                format!("DynamoDB table {name} no longer existed"),
            )
            .await;
        }
        Deletion::NotOwned => {
            publish(
                &app,
                ctx,
                EventType::Warning,
                "TableNotOwned",
                "DeleteTable",
                format!("DynamoDB table {name} is not owned by this MetricsApp: left untouched"),
            )
            .await;
        }
    }
    ctx.metrics
        .forget(&app.namespace().unwrap_or_default(), &app.name_any());
    ctx.forget(&key(&app));
    Ok(Action::await_change())
}
