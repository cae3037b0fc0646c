//! Deletion of a MetricsApp, as far as its functions and table are concerned.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use metricsapp_aws::table::{Deletion, DeletionPolicy};

use super::Context;
use super::events::publish;
use super::functions::publish_deletion;
use crate::crd::MetricsApp;
use crate::{Result, function, table};

/// Deletion: delete or keep each function, then the table, as their policies say; the
/// finalizer helper then removes the finalizer, and Kubernetes garbage-collects the
/// owned objects. Functions go first: a stream trigger must not outlive its table.
pub(super) async fn cleanup(app: Arc<MetricsApp>, ctx: &Context) -> Result<Action> {
    let owner = table::owner(&app)?;
    let prefix = &ctx.settings.app.name_prefix;
    for (name, policy) in functions_to_remove(&app, prefix)? {
        let deletion =
            metricsapp_aws::function::delete(&ctx.aws.lambda, &name, &owner, policy).await?;
        publish_deletion(&app, ctx, &name, deletion).await;
    }
    let policy = table::deletion_policy(&app, ctx.settings.default_deletion_policy);
    let name = table::table_name(&app, prefix)?;
    // The administrator may not allow a deletion without a backup: one is taken anyway.
    let backup = crate::limits::backup_before_delete(&app, &ctx.settings.limits);
    let deletion =
        metricsapp_aws::table::delete(&ctx.aws.dynamodb, &name, &owner, policy, backup).await?;
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
    ctx.forget(&app);
    Ok(Action::await_change())
}

/// Every function of the app, declared or removed but not yet deleted, with the
/// policy that applies to it.
fn functions_to_remove(app: &MetricsApp, prefix: &str) -> Result<Vec<(String, DeletionPolicy)>> {
    let mut functions = Vec::new();
    for spec in &app.spec.functions {
        functions.push((
            function::function_name(app, spec, prefix)?,
            function::deletion_policy(spec.deletion_policy),
        ));
    }
    let recorded = app.status.iter().flat_map(|status| &status.functions);
    for old in recorded {
        if !functions.iter().any(|(name, _)| *name == old.function_name) {
            functions.push((
                old.function_name.clone(),
                function::deletion_policy(old.deletion_policy),
            ));
        }
    }
    Ok(functions)
}
