//! The handler against moto's DynamoDB, with stream events in the shape Lambda delivers
//! them (`aws_lambda_events`' DynamoDB event): duplicates, retried batches, edits that
//! move hours between customers, deletes, records that are not activities.

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use metrics_app_rollup::dynamodb;
use metrics_app_rollup::{Dimension, Level};
use metrics_app_rollup_function::{Config, handle};
use serde_json::{Value, json};

fn moto_endpoint(test: &str) -> Option<String> {
    metricsapp_testing::endpoint("MOTO_ENDPOINT", test)
}

async fn table(endpoint: &str) -> (Client, Config) {
    let client = Client::new(&metricsapp_testing::sdk_config(endpoint).await);
    let table = metricsapp_testing::unique("rollup-test");
    metricsapp_testing::app_table(&client, &table, false).await;
    let config = Config {
        table,
        ttl_attribute: "expiresAt".into(),
    };
    (client, config)
}

/// An activity image as the app stores it (`rolled_up` set: counted in rollups).
fn image(id: &str, customer: &str, date: &str, hours: &str) -> Value {
    json!({
        "pk": {"S": format!("ACTIVITY#{id}")}, "sk": {"S": "ACTIVITY"},
        "gsi1pk": {"S": "ACTIVITY"}, "gsi1sk": {"S": format!("{date}#{id}")},
        "id": {"S": id}, "customer": {"S": customer}, "project": {"S": "Data"},
        "engineer": {"S": "ada"}, "date": {"S": date}, "hours": {"N": hours},
        "description": {"S": ""}, "rolled_up": {"BOOL": true},
        "created_at": {"S": "2026-11-20T10:00:00Z"}, "updated_at": {"S": "2026-11-20T10:00:00Z"}
    })
}

/// One stream record in the shape Lambda delivers it.
fn record(
    seq: u64,
    name: &str,
    keys_of: &Value,
    old: Option<&Value>,
    new: Option<&Value>,
) -> Value {
    let mut change = json!({
        "ApproximateCreationDateTime": 1_780_000_000,
        "Keys": {"pk": keys_of["pk"], "sk": keys_of["sk"]},
        "SequenceNumber": format!("{seq:021}"),
        "SizeBytes": 200,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if let Some(old) = old {
        change["OldImage"] = old.clone();
    }
    if let Some(new) = new {
        change["NewImage"] = new.clone();
    }
    json!({
        "eventID": format!("event-{seq}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-11-20T00:00:00.000"
    })
}

/// Handles `records` as one batch, asserting that none of them failed.
async fn handled_all(client: &Client, config: &Config, records: &[&Value], now: DateTime<Utc>) {
    let response = handle(client, config, batch(records), now).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
}

fn batch(records: &[&Value]) -> Event {
    serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event")
}

/// `value → (hours, count)` of one dimension's day cells on `day`.
async fn day_cells(
    client: &Client,
    config: &Config,
    dimension: Dimension,
    day: &str,
) -> Vec<(String, f64, i64)> {
    let output = client
        .query()
        .table_name(&config.table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :day)")
        .expression_attribute_values(
            ":pk",
            AttributeValue::S(dynamodb::partition(dimension, Level::Day)),
        )
        .expression_attribute_values(":day", AttributeValue::S(format!("{day}#")))
        .consistent_read(true)
        .send()
        .await
        .expect("query cells");
    let number = |item: &std::collections::HashMap<String, AttributeValue>, name: &str| -> i64 {
        match item.get(name) {
            Some(AttributeValue::N(n)) => n.parse().expect("integer"),
            other => panic!("{name} is {other:?}"),
        }
    };
    let mut cells: Vec<(String, f64, i64)> = output
        .items()
        .iter()
        .map(|item| {
            let Some(AttributeValue::S(sk)) = item.get("sk") else {
                panic!("no sk")
            };
            let (_, value) = dynamodb::parse_sort_key(sk).expect("cell sort key");
            (
                value.to_owned(),
                metrics_app_rollup::hours(number(item, dynamodb::MICRO_HOURS)),
                number(item, dynamodb::COUNT),
            )
        })
        .filter(|(_, hours, count)| *hours != 0.0 || *count != 0)
        .collect();
    cells.sort_by(|a, b| a.0.cmp(&b.0));
    cells
}

#[tokio::test]
async fn duplicate_and_retried_records_are_counted_once() {
    let Some(endpoint) = moto_endpoint("duplicate_and_retried_records_are_counted_once") else {
        return;
    };
    let (client, config) = table(&endpoint).await;
    let day = "2026-11-20";
    let a = image("a", "Acme", day, "2");
    let b = image("b", "Globex", day, "1.25");
    let a_moved = image("a", "Globex", day, "3");
    let create_a = record(1, "INSERT", &a, None, Some(&a));
    let create_b = record(2, "INSERT", &b, None, Some(&b));
    let move_a = record(3, "MODIFY", &a, Some(&a), Some(&a_moved));
    let delete_b = record(4, "REMOVE", &b, Some(&b), None);
    let now = Utc::now();

    handled_all(&client, &config, &[&create_a, &create_b], now).await;
    assert_eq!(
        day_cells(&client, &config, Dimension::Customer, day).await,
        vec![("Acme".into(), 2.0, 1), ("Globex".into(), 1.25, 1)]
    );

    // Lambda retries a batch from its first record: the first two arrive again.
    handled_all(&client, &config, &[&create_a, &create_b, &move_a], now).await;
    // And a record may be delivered twice within one batch.
    handled_all(&client, &config, &[&move_a, &delete_b, &delete_b], now).await;

    assert_eq!(
        day_cells(&client, &config, Dimension::Customer, day).await,
        vec![("Globex".into(), 3.0, 1)]
    );
    assert_eq!(
        day_cells(&client, &config, Dimension::Total, day).await,
        vec![(String::new(), 3.0, 1)]
    );
}

#[tokio::test]
async fn records_that_are_not_counted_activities_change_nothing() {
    let Some(endpoint) = moto_endpoint("records_that_are_not_counted_activities_change_nothing")
    else {
        return;
    };
    let (client, config) = table(&endpoint).await;
    let day = "2026-11-21";
    let counted = image("c", "Acme", day, "1");
    let mut legacy = counted.clone();
    legacy.as_object_mut().expect("object").remove("rolled_up");
    legacy["pk"] = json!({"S": "ACTIVITY#legacy"});
    let mut broken = counted.clone();
    broken["pk"] = json!({"S": "ACTIVITY#broken"});
    broken["date"] = json!({"S": "yesterday"});
    let cell = json!({"pk": {"S": "ROLLUP#customer#D"}, "sk": {"S": format!("{day}#Acme")},
                      "micro_hours": {"N": "1000000"}, "count": {"N": "1"}});
    let description_only = {
        let mut edited = counted.clone();
        edited["description"] = json!({"S": "now with words"});
        edited
    };
    let records = [
        record(10, "INSERT", &counted, None, Some(&counted)),
        record(11, "INSERT", &legacy, None, Some(&legacy)),
        record(12, "INSERT", &broken, None, Some(&broken)),
        record(13, "MODIFY", &cell, Some(&cell), Some(&cell)),
        record(
            14,
            "MODIFY",
            &counted,
            Some(&counted),
            Some(&description_only),
        ),
    ];
    handled_all(
        &client,
        &config,
        &records.iter().collect::<Vec<_>>(),
        Utc::now(),
    )
    .await;
    assert_eq!(
        day_cells(&client, &config, Dimension::Customer, day).await,
        vec![("Acme".into(), 1.0, 1)]
    );

    // `rollups rebuild` stamps a legacy activity: the function counts it then.
    let stamped = {
        let mut s = legacy.clone();
        s["rolled_up"] = json!({"BOOL": true});
        s
    };
    let backfill = record(15, "MODIFY", &legacy, Some(&legacy), Some(&stamped));
    handle(&client, &config, batch(&[&backfill]), Utc::now()).await;
    assert_eq!(
        day_cells(&client, &config, Dimension::Customer, day).await,
        vec![("Acme".into(), 2.0, 2)]
    );
}

#[tokio::test]
async fn failed_records_are_reported_by_sequence_number() {
    let Some(endpoint) = moto_endpoint("failed_records_are_reported_by_sequence_number") else {
        return;
    };
    let (client, mut config) = table(&endpoint).await;
    config.table = format!("{}-missing", config.table);
    let a = image("a", "Acme", "2026-11-22", "1");
    let cell = json!({"pk": {"S": "ROLLUP#customer#D"}, "sk": {"S": "x"}});
    let records = [
        record(20, "INSERT", &a, None, Some(&a)),
        record(21, "MODIFY", &cell, Some(&cell), Some(&cell)),
    ];
    let response = handle(
        &client,
        &config,
        batch(&records.iter().collect::<Vec<_>>()),
        Utc::now(),
    )
    .await;
    let failed: Vec<Option<String>> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec![Some(format!("{:021}", 20))]);
    let body = serde_json::to_value(&response).expect("serialize");
    assert_eq!(
        body,
        json!({"batchItemFailures": [{"itemIdentifier": format!("{:021}", 20)}]})
    );
}
