//! Reads a table from AWS into an [`ActualTable`]: DescribeTable, then (at once, as
//! they do not depend on each other) ListTagsOfResource and, for an ACTIVE table when
//! asked, DescribeTimeToLive and DescribeContinuousBackups. Before ACTIVE nothing can be
//! changed, so there is nothing to compare them with. [`describe_table`] is the first
//! read alone, for a pass that only checks nothing changed (see `Fingerprint`).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    BillingMode, IndexStatus, PointInTimeRecoveryStatus, ProvisionedThroughputDescription,
    StreamViewType, TableDescription, TimeToLiveDescription, TimeToLiveStatus,
};

use super::actual::{ActualTable, IndexLayout, Layout, TableStatus, TimeToLive};
use super::layout::keys;
use super::{Billing, Capacity, Error, StreamView};
use crate::sdk::if_found;

/// Which parts of the table to read besides DescribeTable and its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Only what ownership, layout and deletion need.
    TableAndTags,
    /// Also TTL and point-in-time recovery (of an ACTIVE table), to compare with a spec.
    Everything,
}

/// The table named `name`, or `None` when it does not exist.
pub async fn describe(
    client: &Client,
    name: &str,
    read: Read,
) -> Result<Option<ActualTable>, Error> {
    let Some(mut table) = describe_table(client, name).await? else {
        return Ok(None);
    };
    let arn = table.arn.clone().ok_or_else(|| Error::UnexpectedResponse {
        operation: "DescribeTable",
        table: name.to_owned(),
        missing: "the table ARN",
    })?;
    let settings = read == Read::Everything && table.is_active();
    let (tags, time_to_live, point_in_time_recovery) = tokio::try_join!(
        tags(client, name, &arn),
        async {
            if settings {
                time_to_live(client, name).await.map(Some)
            } else {
                Ok(None)
            }
        },
        async {
            if settings {
                point_in_time_recovery(client, name).await.map(Some)
            } else {
                Ok(None)
            }
        },
    )?;
    table.tags = tags;
    table.time_to_live = time_to_live;
    table.point_in_time_recovery = point_in_time_recovery;
    Ok(Some(table))
}

/// What DescribeTable alone tells of the table named `name` (tags, TTL and
/// point-in-time recovery left unread), or `None` when it does not exist.
pub async fn describe_table(client: &Client, name: &str) -> Result<Option<ActualTable>, Error> {
    let Some(output) = if_found(client.describe_table().table_name(name).send().await)
        .map_err(|e| Error::from_sdk("DescribeTable", name, e))?
    else {
        return Ok(None);
    };
    let description = output.table().ok_or_else(|| Error::UnexpectedResponse {
        operation: "DescribeTable",
        table: name.to_owned(),
        missing: "the table description",
    })?;
    Ok(Some(from_description(name, description)))
}

/// The parts of an [`ActualTable`] that DescribeTable tells; tags, TTL and
/// point-in-time recovery are left empty for their own calls.
pub fn from_description(name: &str, description: &TableDescription) -> ActualTable {
    let on_demand = description
        .billing_mode_summary()
        .and_then(|summary| summary.billing_mode())
        == Some(&BillingMode::PayPerRequest);
    // An on-demand table may still report its old provisioned throughput (moto does):
    // the billing mode summary decides, and the figures are ignored.
    let billing = if on_demand {
        Billing::OnDemand
    } else {
        Billing::Provisioned(capacity(description.provisioned_throughput()))
    };
    let indexes = description.global_secondary_indexes();
    ActualTable {
        name: description.table_name().unwrap_or(name).to_owned(),
        arn: description.table_arn().map(str::to_owned),
        status: TableStatus::from(
            description
                .table_status()
                .map_or("UNKNOWN", |status| status.as_str()),
        ),
        created: description.creation_date_time().copied(),
        layout: Layout {
            key_schema: keys(description.key_schema()),
            attributes: description
                .attribute_definitions()
                .iter()
                .map(|a| {
                    (
                        a.attribute_name().to_owned(),
                        a.attribute_type().as_str().to_owned(),
                    )
                })
                .collect(),
            indexes: indexes
                .iter()
                .map(|index| {
                    let layout = IndexLayout {
                        key_schema: keys(index.key_schema()),
                        projection: index
                            .projection()
                            .and_then(|p| p.projection_type())
                            .map_or("", |t| t.as_str())
                            .to_owned(),
                    };
                    (index.index_name().unwrap_or_default().to_owned(), layout)
                })
                .collect(),
        },
        billing,
        index_capacity: indexes
            .iter()
            .map(|index| {
                let capacity = (!on_demand).then(|| capacity(index.provisioned_throughput()));
                (index.index_name().unwrap_or_default().to_owned(), capacity)
            })
            .collect(),
        busy_indexes: indexes
            .iter()
            .filter(|index| index.index_status() != Some(&IndexStatus::Active))
            .map(|index| index.index_name().unwrap_or_default().to_owned())
            .collect(),
        stream: description
            .stream_specification()
            .filter(|spec| spec.stream_enabled())
            .and_then(|spec| spec.stream_view_type())
            .and_then(stream_view),
        stream_arn: stream_arn(description),
        time_to_live: None,
        point_in_time_recovery: None,
        tags: BTreeMap::new(),
    }
}

/// `LatestStreamArn` while the stream is enabled. AWS keeps reporting the last stream's
/// ARN for a while after the stream is turned off (its records stay readable for 24
/// hours), but nothing new arrives on it: nothing should be wired to it then.
pub fn stream_arn(description: &TableDescription) -> Option<String> {
    description
        .stream_specification()
        .filter(|spec| spec.stream_enabled())
        .and(description.latest_stream_arn())
        .map(str::to_owned)
}

fn capacity(throughput: Option<&ProvisionedThroughputDescription>) -> Capacity {
    Capacity {
        read: throughput
            .and_then(|t| t.read_capacity_units())
            .unwrap_or_default(),
        write: throughput
            .and_then(|t| t.write_capacity_units())
            .unwrap_or_default(),
    }
}

pub fn stream_view(view: &StreamViewType) -> Option<StreamView> {
    match view {
        StreamViewType::KeysOnly => Some(StreamView::KeysOnly),
        StreamViewType::NewImage => Some(StreamView::NewImage),
        StreamViewType::OldImage => Some(StreamView::OldImage),
        StreamViewType::NewAndOldImages => Some(StreamView::NewAndOldImages),
        _ => None,
    }
}

async fn tags(client: &Client, name: &str, arn: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut tags = BTreeMap::new();
    let mut next_token = None;
    loop {
        let output = client
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| Error::from_sdk("ListTagsOfResource", name, e))?;
        tags.extend(
            output
                .tags()
                .iter()
                .map(|tag| (tag.key().to_owned(), tag.value().to_owned())),
        );
        match output.next_token() {
            Some(token) => next_token = Some(token.to_owned()),
            None => return Ok(tags),
        }
    }
}

async fn time_to_live(client: &Client, name: &str) -> Result<TimeToLive, Error> {
    let output = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| Error::from_sdk("DescribeTimeToLive", name, e))?;
    ttl_from(name, output.time_to_live_description())
}

pub fn ttl_from(
    name: &str,
    description: Option<&TimeToLiveDescription>,
) -> Result<TimeToLive, Error> {
    let status = description.and_then(|d| d.time_to_live_status());
    let attribute = description
        .and_then(|d| d.attribute_name())
        .map(str::to_owned);
    let missing = || Error::UnexpectedResponse {
        operation: "DescribeTimeToLive",
        table: name.to_owned(),
        missing: "the TTL attribute name",
    };
    match status {
        None | Some(TimeToLiveStatus::Disabled) => Ok(TimeToLive::Disabled),
        Some(TimeToLiveStatus::Enabled) => attribute.map(TimeToLive::Enabled).ok_or_else(missing),
        Some(TimeToLiveStatus::Enabling) => attribute.map(TimeToLive::Enabling).ok_or_else(missing),
        Some(TimeToLiveStatus::Disabling) => {
            attribute.map(TimeToLive::Disabling).ok_or_else(missing)
        }
        Some(_) => Err(Error::UnexpectedResponse {
            operation: "DescribeTimeToLive",
            table: name.to_owned(),
            missing: "a TTL status this operator knows",
        }),
    }
}

async fn point_in_time_recovery(client: &Client, name: &str) -> Result<bool, Error> {
    let output = client
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .map_err(|e| Error::from_sdk("DescribeContinuousBackups", name, e))?;
    Ok(output
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|d| d.point_in_time_recovery_status())
        == Some(&PointInTimeRecoveryStatus::Enabled))
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::{
        BillingModeSummary, GlobalSecondaryIndexDescription, StreamSpecification, TableStatus,
    };

    use super::*;
    use crate::table::layout;

    fn throughput(read: i64, write: i64) -> ProvisionedThroughputDescription {
        ProvisionedThroughputDescription::builder()
            .read_capacity_units(read)
            .write_capacity_units(write)
            .build()
    }

    fn index(status: IndexStatus, read: i64, write: i64) -> GlobalSecondaryIndexDescription {
        let expected = &metrics_app_table::global_secondary_indexes(None)[0];
        GlobalSecondaryIndexDescription::builder()
            .index_name(expected.index_name())
            .set_key_schema(Some(expected.key_schema().to_vec()))
            .set_projection(expected.projection().cloned())
            .index_status(status)
            .provisioned_throughput(throughput(read, write))
            .build()
    }

    fn description(mode: BillingMode) -> TableDescription {
        TableDescription::builder()
            .table_name("t1")
            .table_arn("arn:aws:dynamodb:us-east-1:123456789012:table/t1")
            .table_status(TableStatus::Active)
            .set_key_schema(Some(metrics_app_table::key_schema()))
            .set_attribute_definitions(Some(metrics_app_table::attribute_definitions()))
            .billing_mode_summary(BillingModeSummary::builder().billing_mode(mode).build())
            .provisioned_throughput(throughput(5, 5))
            .global_secondary_indexes(index(IndexStatus::Active, 5, 5))
            .build()
    }

    #[test]
    fn on_demand_table_ignores_the_old_throughput_it_still_reports() {
        let table = from_description("t1", &description(BillingMode::PayPerRequest));
        assert_eq!(table.billing, Billing::OnDemand);
        assert_eq!(table.index_capacity["by_collection"], None);
        assert_eq!(table.layout, layout::expected());
        assert!(table.is_active());
    }

    #[test]
    fn provisioned_table_reads_table_and_index_capacity() {
        let table = from_description("t1", &description(BillingMode::Provisioned));
        let five = Capacity { read: 5, write: 5 };
        assert_eq!(table.billing, Billing::Provisioned(five));
        assert_eq!(table.index_capacity["by_collection"], Some(five));
        assert!(table.busy_indexes.is_empty());
    }

    #[test]
    fn table_without_billing_summary_is_provisioned() {
        // AWS omits the summary for tables that were always provisioned.
        let mut description = description(BillingMode::Provisioned);
        description.billing_mode_summary = None;
        let table = from_description("t1", &description);
        assert_eq!(
            table.billing,
            Billing::Provisioned(Capacity { read: 5, write: 5 })
        );
    }

    #[test]
    fn updating_index_and_disabled_stream_are_read() {
        let mut description = description(BillingMode::Provisioned);
        description.global_secondary_indexes = Some(vec![index(IndexStatus::Updating, 5, 5)]);
        description.stream_specification = Some(
            StreamSpecification::builder()
                .stream_enabled(false)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        );
        let table = from_description("t1", &description);
        assert_eq!(table.busy_indexes, vec!["by_collection".to_owned()]);
        assert_eq!(
            table.stream, None,
            "a disabled stream is off whatever its view"
        );
    }

    #[test]
    fn stream_arn_is_read_only_while_the_stream_is_enabled() {
        let stream_arn =
            "arn:aws:dynamodb:us-east-1:123456789012:table/t1/stream/2026-12-01T00:00:00.000";
        let with_stream = |enabled: bool| {
            let mut description = description(BillingMode::PayPerRequest);
            description.stream_specification = Some(
                StreamSpecification::builder()
                    .stream_enabled(enabled)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .unwrap(),
            );
            description.latest_stream_arn = Some(stream_arn.to_owned());
            description
        };
        let on = from_description("t1", &with_stream(true));
        assert_eq!(on.stream, Some(StreamView::NewImage));
        assert_eq!(on.stream_arn.as_deref(), Some(stream_arn));
        // AWS keeps reporting the old stream's ARN after the stream is turned off.
        assert_eq!(from_description("t1", &with_stream(false)).stream_arn, None);
        assert_eq!(
            from_description("t1", &description(BillingMode::PayPerRequest)).stream_arn,
            None
        );
    }

    #[test]
    fn ttl_states_are_read_with_their_attribute() {
        let ttl = |status: TimeToLiveStatus, attribute: Option<&str>| {
            TimeToLiveDescription::builder()
                .time_to_live_status(status)
                .set_attribute_name(attribute.map(str::to_owned))
                .build()
        };
        assert_eq!(ttl_from("t", None).unwrap(), TimeToLive::Disabled);
        assert_eq!(
            ttl_from("t", Some(&ttl(TimeToLiveStatus::Enabled, Some("exp")))).unwrap(),
            TimeToLive::Enabled("exp".into())
        );
        assert_eq!(
            ttl_from("t", Some(&ttl(TimeToLiveStatus::Disabling, Some("exp")))).unwrap(),
            TimeToLive::Disabling("exp".into())
        );
        let error = ttl_from("t", Some(&ttl(TimeToLiveStatus::Enabled, None))).unwrap_err();
        assert_eq!(error.reason(), "UnexpectedAwsResponse");
    }
}
