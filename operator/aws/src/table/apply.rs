//! One reconcile pass over the table: describe it, let the pure `plan` decide, send the
//! planned steps in order, and report where it stands. Every decision is the plan's;
//! this file only turns steps into calls.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_table::builders::UpdateTableFluentBuilder;
use aws_sdk_dynamodb::types::{
    BillingMode, GlobalSecondaryIndexUpdate, PointInTimeRecoverySpecification, StreamSpecification,
    StreamViewType, TableDescription, Tag, TimeToLiveSpecification,
    UpdateGlobalSecondaryIndexAction,
};
use aws_smithy_types::error::operation::BuildError;

use super::actual::ActualTable;
use super::describe::{Read, describe, describe_table, stream_arn};
use super::plan::{BillingUpdate, Step, fingerprint, plan, validate};
use super::{Billing, DesiredTable, Error, Owner, StreamView, TableRecord, TableReport};
use crate::fingerprint::one_read_or_full;

/// Brings the table one pass closer to `desired` and reports where it stands.
///
/// Creates the table when absent and `record` says it never existed (or asks for it
/// again with `recreate`); a table the operator had created or adopted that is now
/// absent is a terminal [`Error::TableLost`] and is not re-created empty. An existing
/// table must carry `owner`'s uid tag, or have no owner tag and `adopt` set (it is then
/// tagged as ours); any other table is a terminal [`Error::Conflict`] and is not
/// touched. A tag is removed only when it is in `record.managed_tags` and the spec no
/// longer has it: tags set by others (AWS Backup, cost allocation) are kept. A table
/// whose keys differ from the app's layout is a terminal [`Error::IncompatibleTable`].
/// While the table is CREATING or UPDATING nothing is changed. `settled` is true only
/// when nothing was changed and nothing is in progress: the controller requeues soon
/// while it is false.
pub async fn reconcile(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
    adopt: bool,
    record: &TableRecord,
) -> Result<TableReport, Error> {
    validate(desired, owner)?;
    let described = describe(client, &desired.name, Read::Everything).await?;
    if let Some(report) = pass(client, desired, owner, adopt, record, described.as_ref()).await? {
        return Ok(report);
    }
    // Someone created it between our DescribeTable and CreateTable.
    let busy = || Error::TableBusy {
        table: desired.name.clone(),
        status: "created and deleted again by someone else".to_owned(),
        source: None,
    };
    let described = describe(client, &desired.name, Read::Everything)
        .await?
        .ok_or_else(busy)?;
    // The table exists now, so this pass plans no CreateTable and cannot race again.
    pass(client, desired, owner, adopt, record, Some(&described))
        .await?
        .ok_or_else(busy)
}

/// What [`reconcile`] would do now, without doing it: the same reads and the same pure
/// plan, and no write. `metricsapp-operator plan` shows it.
pub async fn preview(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
    adopt: bool,
    record: &TableRecord,
) -> Result<super::Plan, Error> {
    validate(desired, owner)?;
    let described = describe(client, &desired.name, Read::Everything).await?;
    plan(desired, described.as_ref(), owner, adopt, record)
}

/// Like [`reconcile`], but first checks with DescribeTable alone whether anything it
/// returns, or the spec, the owner or the record, changed since `last` (a settled
/// report of this table, carrying its [`TableReport::fingerprint`]). Nothing changed:
/// `last` again, after one read. Otherwise, or without a fingerprint, a full pass.
/// Tags, TTL and point-in-time recovery changed behind the operator's back are not
/// seen by the check: the controller runs a full pass on its own period for them.
pub async fn reconcile_since(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
    adopt: bool,
    record: &TableRecord,
    last: &TableReport,
) -> Result<TableReport, Error> {
    let read = || async {
        validate(desired, owner)?;
        let actual = describe_table(client, &desired.name).await?;
        Ok(actual.map(|actual| fingerprint(desired, owner, adopt, record, &actual)))
    };
    let full = || reconcile(client, desired, owner, adopt, record);
    one_read_or_full(last, last.fingerprint, read, full).await
}

/// Plans from `actual` and sends the plan's steps; `None` when CreateTable found the
/// table created by someone else since it was described.
async fn pass(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
    adopt: bool,
    record: &TableRecord,
    actual: Option<&ActualTable>,
) -> Result<Option<TableReport>, Error> {
    let plan = plan(desired, actual, owner, adopt, record)?;
    let mut report = TableReport {
        name: desired.name.clone(),
        arn: actual.and_then(|table| table.arn.clone()),
        stream_arn: actual.and_then(|table| table.stream_arn.clone()),
        status: actual
            .map_or("CREATING", |table| table.status.as_str())
            .to_owned(),
        changes: Vec::new(),
        settled: false,
        managed_tags: plan.managed_tags.clone(),
        fingerprint: None,
    };
    for step in &plan.steps {
        let sent = send(client, desired, actual, step)
            .await
            .map_err(|e| e.after(&report.changes))?;
        match sent {
            Sent::Nothing => {}
            Sent::AlreadyExists => return Ok(None),
            Sent::Created(description) => {
                report.arn = description
                    .as_ref()
                    .and_then(|d| d.table_arn())
                    .map(str::to_owned);
                report.stream_arn = description.as_ref().and_then(stream_arn);
                report.status = status_of(description.as_ref(), "CREATING");
            }
            Sent::Updated(description) => {
                report.status = status_of(description.as_ref(), "UPDATING");
                if let Some(description) = &description {
                    report.stream_arn = stream_arn(description);
                }
            }
        }
        report.changes.push(step.change());
    }
    if !plan.waiting.is_empty() {
        tracing::debug!(table = %desired.name, waiting = ?plan.waiting, "table not settled");
    }
    report.settled = plan.is_settled();
    report.fingerprint = actual
        .filter(|_| report.settled)
        .map(|actual| fingerprint(desired, owner, adopt, record, actual));
    Ok(Some(report))
}

/// What a sent step tells about the table afterwards.
enum Sent {
    Nothing,
    /// CreateTable answered with the new table (its ARN, status and stream).
    Created(Option<TableDescription>),
    /// CreateTable found the table already there (a race with someone else).
    AlreadyExists,
    /// UpdateTable answered with the table (its status, and the stream ARN a stream
    /// step changes).
    Updated(Option<TableDescription>),
}

/// Creates the table.
async fn create(
    client: &Client,
    desired: &DesiredTable,
    tags: &BTreeMap<String, String>,
) -> Result<Sent, Error> {
    let name = &desired.name;
    let tags = tags
        .iter()
        .map(|(key, value)| built(name, Tag::builder().key(key).value(value).build()))
        .collect::<Result<Vec<_>, _>>()?;
    let capacity = match desired.billing {
        Billing::OnDemand => None,
        Billing::Provisioned(capacity) => Some(capacity),
    };
    let request = client
        .create_table()
        .table_name(name)
        .set_key_schema(Some(metrics_app_table::key_schema()))
        .set_attribute_definitions(Some(metrics_app_table::attribute_definitions()))
        .set_global_secondary_indexes(Some(metrics_app_table::global_secondary_indexes(capacity)))
        .billing_mode(match desired.billing {
            Billing::OnDemand => BillingMode::PayPerRequest,
            Billing::Provisioned(_) => BillingMode::Provisioned,
        })
        .set_provisioned_throughput(capacity.map(|c| c.to_throughput()))
        .set_stream_specification(
            desired
                .stream
                .map(|view| stream_specification(name, Some(view)))
                .transpose()?,
        )
        .set_tags(Some(tags));
    match request.send().await {
        Ok(output) => Ok(Sent::Created(output.table_description().cloned())),
        Err(SdkError::ServiceError(e)) if e.err().is_resource_in_use_exception() => {
            Ok(Sent::AlreadyExists)
        }
        Err(e) => Err(Error::from_sdk("CreateTable", name, e)),
    }
}

/// Sends one step. `actual` is `None` only for [`Step::Create`].
async fn send(
    client: &Client,
    desired: &DesiredTable,
    actual: Option<&ActualTable>,
    step: &Step,
) -> Result<Sent, Error> {
    let name = &desired.name;
    let sent = match step {
        Step::Create { tags } => create(client, desired, tags).await?,
        Step::Adopt { tags } => {
            tag(client, name, arn(name, actual)?, tags).await?;
            Sent::Nothing
        }
        Step::Tags { set, removed } => {
            let arn = arn(name, actual)?;
            if !set.is_empty() {
                tag(client, name, arn, set).await?;
            }
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(removed.clone()))
                    .send()
                    .await
                    .map_err(|e| Error::from_sdk("UntagResource", name, e))?;
            }
            Sent::Nothing
        }
        Step::TimeToLive { from, to } => {
            let (enabled, attribute) = match (to, from) {
                (Some(attribute), _) => (true, attribute),
                (None, Some(attribute)) => (false, attribute),
                (None, None) => return Ok(Sent::Nothing),
            };
            let specification = built(
                name,
                TimeToLiveSpecification::builder()
                    .enabled(enabled)
                    .attribute_name(attribute)
                    .build(),
            )?;
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(specification)
                .send()
                .await
                .map_err(|e| Error::from_sdk("UpdateTimeToLive", name, e))?;
            Sent::Nothing
        }
        Step::PointInTimeRecovery { to } => {
            let specification = built(
                name,
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(*to)
                    .build(),
            )?;
            client
                .update_continuous_backups()
                .table_name(name)
                .point_in_time_recovery_specification(specification)
                .send()
                .await
                .map_err(|e| Error::from_sdk("UpdateContinuousBackups", name, e))?;
            Sent::Nothing
        }
        Step::Billing(update) => {
            let output = billing_request(client.update_table().table_name(name), name, update)?
                .send()
                .await
                .map_err(|e| Error::from_sdk("UpdateTable", name, e))?;
            Sent::Updated(output.table_description().cloned())
        }
        Step::Stream { to, .. } => {
            let output = client
                .update_table()
                .table_name(name)
                .stream_specification(stream_specification(name, *to)?)
                .send()
                .await
                .map_err(|e| Error::from_sdk("UpdateTable", name, e))?;
            Sent::Updated(output.table_description().cloned())
        }
    };
    match sent {
        Sent::AlreadyExists => {}
        Sent::Nothing | Sent::Created(_) | Sent::Updated(_) => {
            tracing::info!(table = %name, change = %step.change(), "table changed");
        }
    }
    Ok(sent)
}

fn billing_request(
    request: UpdateTableFluentBuilder,
    table: &str,
    update: &BillingUpdate,
) -> Result<UpdateTableFluentBuilder, Error> {
    let mut request = request;
    if update.mode_changes {
        request = request.billing_mode(match update.to {
            Billing::OnDemand => BillingMode::PayPerRequest,
            Billing::Provisioned(_) => BillingMode::Provisioned,
        });
    }
    if let Some(capacity) = update.table {
        request = request.provisioned_throughput(capacity.to_throughput());
    }
    for (index, capacity) in &update.indexes {
        request = request.global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .update(built(
                    table,
                    UpdateGlobalSecondaryIndexAction::builder()
                        .index_name(index)
                        .provisioned_throughput(capacity.to_throughput())
                        .build(),
                )?)
                .build(),
        );
    }
    Ok(request)
}

async fn tag(
    client: &Client,
    name: &str,
    arn: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let tags = tags
        .iter()
        .map(|(key, value)| built(name, Tag::builder().key(key).value(value).build()))
        .collect::<Result<Vec<_>, _>>()?;
    client
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| Error::from_sdk("TagResource", name, e))?;
    Ok(())
}

fn arn<'a>(name: &str, actual: Option<&'a ActualTable>) -> Result<&'a str, Error> {
    actual
        .and_then(|table| table.arn.as_deref())
        .ok_or_else(|| Error::UnexpectedResponse {
            operation: "DescribeTable",
            table: name.to_owned(),
            missing: "the table ARN",
        })
}

fn stream_specification(
    table: &str,
    view: Option<StreamView>,
) -> Result<StreamSpecification, Error> {
    built(
        table,
        StreamSpecification::builder()
            .stream_enabled(view.is_some())
            .set_stream_view_type(view.map(|view| StreamViewType::from(view.as_str())))
            .build(),
    )
}

fn status_of(description: Option<&TableDescription>, otherwise: &str) -> String {
    description
        .and_then(|d| d.table_status())
        .map_or(otherwise, |status| status.as_str())
        .to_owned()
}

/// A request part the SDK refused to build names a problem with the spec.
fn built<T>(table: &str, part: Result<T, BuildError>) -> Result<T, Error> {
    part.map_err(|e| Error::InvalidSpec {
        table: table.to_owned(),
        problem: format!("request could not be built: {e}"),
        source: Some(Box::new(e)),
    })
}
