//! Every table path against moto's server, through the real SDK over HTTP: create,
//! no-op passes, each setting, drift, ownership, layout and deletion. moto makes tables
//! ACTIVE at once; the CREATING/UPDATING paths are in `dynalite.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, ScalarAttributeType, StreamViewType, Tag,
};
use common::{arn, client, create_by_hand, exists, on_demand, owner, pass, table, tags, unique};
use metricsapp_aws::table::Error;
use metricsapp_aws::table::{
    Billing, Capacity, Change, Deletion, DeletionPolicy, DesiredTable, Owner, StreamView,
    TableRecord, TableReport, delete, reconcile, reconcile_since,
};

macro_rules! moto {
    ($test:literal) => {
        match client("MOTO_ENDPOINT", $test).await {
            Some(client) => client,
            None => return,
        }
    };
}

/// Reconciles until the report is settled (at most 6 passes), returning every change,
/// as for a MetricsApp whose status records nothing yet (and is not kept).
async fn settle(client: &Client, desired: &DesiredTable, owner: &Owner) -> Vec<Change> {
    settle_recorded(client, desired, owner, &mut TableRecord::default()).await
}

/// [`settle`], keeping `record` as the controller keeps it in the MetricsApp's status.
async fn settle_recorded(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
    record: &mut TableRecord,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for _ in 0..6 {
        let report = reconcile(client, desired, owner, false, record)
            .await
            .expect("reconcile");
        remember(record, &report);
        changes.extend(report.changes.clone());
        if report.settled {
            return changes;
        }
    }
    panic!(
        "table {} did not settle; changes so far: {changes:?}",
        desired.name
    );
}

/// What the controller records from a report: the table's ARN, the tags now managed,
/// and (once the table is created again) that the re-creation request was served.
fn remember(record: &mut TableRecord, report: &TableReport) {
    if report.arn.is_some() {
        record.arn = report.arn.clone();
    }
    record.managed_tags = report.managed_tags.clone();
    if report.changes.contains(&Change::Created) {
        record.recreate = false;
    }
}

/// Everything a user can read about the table, to show a pass changed nothing.
async fn snapshot(client: &Client, name: &str) -> String {
    let table = table(client, name).await;
    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .expect("DescribeTimeToLive");
    let backups = client
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .expect("DescribeContinuousBackups");
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        Some(table),
        ttl.time_to_live_description(),
        backups.continuous_backups_description(),
        tags(client, name).await
    )
}

struct Described {
    mode: BillingMode,
    table: Option<(i64, i64)>,
    index: Option<(i64, i64)>,
    stream: Option<StreamViewType>,
}

async fn describe(client: &Client, name: &str) -> Described {
    let table = table(client, name).await;
    let throughput = |t: Option<&aws_sdk_dynamodb::types::ProvisionedThroughputDescription>| {
        t.map(|t| {
            (
                t.read_capacity_units().unwrap_or_default(),
                t.write_capacity_units().unwrap_or_default(),
            )
        })
    };
    Described {
        mode: table
            .billing_mode_summary()
            .and_then(|s| s.billing_mode())
            .cloned()
            .unwrap_or(BillingMode::Provisioned),
        table: throughput(table.provisioned_throughput()),
        index: throughput(table.global_secondary_indexes()[0].provisioned_throughput()),
        stream: table
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type())
            .cloned(),
    }
}

/// Point-in-time recovery turned off behind the operator's back.
async fn pitr_off_by_hand(client: &Client, name: &str) {
    client
        .update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn pitr_enabled(client: &Client, name: &str) -> bool {
    client
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .expect("DescribeContinuousBackups")
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|d| d.point_in_time_recovery_status())
        .map(|s| s.as_str().to_owned())
        == Some("ENABLED".to_owned())
}

async fn ttl(client: &Client, name: &str) -> (String, Option<String>) {
    let output = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .expect("DescribeTimeToLive");
    let description = output.time_to_live_description();
    (
        description
            .and_then(|d| d.time_to_live_status())
            .map_or("DISABLED".to_owned(), |s| s.as_str().to_owned()),
        description
            .and_then(|d| d.attribute_name())
            .map(str::to_owned),
    )
}

fn provisioned(read: i64, write: i64) -> Billing {
    Billing::Provisioned(Capacity { read, write })
}

#[tokio::test]
async fn creates_the_table_with_the_app_layout_and_owner_tags() {
    let client = moto!("creates_the_table_with_the_app_layout_and_owner_tags");
    let name = unique("create");
    let owner = owner();
    let desired = DesiredTable {
        tags: BTreeMap::from([("team".into(), "data".into())]),
        ..on_demand(&name)
    };

    let report = pass(&client, &desired, &owner).await.unwrap();
    assert_eq!(report.changes, vec![Change::Created]);
    assert!(!report.settled, "TTL and PITR are only checked once ACTIVE");
    assert_eq!(report.arn, Some(arn(&client, &name).await));

    let table = table(&client, &name).await;
    assert_eq!(table.key_schema(), metrics_app_table::key_schema());
    assert_eq!(table.global_secondary_indexes().len(), 1);
    assert_eq!(
        table.global_secondary_indexes()[0].index_name(),
        Some("by_collection")
    );
    assert_eq!(
        describe(&client, &name).await.mode,
        BillingMode::PayPerRequest
    );
    assert_eq!(
        tags(&client, &name).await,
        BTreeMap::from([
            ("metricsapp.dev/name".into(), "metrics".into()),
            ("metricsapp.dev/namespace".into(), "team".into()),
            ("metricsapp.dev/uid".into(), owner.uid.clone()),
            ("team".into(), "data".into()),
        ])
    );

    let second = pass(&client, &desired, &owner).await.unwrap();
    assert_eq!(
        second,
        TableReport {
            name: name.clone(),
            arn: report.arn.clone(),
            stream_arn: None,
            status: "ACTIVE".into(),
            changes: vec![],
            settled: true,
            managed_tags: BTreeSet::from(["team".to_owned()]),
            fingerprint: second.fingerprint,
        }
    );
    assert!(
        second.fingerprint.is_some(),
        "a settled pass leaves a fingerprint"
    );
}

#[tokio::test]
async fn a_settled_table_gets_no_write() {
    let client = moto!("a_settled_table_gets_no_write");
    let name = unique("noop");
    let owner = owner();
    let desired = DesiredTable {
        billing: provisioned(5, 5),
        point_in_time_recovery: true,
        ttl_attribute: Some("expires".into()),
        stream: Some(StreamView::NewAndOldImages),
        tags: BTreeMap::from([("team".into(), "data".into())]),
        ..on_demand(&name)
    };
    settle(&client, &desired, &owner).await;

    let before = snapshot(&client, &name).await;
    let report = pass(&client, &desired, &owner).await.unwrap();
    let after = snapshot(&client, &name).await;
    assert_eq!(report.changes, vec![]);
    assert!(report.settled);
    assert_eq!(before, after, "a no-op pass must not change the table");
}

#[tokio::test]
async fn creates_a_provisioned_table_with_index_capacity() {
    let client = moto!("creates_a_provisioned_table_with_index_capacity");
    let name = unique("prov");
    let desired = DesiredTable {
        billing: provisioned(5, 5),
        ..on_demand(&name)
    };
    let changes = settle(&client, &desired, &owner()).await;
    assert_eq!(changes, vec![Change::Created]);
    let table = describe(&client, &name).await;
    assert_eq!(table.mode, BillingMode::Provisioned);
    assert_eq!(table.table, Some((5, 5)));
    assert_eq!(table.index, Some((5, 5)));
}

#[tokio::test]
async fn switches_billing_mode_both_ways_and_changes_capacity() {
    let client = moto!("switches_billing_mode_both_ways_and_changes_capacity");
    let name = unique("billing");
    let owner = owner();
    settle(&client, &on_demand(&name), &owner).await;

    let five = DesiredTable {
        billing: provisioned(5, 5),
        ..on_demand(&name)
    };
    let changes = settle(&client, &five, &owner).await;
    assert_eq!(
        changes,
        vec![Change::Billing {
            from: "PAY_PER_REQUEST".into(),
            to: "PROVISIONED (read 5, write 5)".into()
        }]
    );
    let table = describe(&client, &name).await;
    assert_eq!(table.mode, BillingMode::Provisioned);
    assert_eq!((table.table, table.index), (Some((5, 5)), Some((5, 5))));

    let ten = DesiredTable {
        billing: provisioned(10, 7),
        ..on_demand(&name)
    };
    settle(&client, &ten, &owner).await;
    let table = describe(&client, &name).await;
    assert_eq!((table.table, table.index), (Some((10, 7)), Some((10, 7))));

    let changes = settle(&client, &on_demand(&name), &owner).await;
    assert_eq!(
        changes,
        vec![Change::Billing {
            from: "PROVISIONED (read 10, write 7)".into(),
            to: "PAY_PER_REQUEST".into()
        }]
    );
    assert_eq!(
        describe(&client, &name).await.mode,
        BillingMode::PayPerRequest
    );
    // moto still reports the old throughput here; the next pass must not act on it.
    let report = pass(&client, &on_demand(&name), &owner).await.unwrap();
    assert_eq!(report.changes, vec![]);
    assert!(report.settled);
}

#[tokio::test]
async fn turns_point_in_time_recovery_on_and_off() {
    let client = moto!("turns_point_in_time_recovery_on_and_off");
    let name = unique("pitr");
    let owner = owner();
    let on = DesiredTable {
        point_in_time_recovery: true,
        ..on_demand(&name)
    };
    let changes = settle(&client, &on, &owner).await;
    assert_eq!(
        changes,
        vec![Change::Created, Change::PointInTimeRecovery { to: true }]
    );
    assert!(pitr_enabled(&client, &name).await);

    let changes = settle(&client, &on_demand(&name), &owner).await;
    assert_eq!(changes, vec![Change::PointInTimeRecovery { to: false }]);
    assert!(!pitr_enabled(&client, &name).await);
}

#[tokio::test]
async fn turns_ttl_on_moves_it_and_turns_it_off() {
    let client = moto!("turns_ttl_on_moves_it_and_turns_it_off");
    let name = unique("ttl");
    let owner = owner();
    let expires = DesiredTable {
        ttl_attribute: Some("expires".into()),
        ..on_demand(&name)
    };
    settle(&client, &expires, &owner).await;
    assert_eq!(
        ttl(&client, &name).await,
        ("ENABLED".into(), Some("expires".into()))
    );

    let deadline = DesiredTable {
        ttl_attribute: Some("deadline".into()),
        ..on_demand(&name)
    };
    let changes = settle(&client, &deadline, &owner).await;
    assert_eq!(
        changes,
        vec![
            Change::TimeToLive {
                from: Some("expires".into()),
                to: None
            },
            Change::TimeToLive {
                from: None,
                to: Some("deadline".into())
            },
        ]
    );
    assert_eq!(
        ttl(&client, &name).await,
        ("ENABLED".into(), Some("deadline".into()))
    );

    settle(&client, &on_demand(&name), &owner).await;
    assert_eq!(ttl(&client, &name).await.0, "DISABLED");
}

#[tokio::test]
async fn turns_the_stream_on_and_off() {
    let client = moto!("turns_the_stream_on_and_off");
    let name = unique("stream");
    let owner = owner();
    settle(&client, &on_demand(&name), &owner).await;

    let new_image = DesiredTable {
        stream: Some(StreamView::NewImage),
        ..on_demand(&name)
    };
    let changes = settle(&client, &new_image, &owner).await;
    assert_eq!(
        changes,
        vec![Change::Stream {
            from: None,
            to: Some(StreamView::NewImage)
        }]
    );
    assert_eq!(
        describe(&client, &name).await.stream,
        Some(StreamViewType::NewImage)
    );

    let changes = settle(&client, &on_demand(&name), &owner).await;
    assert_eq!(
        changes,
        vec![Change::Stream {
            from: Some(StreamView::NewImage),
            to: None
        }]
    );
    assert_eq!(describe(&client, &name).await.stream, None);
}

#[tokio::test]
async fn changing_the_stream_view_first_turns_the_old_stream_off() {
    let client = moto!("changing_the_stream_view_first_turns_the_old_stream_off");
    let name = unique("streamview");
    let owner = owner();
    let new_image = DesiredTable {
        stream: Some(StreamView::NewImage),
        ..on_demand(&name)
    };
    settle(&client, &new_image, &owner).await;
    assert_eq!(
        describe(&client, &name).await.stream,
        Some(StreamViewType::NewImage)
    );

    let keys_only = DesiredTable {
        stream: Some(StreamView::KeysOnly),
        ..on_demand(&name)
    };
    let report = pass(&client, &keys_only, &owner).await.unwrap();
    assert_eq!(
        report.changes,
        vec![Change::Stream {
            from: Some(StreamView::NewImage),
            to: None
        }]
    );
    assert!(!report.settled, "the new view comes on the next pass");
    assert_eq!(describe(&client, &name).await.stream, None);
    // The next pass turns the stream on with the new view (the path of
    // `turns_the_stream_on_and_off`). moto 5.2.5 cannot show it on this table: once a
    // table has had a stream it refuses to enable another ("Cannot enable stream"),
    // which AWS allows.
}

#[tokio::test]
async fn billing_and_stream_changes_take_one_pass_each() {
    let client = moto!("billing_and_stream_changes_take_one_pass_each");
    let name = unique("onebyone");
    let owner = owner();
    settle(&client, &on_demand(&name), &owner).await;
    let desired = DesiredTable {
        billing: provisioned(5, 5),
        stream: Some(StreamView::KeysOnly),
        ..on_demand(&name)
    };
    let first = pass(&client, &desired, &owner).await.unwrap();
    assert_eq!(first.changes.len(), 1, "{:?}", first.changes);
    assert!(matches!(first.changes[0], Change::Billing { .. }));
    assert!(!first.settled);
    assert_eq!(describe(&client, &name).await.stream, None);

    let second = pass(&client, &desired, &owner).await.unwrap();
    assert_eq!(
        second.changes,
        vec![Change::Stream {
            from: None,
            to: Some(StreamView::KeysOnly)
        }]
    );
    let third = pass(&client, &desired, &owner).await.unwrap();
    assert!(third.settled && third.changes.is_empty());
}

#[tokio::test]
async fn sets_and_removes_user_tags_and_keeps_owner_tags() {
    let client = moto!("sets_and_removes_user_tags_and_keeps_owner_tags");
    let name = unique("tags");
    let owner = owner();
    let mut record = TableRecord::default();
    let first = DesiredTable {
        tags: BTreeMap::from([("team".into(), "data".into()), ("old".into(), "x".into())]),
        ..on_demand(&name)
    };
    settle_recorded(&client, &first, &owner, &mut record).await;
    assert_eq!(
        record.managed_tags,
        BTreeSet::from(["old".to_owned(), "team".to_owned()])
    );

    let second = DesiredTable {
        tags: BTreeMap::from([
            ("team".into(), "web".into()),
            ("cost-center".into(), "42".into()),
        ]),
        ..on_demand(&name)
    };
    let changes = settle_recorded(&client, &second, &owner, &mut record).await;
    assert_eq!(
        changes,
        vec![Change::Tags {
            set: BTreeMap::from([
                ("cost-center".into(), "42".into()),
                ("team".into(), "web".into()),
            ]),
            removed: vec!["old".into()],
        }]
    );
    let actual = tags(&client, &name).await;
    assert_eq!(actual.get("team").map(String::as_str), Some("web"));
    assert_eq!(actual.get("cost-center").map(String::as_str), Some("42"));
    assert!(!actual.contains_key("old"));
    assert_eq!(actual.get("metricsapp.dev/uid"), Some(&owner.uid));
    assert_eq!(
        record.managed_tags,
        BTreeSet::from(["cost-center".to_owned(), "team".to_owned()])
    );
}

/// Tags `name` behind the operator's back, as AWS Backup, cost allocation or an
/// organization's tag policy would.
async fn tag_by_hand(client: &Client, name: &str, tags: &[(&str, &str)]) {
    let tags = tags
        .iter()
        .map(|(key, value)| Tag::builder().key(*key).value(*value).build().unwrap())
        .collect();
    client
        .tag_resource()
        .resource_arn(arn(client, name).await)
        .set_tags(Some(tags))
        .send()
        .await
        .expect("TagResource by hand");
}

#[tokio::test]
async fn tags_added_by_someone_else_survive_a_pass() {
    let client = moto!("tags_added_by_someone_else_survive_a_pass");
    let name = unique("foreigntags");
    let owner = owner();
    let mut record = TableRecord::default();
    let desired = DesiredTable {
        tags: BTreeMap::from([("team".into(), "data".into())]),
        ..on_demand(&name)
    };
    settle_recorded(&client, &desired, &owner, &mut record).await;
    tag_by_hand(
        &client,
        &name,
        &[("aws-backup:plan", "daily"), ("CostCenter", "1234")],
    )
    .await;

    let report = reconcile(&client, &desired, &owner, false, &record)
        .await
        .unwrap();
    assert_eq!(report.changes, vec![]);
    assert!(report.settled);
    let actual = tags(&client, &name).await;
    assert_eq!(
        actual.get("aws-backup:plan").map(String::as_str),
        Some("daily")
    );
    assert_eq!(actual.get("CostCenter").map(String::as_str), Some("1234"));
    assert_eq!(actual.get("team").map(String::as_str), Some("data"));
}

#[tokio::test]
async fn a_managed_tag_removed_from_the_spec_is_removed_and_foreign_tags_stay() {
    let client = moto!("a_managed_tag_removed_from_the_spec_is_removed_and_foreign_tags_stay");
    let name = unique("managedtags");
    let owner = owner();
    let mut record = TableRecord::default();
    let with_team = DesiredTable {
        tags: BTreeMap::from([("team".into(), "data".into())]),
        ..on_demand(&name)
    };
    settle_recorded(&client, &with_team, &owner, &mut record).await;
    tag_by_hand(&client, &name, &[("CostCenter", "1234")]).await;

    let changes = settle_recorded(&client, &on_demand(&name), &owner, &mut record).await;
    assert_eq!(
        changes,
        vec![Change::Tags {
            set: BTreeMap::new(),
            removed: vec!["team".into()],
        }]
    );
    let actual = tags(&client, &name).await;
    assert!(!actual.contains_key("team"), "{actual:?}");
    assert_eq!(actual.get("CostCenter").map(String::as_str), Some("1234"));
    assert_eq!(actual.get("metricsapp.dev/uid"), Some(&owner.uid));
    assert!(record.managed_tags.is_empty());
}

#[tokio::test]
async fn a_table_deleted_behind_our_back_is_lost_until_recreation_is_asked() {
    let client = moto!("a_table_deleted_behind_our_back_is_lost_until_recreation_is_asked");
    let name = unique("lost");
    let owner = owner();
    let mut record = TableRecord::default();
    let desired = on_demand(&name);
    settle_recorded(&client, &desired, &owner, &mut record).await;
    let created_arn = arn(&client, &name).await;
    assert_eq!(record.arn.as_deref(), Some(created_arn.as_str()));
    put_item(&client, &name).await;

    client
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();

    for _ in 0..2 {
        let error = reconcile(&client, &desired, &owner, false, &record)
            .await
            .unwrap_err();
        assert_eq!(error.reason(), "TableLost");
        assert!(error.is_terminal());
        let message = error.to_string();
        assert!(message.contains(&created_arn), "{message}");
        assert!(
            message.contains(&format!("metricsapp.dev/recreate-table={name}")),
            "{message}"
        );
        assert!(!exists(&client, &name).await, "not re-created empty");
    }

    record.recreate = true;
    let report = reconcile(&client, &desired, &owner, false, &record)
        .await
        .unwrap();
    assert_eq!(report.changes, vec![Change::Created]);
    assert!(exists(&client, &name).await);
    assert_eq!(
        item_count(&client, &name).await,
        0,
        "an empty table, as asked"
    );
    remember(&mut record, &report);
    assert!(!record.recreate);
    assert_eq!(
        settle_recorded(&client, &desired, &owner, &mut record).await,
        vec![]
    );
}

#[tokio::test]
async fn the_stream_arn_is_reported_while_the_stream_is_on() {
    let client = moto!("the_stream_arn_is_reported_while_the_stream_is_on");
    let owner = owner();
    let latest_stream_arn = |client: Client, name: String| async move {
        table(&client, &name)
            .await
            .latest_stream_arn()
            .map(str::to_owned)
    };

    // Created with the stream on.
    let name = unique("streamarn");
    let desired = DesiredTable {
        stream: Some(StreamView::NewAndOldImages),
        ..on_demand(&name)
    };
    let created = pass(&client, &desired, &owner).await.unwrap();
    let stream_arn = latest_stream_arn(client.clone(), name.clone())
        .await
        .expect("moto reports LatestStreamArn");
    assert!(stream_arn.contains("/stream/"), "{stream_arn}");
    assert_eq!(created.stream_arn.as_deref(), Some(stream_arn.as_str()));
    settle(&client, &desired, &owner).await;
    let settled = pass(&client, &desired, &owner).await.unwrap();
    assert!(settled.settled);
    assert_eq!(settled.stream_arn.as_deref(), Some(stream_arn.as_str()));

    // Turned on by a later pass: the pass that enables it reports it.
    let name = unique("streamarnlater");
    settle(&client, &on_demand(&name), &owner).await;
    let on = DesiredTable {
        stream: Some(StreamView::KeysOnly),
        ..on_demand(&name)
    };
    let enabled = pass(&client, &on, &owner).await.unwrap();
    assert_eq!(
        enabled.changes,
        vec![Change::Stream {
            from: None,
            to: Some(StreamView::KeysOnly)
        }]
    );
    let stream_arn = latest_stream_arn(client.clone(), name.clone())
        .await
        .expect("LatestStreamArn");
    assert_eq!(enabled.stream_arn.as_deref(), Some(stream_arn.as_str()));

    // Turned off: nothing to wire to, whatever AWS keeps reporting.
    let disabled = pass(&client, &on_demand(&name), &owner).await.unwrap();
    assert!(matches!(
        disabled.changes[..],
        [Change::Stream { to: None, .. }]
    ));
    assert_eq!(disabled.stream_arn, None);
    let next = pass(&client, &on_demand(&name), &owner).await.unwrap();
    assert_eq!(next.stream_arn, None);
}

#[tokio::test]
async fn drift_made_behind_the_operators_back_is_reverted_and_reported() {
    let client = moto!("drift_made_behind_the_operators_back_is_reverted_and_reported");
    let name = unique("drift");
    let owner = owner();
    let desired = DesiredTable {
        billing: provisioned(5, 5),
        point_in_time_recovery: true,
        tags: BTreeMap::from([("team".into(), "data".into())]),
        ..on_demand(&name)
    };
    settle(&client, &desired, &owner).await;

    // A console-style edit: on-demand billing, a tag removed, PITR off.
    client
        .update_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    client
        .untag_resource()
        .resource_arn(arn(&client, &name).await)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    pitr_off_by_hand(&client, &name).await;

    let changes = settle(&client, &desired, &owner).await;
    assert_eq!(
        changes,
        vec![
            Change::Tags {
                set: BTreeMap::from([("team".into(), "data".into())]),
                removed: vec![],
            },
            Change::PointInTimeRecovery { to: true },
            Change::Billing {
                from: "PAY_PER_REQUEST".into(),
                to: "PROVISIONED (read 5, write 5)".into()
            },
        ]
    );
    let table = describe(&client, &name).await;
    assert_eq!(table.mode, BillingMode::Provisioned);
    assert_eq!((table.table, table.index), (Some((5, 5)), Some((5, 5))));
    assert!(pitr_enabled(&client, &name).await);
    assert_eq!(
        tags(&client, &name).await.get("team").map(String::as_str),
        Some("data")
    );
}

/// A full pass, as the controller makes it with the table's record.
async fn full_pass(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
    record: &TableRecord,
) -> TableReport {
    reconcile(client, desired, owner, false, record)
        .await
        .expect("reconcile")
}

/// A pass that first checks with one read whether anything changed since `last`.
async fn one_read_pass(
    client: &Client,
    desired: &DesiredTable,
    owner: &Owner,
    record: &TableRecord,
    last: &TableReport,
) -> TableReport {
    reconcile_since(client, desired, owner, false, record, last)
        .await
        .expect("reconcile_since")
}

#[tokio::test]
async fn the_one_read_check_reverts_what_describe_table_shows_and_leaves_the_rest_to_a_full_pass() {
    let client = moto!(
        "the_one_read_check_reverts_what_describe_table_shows_and_leaves_the_rest_to_a_full_pass"
    );
    let name = unique("quick");
    let owner = owner();
    let desired = DesiredTable {
        billing: provisioned(5, 5),
        point_in_time_recovery: true,
        ..on_demand(&name)
    };
    let mut record = TableRecord::default();
    settle_recorded(&client, &desired, &owner, &mut record).await;
    let settled = full_pass(&client, &desired, &owner, &record).await;
    assert!(settled.fingerprint.is_some());

    // At rest: the same report, nothing written.
    let before = snapshot(&client, &name).await;
    let again = one_read_pass(&client, &desired, &owner, &record, &settled).await;
    assert_eq!(again, settled);
    assert_eq!(snapshot(&client, &name).await, before);

    // A spec change is a full pass, even though the table did not move.
    let bigger = DesiredTable {
        billing: provisioned(6, 6),
        ..desired.clone()
    };
    let changed = reconcile_since(&client, &bigger, &owner, false, &record, &settled)
        .await
        .unwrap();
    assert!(
        matches!(changed.changes.as_slice(), [Change::Billing { .. }]),
        "{changed:?}"
    );
    settle_recorded(&client, &desired, &owner, &mut record).await;
    let settled = full_pass(&client, &desired, &owner, &record).await;

    // Billing edited by hand shows in DescribeTable: the one read sees it and the pass
    // puts it back.
    client
        .update_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let reverted = one_read_pass(&client, &desired, &owner, &record, &settled).await;
    assert_eq!(
        reverted.changes,
        vec![Change::Billing {
            from: "PAY_PER_REQUEST".into(),
            to: "PROVISIONED (read 5, write 5)".into()
        }]
    );
    assert_eq!(
        describe(&client, &name).await.mode,
        BillingMode::Provisioned
    );
    let settled = full_pass(&client, &desired, &owner, &record).await;

    // Point-in-time recovery turned off by hand does not show in DescribeTable: the one
    // read does not see it, the next full pass does.
    pitr_off_by_hand(&client, &name).await;
    let unseen = one_read_pass(&client, &desired, &owner, &record, &settled).await;
    assert_eq!(unseen, settled);
    assert!(!pitr_enabled(&client, &name).await);
    let full = full_pass(&client, &desired, &owner, &record).await;
    assert_eq!(full.changes, vec![Change::PointInTimeRecovery { to: true }]);
    let settled = full_pass(&client, &desired, &owner, &record).await;

    // A table deleted behind the operator's back is lost, found by the one read.
    client
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let lost = reconcile_since(&client, &desired, &owner, false, &record, &settled).await;
    assert!(matches!(lost, Err(Error::TableLost { .. })), "{lost:?}");
}

#[tokio::test]
async fn an_unowned_table_is_a_conflict_without_adopt_and_is_left_alone() {
    let client = moto!("an_unowned_table_is_a_conflict_without_adopt_and_is_left_alone");
    let name = unique("unowned");
    create_by_hand(&client, &name, &[("team", "theirs")]).await;

    let error = reconcile(
        &client,
        &on_demand(&name),
        &owner(),
        false,
        &TableRecord::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.reason(), "TableConflict");
    assert!(error.is_terminal());
    let message = error.to_string();
    assert!(message.contains(&name), "{message}");
    assert!(message.contains("adopt"), "{message}");
    assert_eq!(
        tags(&client, &name).await,
        BTreeMap::from([("team".into(), "theirs".into())]),
        "a conflicting table is not touched"
    );
}

#[tokio::test]
async fn an_unowned_table_is_adopted_when_asked() {
    let client = moto!("an_unowned_table_is_adopted_when_asked");
    let name = unique("adopt");
    let owner = owner();
    create_by_hand(&client, &name, &[]).await;
    let desired = DesiredTable {
        point_in_time_recovery: true,
        ..on_demand(&name)
    };

    let report = reconcile(&client, &desired, &owner, true, &TableRecord::default())
        .await
        .unwrap();
    assert_eq!(
        report.changes,
        vec![Change::Adopted, Change::PointInTimeRecovery { to: true }]
    );
    assert_eq!(
        tags(&client, &name).await.get("metricsapp.dev/uid"),
        Some(&owner.uid)
    );
    // Once adopted it is ours: no adopt flag needed any more.
    let next = pass(&client, &desired, &owner).await.unwrap();
    assert!(next.settled && next.changes.is_empty(), "{next:?}");
}

#[tokio::test]
async fn a_table_owned_by_another_metricsapp_is_a_conflict_even_with_adopt() {
    let client = moto!("a_table_owned_by_another_metricsapp_is_a_conflict_even_with_adopt");
    let name = unique("other");
    let first = owner();
    settle(&client, &on_demand(&name), &first).await;
    let before = tags(&client, &name).await;

    let second = Owner {
        namespace: "elsewhere".into(),
        ..owner()
    };
    let error = reconcile(
        &client,
        &on_demand(&name),
        &second,
        true,
        &TableRecord::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.reason(), "TableConflict");
    let message = error.to_string();
    assert!(message.contains(&first.uid), "names the owner: {message}");
    assert!(
        message.contains("team/metrics"),
        "names the owner: {message}"
    );
    assert_eq!(tags(&client, &name).await, before);
}

#[tokio::test]
async fn a_table_with_other_keys_is_incompatible_and_not_adopted() {
    let client = moto!("a_table_with_other_keys_is_incompatible_and_not_adopted");
    let name = unique("keys");
    client
        .create_table()
        .table_name(&name)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();

    let error = reconcile(
        &client,
        &on_demand(&name),
        &owner(),
        true,
        &TableRecord::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.reason(), "IncompatibleTable");
    assert!(error.is_terminal());
    let message = error.to_string();
    assert!(message.contains("primary key is id HASH"), "{message}");
    assert!(
        message.contains("index `by_collection` is missing"),
        "{message}"
    );
    assert!(tags(&client, &name).await.is_empty(), "not adopted");
}

#[tokio::test]
async fn an_invalid_spec_is_refused_before_any_call() {
    let client = moto!("an_invalid_spec_is_refused_before_any_call");
    let name = format!("{} with spaces", unique("bad"));
    let error = reconcile(
        &client,
        &on_demand(&name),
        &owner(),
        false,
        &TableRecord::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.reason(), "InvalidTableSpec");
    assert!(error.is_terminal());
    assert!(error.to_string().contains("table name"), "{error}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_recoverable() {
    // Only to keep the shared-endpoint rules: this test uses its own, closed port.
    let _ = moto!("an_unreachable_endpoint_is_recoverable");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = common::client_at(&format!("http://127.0.0.1:{port}")).await;

    let error = reconcile(
        &client,
        &on_demand(&unique("down")),
        &owner(),
        false,
        &TableRecord::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.reason(), "AwsUnavailable");
    assert!(!error.is_terminal());
    assert!(error.to_string().contains("DescribeTable"), "{error}");
}

async fn put_item(client: &Client, name: &str) {
    client
        .put_item()
        .table_name(name)
        .item("pk", AttributeValue::S("customer#1".into()))
        .item("sk", AttributeValue::S("activity#1".into()))
        .send()
        .await
        .unwrap();
}

async fn item_count(client: &Client, name: &str) -> i32 {
    client.scan().table_name(name).send().await.unwrap().count()
}

async fn backups_of(client: &Client, name: &str) -> Vec<(String, String)> {
    client
        .list_backups()
        .table_name(name)
        .send()
        .await
        .unwrap()
        .backup_summaries()
        .iter()
        .map(|b| {
            (
                b.backup_arn().unwrap_or_default().to_owned(),
                b.backup_name().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn retain_keeps_the_table_and_its_items() {
    let client = moto!("retain_keeps_the_table_and_its_items");
    let name = unique("retain");
    let owner = owner();
    settle(&client, &on_demand(&name), &owner).await;
    put_item(&client, &name).await;

    let deletion = delete(&client, &name, &owner, DeletionPolicy::Retain, true)
        .await
        .unwrap();
    assert_eq!(deletion, Deletion::Retained);
    assert!(exists(&client, &name).await);
    assert_eq!(item_count(&client, &name).await, 1);
    assert!(backups_of(&client, &name).await.is_empty());
}

#[tokio::test]
async fn delete_takes_a_backup_first_then_deletes() {
    let client = moto!("delete_takes_a_backup_first_then_deletes");
    let name = unique("backup");
    let owner = owner();
    settle(&client, &on_demand(&name), &owner).await;
    put_item(&client, &name).await;

    let deletion = delete(&client, &name, &owner, DeletionPolicy::Delete, true)
        .await
        .unwrap();
    let Deletion::Deleted {
        backup_arn: Some(backup_arn),
    } = deletion
    else {
        panic!("expected a deletion with a backup, got {deletion:?}");
    };
    let backups = backups_of(&client, &name).await;
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(backups[0].0, backup_arn);
    assert!(
        backups[0].1.starts_with(&format!("{name}-final-")),
        "{backups:?}"
    );
    assert!(!exists(&client, &name).await);

    let again = delete(&client, &name, &owner, DeletionPolicy::Delete, true)
        .await
        .unwrap();
    assert_eq!(again, Deletion::AlreadyGone);
}

#[tokio::test]
async fn delete_without_backup_takes_none() {
    let client = moto!("delete_without_backup_takes_none");
    let name = unique("nobackup");
    let owner = owner();
    settle(&client, &on_demand(&name), &owner).await;

    let deletion = delete(&client, &name, &owner, DeletionPolicy::Delete, false)
        .await
        .unwrap();
    assert_eq!(deletion, Deletion::Deleted { backup_arn: None });
    assert!(!exists(&client, &name).await);
    assert!(backups_of(&client, &name).await.is_empty());
}

#[tokio::test]
async fn deleting_a_missing_table_is_already_gone() {
    let client = moto!("deleting_a_missing_table_is_already_gone");
    let deletion = delete(
        &client,
        &unique("missing"),
        &owner(),
        DeletionPolicy::Delete,
        true,
    )
    .await
    .unwrap();
    assert_eq!(deletion, Deletion::AlreadyGone);
}

#[tokio::test]
async fn a_table_that_is_not_ours_is_never_deleted() {
    let client = moto!("a_table_that_is_not_ours_is_never_deleted");
    let unowned = unique("notours");
    create_by_hand(&client, &unowned, &[]).await;
    let deletion = delete(&client, &unowned, &owner(), DeletionPolicy::Delete, true)
        .await
        .unwrap();
    assert_eq!(deletion, Deletion::NotOwned);
    assert!(exists(&client, &unowned).await);

    let other = unique("othersdelete");
    settle(&client, &on_demand(&other), &owner()).await;
    let deletion = delete(&client, &other, &owner(), DeletionPolicy::Delete, true)
        .await
        .unwrap();
    assert_eq!(deletion, Deletion::NotOwned);
    assert!(exists(&client, &other).await);
    assert!(backups_of(&client, &other).await.is_empty());
}

#[tokio::test]
async fn a_retried_delete_reuses_the_final_backup_already_taken() {
    let client = moto!("a_retried_delete_reuses_the_final_backup_already_taken");
    let name = unique("retry");
    let owner = owner();
    settle(&client, &on_demand(&name), &owner).await;
    // What an earlier attempt left behind when AWS refused its DeleteTable (AWS
    // refuses to delete a table while its backup is in progress).
    let earlier = client
        .create_backup()
        .table_name(&name)
        .backup_name(format!("{name}-final-20261122050409"))
        .send()
        .await
        .unwrap()
        .backup_details()
        .unwrap()
        .backup_arn()
        .to_owned();

    let deletion = delete(&client, &name, &owner, DeletionPolicy::Delete, true)
        .await
        .unwrap();
    assert_eq!(
        deletion,
        Deletion::Deleted {
            backup_arn: Some(earlier)
        }
    );
    assert_eq!(backups_of(&client, &name).await.len(), 1);
    assert!(!exists(&client, &name).await);
}

#[tokio::test]
async fn a_final_backup_of_an_earlier_table_of_the_same_name_is_not_reused() {
    let client = moto!("a_final_backup_of_an_earlier_table_of_the_same_name_is_not_reused");
    let name = unique("reborn");
    let owner = owner();
    settle(&client, &on_demand(&name), &owner).await;
    let first = delete(&client, &name, &owner, DeletionPolicy::Delete, true)
        .await
        .unwrap();

    settle(&client, &on_demand(&name), &owner).await;
    let second = delete(&client, &name, &owner, DeletionPolicy::Delete, true)
        .await
        .unwrap();
    assert!(
        matches!(
            &second,
            Deletion::Deleted {
                backup_arn: Some(_)
            }
        ),
        "{second:?}"
    );
    assert_ne!(first, second, "the new table gets its own final backup");
    assert_eq!(backups_of(&client, &name).await.len(), 2);
}

#[tokio::test]
async fn two_passes_racing_to_create_the_table_both_succeed() {
    let client = moto!("two_passes_racing_to_create_the_table_both_succeed");
    let name = unique("race");
    let owner = owner();
    let desired = on_demand(&name);
    let record = TableRecord::default();
    let (first, second) = tokio::join!(
        reconcile(&client, &desired, &owner, false, &record),
        reconcile(&client, &desired, &owner, false, &record)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    let created = [&first, &second]
        .iter()
        .filter(|report| report.changes == vec![Change::Created])
        .count();
    assert_eq!(created, 1, "exactly one pass creates: {first:?} {second:?}");
}
