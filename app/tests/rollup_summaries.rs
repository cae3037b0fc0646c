//! Summaries read from rollups equal a recomputation from the activities, on both
//! stores, after random creates, edits and deletes. On DynamoDB the rollup function's
//! handler is driven with the stream records those writes produce (old and new image
//! read from moto), each delivered twice, as a stream may.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{NaiveDate, Utc};
use metrics_app::activity::{Activity, ActivityFields};
use metrics_app::store::{ActivityQuery, DynamoDbStore, EmbeddedStore, Store, all_activities};
use metrics_app::summary::{GroupBy, from_rollups, summarize};
use metrics_app_rollup_function::{Config, handle};
use serde_json::{Value, json};

/// A small deterministic generator, so a failure replays.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from((self.0 >> 33) % sides as u64).expect("small")
    }
}

fn random_fields(dice: &mut Dice) -> ActivityFields {
    let day = NaiveDate::from_ymd_opt(2025, 11, 25).expect("day")
        + chrono::Duration::days(i64::try_from(dice.roll(70)).expect("small"));
    ActivityFields {
        customer: ["Acme", "Globex", "Initech"][dice.roll(3)].into(),
        project: ["Data", "Web"][dice.roll(2)].into(),
        engineer: ["ada", "bob", "cy"][dice.roll(3)].into(),
        date: day,
        hours: [0.25, 1.0, 1.5, 2.75, 8.0][dice.roll(5)],
        description: String::new(),
    }
}

/// The DynamoDB side: the raw table, to read images, and the function's config.
struct Stream {
    client: Client,
    config: Config,
    sequence: u64,
}

impl Stream {
    async fn image(&self, id: &str) -> Option<HashMap<String, AttributeValue>> {
        self.client
            .get_item()
            .table_name(&self.config.table)
            .key("pk", AttributeValue::S(format!("ACTIVITY#{id}")))
            .key("sk", AttributeValue::S("ACTIVITY".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("read the image")
            .item
    }

    /// Delivers the record of one write, twice.
    async fn deliver(
        &mut self,
        id: &str,
        old: Option<HashMap<String, AttributeValue>>,
        new: Option<HashMap<String, AttributeValue>>,
    ) {
        self.sequence += 1;
        let name = match (&old, &new) {
            (None, Some(_)) => "INSERT",
            (Some(_), Some(_)) => "MODIFY",
            (Some(_), None) => "REMOVE",
            (None, None) => return,
        };
        let mut change = json!({
            "ApproximateCreationDateTime": 1_780_000_000,
            "Keys": {"pk": {"S": format!("ACTIVITY#{id}")}, "sk": {"S": "ACTIVITY"}},
            "SequenceNumber": format!("{:021}", self.sequence),
            "SizeBytes": 300,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if let Some(old) = &old {
            change["OldImage"] = stream_image(old);
        }
        if let Some(new) = &new {
            change["NewImage"] = stream_image(new);
        }
        let record = json!({
            "eventID": format!("e-{}", self.sequence), "eventName": name,
            "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
            "dynamodb": change
        });
        let event: Event =
            serde_json::from_value(json!({"Records": [record.clone(), record]})).expect("event");
        let response = handle(&self.client, &self.config, event, Utc::now()).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }
}

/// An SDK item in the JSON shape a stream record carries it.
fn stream_image(item: &HashMap<String, AttributeValue>) -> Value {
    let mut image = serde_json::Map::new();
    for (name, value) in item {
        let value = match value {
            AttributeValue::S(s) => json!({"S": s}),
            AttributeValue::N(n) => json!({"N": n}),
            AttributeValue::Bool(b) => json!({"BOOL": b}),
            other => panic!("activities hold no {other:?}"),
        };
        image.insert(name.clone(), value);
    }
    Value::Object(image)
}

async fn random_writes_then_compare(store: &dyn Store, mut stream: Option<Stream>) {
    let mut dice = Dice(13);
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..60 {
        match (dice.roll(6), ids.is_empty()) {
            (0..=2, _) | (_, true) => {
                let activity = Activity::new(random_fields(&mut dice), Utc::now());
                store.create_activity(&activity).await.expect("create");
                if let Some(stream) = &mut stream {
                    let new = stream.image(&activity.id).await;
                    stream.deliver(&activity.id, None, new).await;
                }
                ids.push(activity.id);
            }
            (3 | 4, false) => {
                let id = ids[dice.roll(ids.len())].clone();
                let old = match &stream {
                    Some(stream) => stream.image(&id).await,
                    None => None,
                };
                let fields = random_fields(&mut dice);
                store
                    .replace_activity(&id, &fields, Utc::now())
                    .await
                    .expect("replace");
                if let Some(stream) = &mut stream {
                    let new = stream.image(&id).await;
                    stream.deliver(&id, old, new).await;
                }
            }
            (_, false) => {
                let id = ids.swap_remove(dice.roll(ids.len()));
                let old = match &stream {
                    Some(stream) => stream.image(&id).await,
                    None => None,
                };
                assert!(store.delete_activity(&id).await.expect("delete"));
                if let Some(stream) = &mut stream {
                    stream.deliver(&id, old, None).await;
                }
            }
        }
    }
    let day = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    let ranges = [
        (None, None),
        (day("2025-12-01"), day("2025-12-31")),
        (day("2025-11-28"), day("2026-01-03")),
        (day("2026-01-01"), None),
        (None, day("2025-12-14")),
        (day("2026-02-01"), day("2025-12-01")),
    ];
    for (from, to) in ranges {
        let query = ActivityQuery {
            from,
            to,
            ..ActivityQuery::default()
        };
        let activities = all_activities(store, &query).await.expect("all");
        for group_by in [
            GroupBy::Customer,
            GroupBy::Project,
            GroupBy::Engineer,
            GroupBy::Week,
        ] {
            assert_eq!(
                from_rollups(store, group_by, from, to)
                    .await
                    .expect("summary"),
                summarize(&activities, group_by),
                "{group_by:?} from {from:?} to {to:?}"
            );
        }
    }
}

#[tokio::test]
async fn embedded_summaries_equal_a_recomputation() {
    let (store, _dir) = common::embedded();
    random_writes_then_compare(store.as_ref(), None).await;
}

#[tokio::test]
async fn dynamodb_summaries_equal_a_recomputation_after_the_stream() {
    let test = "dynamodb_summaries_equal_a_recomputation_after_the_stream";
    let Some((client, table)) = common::dynamodb_table(test).await else {
        return;
    };
    let store = DynamoDbStore::new(client.clone(), table.clone());
    let stream = Stream {
        client,
        config: Config {
            table,
            ttl_attribute: "expiresAt".into(),
        },
        sequence: 0,
    };
    random_writes_then_compare(&store, Some(stream)).await;
}

#[tokio::test]
async fn rebuilding_the_embedded_rollups_keeps_summaries_exact() {
    let (store, dir) = common::embedded();
    let mut dice = Dice(7);
    for _ in 0..20 {
        let activity = Activity::new(random_fields(&mut dice), Utc::now());
        store.create_activity(&activity).await.expect("create");
    }
    let all = all_activities(store.as_ref(), &ActivityQuery::default())
        .await
        .expect("all");
    let expected = summarize(&all, GroupBy::Customer);
    drop(store);
    let reopened = Arc::new(EmbeddedStore::open(dir.path()).expect("reopen"));
    let counted = reopened.rebuild_rollups(&|_, _| {}).expect("rebuild");
    assert_eq!(counted, 20);
    assert_eq!(
        from_rollups(reopened.as_ref(), GroupBy::Customer, None, None)
            .await
            .expect("summary"),
        expected
    );
}
