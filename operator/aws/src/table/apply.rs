//! One reconcile pass over the table: create it when absent (unless it was ours and is
//! lost, see [`start`]); otherwise check who owns it and that it has the app's layout,
//! then apply the planned steps (at most one UpdateTable per pass) and report where it
//! stands.

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
use super::ownership::{Ownership, owner_tags, ownership};
use super::plan::{
    BillingUpdate, Start, Step, fingerprint, managed_tags, plan, start, validate, waiting_on,
    wanted_tags,
};
use super::{
    Billing, Change, DesiredTable, Error, Owner, StreamView, TableRecord, TableReport, layout,
};

/// Brings the table one pass closer to `desired` and reports where it stands.
///
/// Creates the table when absent and `record` says it never existed (or asks for it
/// again with `recreate`); a table the operator had created or adopted that is now
/// absent is a terminal [`Error::TableLost`] and is not re-created empty. An existing
/// table must carry `owner`'s uid tag, or have no owner tag and `adopt` set (it is then
/// tagged as ours); any other table is a terminal [`Error::Conflict`] and is not
/// touched. A tag is removed only when it is in `record.managed_tags` and the spec no
/// longer has it: tags set by others (AWS Backup, cost allocation) are kept. A table whose keys differ from the
/// app's layout is a terminal [`Error::IncompatibleTable`]. While the table is CREATING
/// or UPDATING nothing is changed. `settled` is true only when nothing was changed and
/// nothing is in progress: the controller requeues soon while it is false.
pub async fn reconcile(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
    adopt: bool,
    record: &TableRecord,
) -> Result<TableReport, Error> {
    validate(desired, owner)?;
    let described = describe(client, &desired.name, Read::Everything).await?;
    let actual = match start(&desired.name, described, record)? {
        Start::Existing(actual) => *actual,
        Start::Create => match create(client, desired, owner).await? {
            Some(report) => return Ok(report),
            // Someone created it between our DescribeTable and CreateTable.
            None => describe(client, &desired.name, Read::Everything)
                .await?
                .ok_or_else(|| Error::TableBusy {
                    table: desired.name.clone(),
                    status: "created and deleted again by someone else".to_owned(),
                    source: None,
                })?,
        },
    };
    update(client, desired, owner, adopt, record, actual).await
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
    if let Some(seen) = last.fingerprint {
        validate(desired, owner)?;
        if let Some(actual) = describe_table(client, &desired.name).await?
            && fingerprint(desired, owner, adopt, record, &actual) == seen
        {
            return Ok(last.clone());
        }
    }
    reconcile(client, desired, owner, adopt, record).await
}

async fn update(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
    adopt: bool,
    record: &TableRecord,
    mut actual: ActualTable,
) -> Result<TableReport, Error> {
    let managed = &record.managed_tags;
    let mut changes = Vec::new();
    let adopting = match ownership(&actual.tags, owner) {
        Ownership::Ours => false,
        // Before ACTIVE, AWS may not list the tags given at creation yet, and nothing
        // can be changed anyway: decide once the table is ACTIVE.
        Ownership::Unowned if !actual.is_active() => {
            return Ok(TableReport {
                name: actual.name,
                arn: actual.arn,
                stream_arn: actual.stream_arn,
                status: actual.status,
                changes,
                settled: false,
                managed_tags: managed_tags(desired),
                fingerprint: None,
            });
        }
        Ownership::Unowned if adopt => true,
        Ownership::Unowned => {
            return Err(Error::Conflict {
                table: actual.name,
                owner: "already exists and has no metricsapp.dev/uid owner tag; \
                        set table.adopt: true to take it over"
                    .to_owned(),
            });
        }
        Ownership::Other(who) => {
            return Err(Error::Conflict {
                table: actual.name,
                owner: format!("belongs to {who}"),
            });
        }
    };
    let differences = layout::differences(&layout::expected(), &actual.layout);
    if !differences.is_empty() {
        return Err(Error::IncompatibleTable {
            table: actual.name,
            differences: differences.join("; "),
        });
    }
    if adopting {
        let tags = owner_tags(owner);
        tag(client, &actual, &tags).await?;
        actual.tags.extend(tags);
        changes.push(Change::Adopted);
    }

    let steps = plan(desired, &actual, owner, managed);
    let waiting = waiting_on(desired, &actual);
    let mut status = actual.status.clone();
    let mut stream = actual.stream_arn.clone();
    for step in &steps {
        let applied = apply(client, &actual, step)
            .await
            .map_err(|e| e.after(&changes))?;
        changes.push(step.change());
        if step.is_update_table() {
            status = status_of(applied.as_ref(), "UPDATING");
            if let Some(description) = &applied {
                stream = stream_arn(description);
            }
            // The table is UPDATING now; later UpdateTable steps wait for the next pass.
            break;
        }
    }
    if !waiting.is_empty() {
        tracing::debug!(table = %actual.name, waiting = ?waiting, "table not settled");
    }
    let settled = changes.is_empty() && waiting.is_empty() && actual.is_active();
    Ok(TableReport {
        fingerprint: settled.then(|| fingerprint(desired, owner, adopt, record, &actual)),
        settled,
        name: actual.name,
        arn: actual.arn,
        stream_arn: stream,
        status,
        changes,
        managed_tags: managed_tags(desired),
    })
}

/// Creates the table; `None` when it turned out to exist already (a race).
async fn create(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
) -> Result<Option<TableReport>, Error> {
    let name = &desired.name;
    let tags = wanted_tags(desired, owner)
        .into_iter()
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
    let output = match request.send().await {
        Ok(output) => output,
        Err(SdkError::ServiceError(e)) if e.err().is_resource_in_use_exception() => {
            return Ok(None);
        }
        Err(e) => return Err(Error::from_sdk("CreateTable", name, e)),
    };
    let description = output.table_description();
    tracing::info!(table = %name, "table created");
    Ok(Some(TableReport {
        name: name.clone(),
        arn: description.and_then(|d| d.table_arn()).map(str::to_owned),
        stream_arn: description.and_then(stream_arn),
        status: status_of(description, "CREATING"),
        changes: vec![Change::Created],
        // TTL and point-in-time recovery can only be set once the table is ACTIVE.
        settled: false,
        managed_tags: managed_tags(desired),
        fingerprint: None,
    }))
}

/// Applies one step; returns the table as AWS describes it after an UpdateTable (its
/// status, and the stream ARN a stream step changes).
async fn apply(
    client: &Client,
    table: &ActualTable,
    step: &Step,
) -> Result<Option<TableDescription>, Error> {
    let name = &table.name;
    let mut described = None;
    match step {
        Step::Tags { set, removed } => {
            if !set.is_empty() {
                tag(client, table, set).await?;
            }
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource_arn(arn(table)?)
                    .set_tag_keys(Some(removed.clone()))
                    .send()
                    .await
                    .map_err(|e| Error::from_sdk("UntagResource", name, e))?;
            }
        }
        Step::TimeToLive { from, to } => {
            let (enabled, attribute) = match (to, from) {
                (Some(attribute), _) => (true, attribute),
                (None, Some(attribute)) => (false, attribute),
                (None, None) => return Ok(None),
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
        }
        Step::Billing(update) => {
            let output = billing_request(client.update_table().table_name(name), name, update)?
                .send()
                .await
                .map_err(|e| Error::from_sdk("UpdateTable", name, e))?;
            described = output.table_description().cloned();
        }
        Step::Stream { to, .. } => {
            let output = client
                .update_table()
                .table_name(name)
                .stream_specification(stream_specification(name, *to)?)
                .send()
                .await
                .map_err(|e| Error::from_sdk("UpdateTable", name, e))?;
            described = output.table_description().cloned();
        }
    }
    tracing::info!(table = %name, change = %step.change(), "table changed");
    Ok(described)
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
    table: &ActualTable,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<(), Error> {
    let name = &table.name;
    let tags = tags
        .iter()
        .map(|(key, value)| built(name, Tag::builder().key(key).value(value).build()))
        .collect::<Result<Vec<_>, _>>()?;
    client
        .tag_resource()
        .resource_arn(arn(table)?)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| Error::from_sdk("TagResource", name, e))?;
    Ok(())
}

fn arn(table: &ActualTable) -> Result<&str, Error> {
    table
        .arn
        .as_deref()
        .ok_or_else(|| Error::UnexpectedResponse {
            operation: "DescribeTable",
            table: table.name.clone(),
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
