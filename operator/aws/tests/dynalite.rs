//! The waiting paths against dynalite, which (unlike moto) keeps a table CREATING or
//! UPDATING for a while (`--createTableMs` / `--updateTableMs`). dynalite has no
//! UpdateTimeToLive, point-in-time recovery or backups, so these tests stay on the
//! CreateTable, UpdateTable, DescribeTable and tag paths, and check that reaching
//! point-in-time recovery gives a clear error rather than a silent skip. dynalite also drops the Tags of a CreateTable
//! (AWS keeps them), so the tests put the owner tags on with TagResource, as AWS would
//! have.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{ProvisionedThroughput, TableStatus, Tag};
use common::{client, on_demand, owner, pass, table, unique};
use metricsapp_aws::table::{
    Billing, Capacity, Change, Deletion, DeletionPolicy, DesiredTable, Owner, delete,
};

macro_rules! dynalite {
    ($test:literal) => {
        match client("DYNALITE_ENDPOINT", $test).await {
            Some(client) => client,
            None => return,
        }
    };
}

async fn status(client: &Client, name: &str) -> TableStatus {
    table(client, name)
        .await
        .table_status()
        .cloned()
        .expect("table status")
}

/// Polls until dynalite reports the table ACTIVE (it is told to take 300 ms).
async fn wait_until_active(client: &Client, name: &str) {
    for _ in 0..200 {
        if status(client, name).await == TableStatus::Active {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("table {name} never became ACTIVE");
}

/// The owner tags CreateTable asked for, which dynalite drops.
async fn tag_as_owned(client: &Client, name: &str, owner: &Owner) {
    let tags = [
        ("metricsapp.dev/namespace", &owner.namespace),
        ("metricsapp.dev/name", &owner.name),
        ("metricsapp.dev/uid", &owner.uid),
    ]
    .into_iter()
    .map(|(key, value)| Tag::builder().key(key).value(value).build().unwrap())
    .collect();
    client
        .tag_resource()
        .resource_arn(common::arn(client, name).await)
        .set_tags(Some(tags))
        .send()
        .await
        .expect("TagResource");
}

/// dynalite keeps a table CREATING or UPDATING for 300 ms (as `./scripts/test` starts
/// it); on a loaded machine a pass may start after that. Such an attempt shows nothing
/// about waiting, so it is recognised by its outcome and retried.
const ATTEMPTS: usize = 5;

#[tokio::test]
async fn a_creating_table_is_waited_for_without_changes() {
    let client = dynalite!("a_creating_table_is_waited_for_without_changes");
    let owner = owner();
    for attempt in 1..=ATTEMPTS {
        let name = unique("creating");
        let desired = on_demand(&name);

        let created = pass(&client, &desired, &owner).await.unwrap();
        assert_eq!(created.changes, vec![Change::Created]);
        assert_eq!(created.status, "CREATING");
        assert!(!created.settled);

        match pass(&client, &desired, &owner).await {
            Ok(waiting) if waiting.status == "CREATING" => {
                assert_eq!(waiting.changes, vec![]);
                assert!(!waiting.settled);
            }
            // Already ACTIVE: the pass read point-in-time recovery, which dynalite lacks.
            Err(error)
                if error.reason() == "UnsupportedOperation"
                    && status(&client, &name).await == TableStatus::Active =>
            {
                eprintln!("attempt {attempt}: {name} was ACTIVE before the second pass");
                continue;
            }
            other => panic!("second pass on a CREATING table: {other:?}"),
        }

        wait_until_active(&client, &name).await;
        tag_as_owned(&client, &name, &owner).await;
        // Once ACTIVE the pass reads point-in-time recovery, which dynalite lacks: a
        // clear, terminal error naming the call, never a silent skip.
        let error = pass(&client, &desired, &owner).await.unwrap_err();
        assert_eq!(error.reason(), "UnsupportedOperation");
        assert!(error.is_terminal());
        assert!(
            error.to_string().contains("DescribeContinuousBackups"),
            "{error}"
        );
        return;
    }
    panic!("the table was never seen CREATING in {ATTEMPTS} attempts");
}

#[tokio::test]
async fn an_updating_table_is_waited_for_without_changes() {
    let client = dynalite!("an_updating_table_is_waited_for_without_changes");
    let name = unique("updating");
    let owner = owner();
    let desired = DesiredTable {
        billing: Billing::Provisioned(Capacity { read: 5, write: 5 }),
        ..on_demand(&name)
    };
    pass(&client, &desired, &owner).await.unwrap();
    wait_until_active(&client, &name).await;
    tag_as_owned(&client, &name, &owner).await;

    for attempt in 1..=ATTEMPTS {
        // Someone else changes the capacity: the table is UPDATING for a while.
        let units = 10 + attempt as i64;
        client
            .update_table()
            .table_name(&name)
            .provisioned_throughput(
                ProvisionedThroughput::builder()
                    .read_capacity_units(units)
                    .write_capacity_units(units)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();

        // dynalite refuses an UpdateTable on an UPDATING table, so an attempted revert
        // would surface here as an error.
        match pass(&client, &desired, &owner).await {
            Ok(report) if report.status == "UPDATING" => {
                assert_eq!(report.changes, vec![]);
                assert!(!report.settled);
                return;
            }
            // Already ACTIVE again: the pass went on to read point-in-time recovery.
            Err(error) if error.reason() == "UnsupportedOperation" => {
                eprintln!("attempt {attempt}: {name} was ACTIVE again before the pass");
                wait_until_active(&client, &name).await;
            }
            other => panic!("pass on an UPDATING table: {other:?}"),
        }
    }
    panic!("the table was never seen UPDATING in {ATTEMPTS} attempts");
}

#[tokio::test]
async fn deleting_a_table_that_is_not_active_waits() {
    let client = dynalite!("deleting_a_table_that_is_not_active_waits");
    let owner = owner();
    for attempt in 1..=ATTEMPTS {
        let name = unique("busydelete");
        pass(&client, &on_demand(&name), &owner).await.unwrap();

        match delete(&client, &name, &owner, DeletionPolicy::Delete, false).await {
            Err(error) if error.reason() == "TableBusy" => {
                assert!(!error.is_terminal());
                assert!(error.to_string().contains("CREATING"), "{error}");
                assert!(common::exists(&client, &name).await);
                return;
            }
            // Already ACTIVE, and without the tags dynalite dropped it is not ours.
            Ok(Deletion::NotOwned) => {
                eprintln!("attempt {attempt}: {name} was ACTIVE before the delete");
            }
            other => panic!("deleting a CREATING table: {other:?}"),
        }
    }
    panic!("the table was never seen CREATING in {ATTEMPTS} attempts");
}
