//! One suite, run unchanged against both stores: the embedded store (a temp directory)
//! and DynamoDB (moto's server, a fresh table laid out by `metrics-app-table`).

mod common;

use chrono::{Duration, NaiveDate, Utc};
use metrics_app::activity::{Activity, ActivityFields};
use metrics_app::store::{ActivityQuery, Item, Store, all_activities};

/// Every item, following pages of two so that paging is exercised.
async fn all_items(store: &dyn Store) -> Vec<(String, Item)> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let page = store.list_items(2, after.as_deref()).await.expect("list");
        assert!(page.items.len() <= 2, "page larger than its limit");
        all.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
    panic!("pagination did not end");
}
use serde_json::json;

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("day")
}

fn fields(customer: &str, project: &str, engineer: &str, date: &str, hours: f64) -> ActivityFields {
    ActivityFields {
        customer: customer.into(),
        project: project.into(),
        engineer: engineer.into(),
        date: day(date),
        hours,
        description: format!("{customer}/{project} by {engineer}"),
    }
}

async fn record(store: &dyn Store, fields: ActivityFields) -> Activity {
    let activity = Activity::new(fields, Utc::now());
    store.create_activity(&activity).await.expect("create");
    activity
}

/// Follows cursors to the end, returning the ids in the order listed.
async fn list_all(store: &dyn Store, query: &ActivityQuery, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let page = store
            .list_activities(query, limit, after.as_deref())
            .await
            .expect("list");
        assert!(page.activities.len() <= limit, "page larger than its limit");
        ids.extend(page.activities.into_iter().map(|a| a.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
    panic!("pagination did not end");
}

async fn an_activity_reads_back_as_written(store: &dyn Store) {
    let activity = record(store, fields("Acme", "Data", "ada", "2026-11-20", 1.25)).await;
    let read = store.get_activity(&activity.id).await.expect("get");
    assert_eq!(read, Some(activity));
    assert_eq!(
        store
            .get_activity("0193a4c1-0000-7000-8000-000000000000")
            .await
            .expect("get"),
        None
    );
}

async fn replacing_keeps_id_and_creation_time(store: &dyn Store) {
    let activity = record(store, fields("Acme", "Data", "ada", "2026-11-20", 1.0)).await;
    let later = activity.created_at + Duration::minutes(5);
    let new_fields = fields("Globex", "Web", "bob", "2026-10-01", 7.5);
    let replaced = store
        .replace_activity(&activity.id, &new_fields, later)
        .await
        .expect("replace")
        .expect("exists");
    assert_eq!(replaced.id, activity.id);
    assert_eq!(replaced.fields, new_fields);
    assert_eq!(replaced.created_at, activity.created_at);
    assert_eq!(replaced.updated_at, later);
    assert_eq!(
        store.get_activity(&activity.id).await.expect("get"),
        Some(replaced)
    );
    // Its place in the order moved with its date.
    let october = ActivityQuery {
        to: Some(day("2026-10-31")),
        ..ActivityQuery::default()
    };
    assert_eq!(
        list_all(store, &october, 10).await,
        vec![activity.id.clone()]
    );
    let missing =
        store.replace_activity("0193a4c1-0000-7000-8000-000000000000", &new_fields, later);
    assert_eq!(missing.await.expect("replace"), None);
}

async fn deleting_removes_from_reads_and_lists(store: &dyn Store) {
    let kept = record(store, fields("Acme", "Data", "ada", "2026-11-20", 1.0)).await;
    let gone = record(store, fields("Acme", "Data", "ada", "2026-11-21", 2.0)).await;
    assert!(store.delete_activity(&gone.id).await.expect("delete"));
    assert!(!store.delete_activity(&gone.id).await.expect("delete again"));
    assert_eq!(store.get_activity(&gone.id).await.expect("get"), None);
    assert_eq!(
        list_all(store, &ActivityQuery::default(), 10).await,
        vec![kept.id]
    );
}

async fn lists_are_newest_first_and_paginate(store: &dyn Store) {
    let mut recorded = Vec::new();
    for (i, date) in [
        "2026-11-03",
        "2026-11-01",
        "2026-11-03",
        "2026-10-30",
        "2026-11-02",
        "2026-12-01",
        "2026-11-01",
    ]
    .into_iter()
    .enumerate()
    {
        recorded.push(record(store, fields("Acme", "Data", "ada", date, 1.0 + i as f64)).await);
    }
    let mut expected = recorded.clone();
    expected.sort_by_key(|a| std::cmp::Reverse(a.sort_key()));
    let expected: Vec<String> = expected.into_iter().map(|a| a.id).collect();
    for limit in [1, 3, 7, 50] {
        assert_eq!(
            list_all(store, &ActivityQuery::default(), limit).await,
            expected,
            "limit {limit}"
        );
    }
    let first = store
        .list_activities(&ActivityQuery::default(), 3, None)
        .await
        .expect("list");
    assert_eq!(first.activities.len(), 3);
    assert!(
        first.next.is_some(),
        "a page cut by its limit says more may follow"
    );
}

async fn filters_select_exactly(store: &dyn Store) {
    let a = record(store, fields("Acme", "Data", "ada", "2026-11-01", 1.0)).await;
    let b = record(store, fields("Acme", "Web", "bob", "2026-11-05", 2.0)).await;
    let c = record(store, fields("Globex", "Data", "ada", "2026-11-10", 3.0)).await;
    let d = record(store, fields("acme", "Data", "ada", "2026-11-15", 4.0)).await;
    let cases = [
        (
            ActivityQuery {
                customer: Some("Acme".into()),
                ..Default::default()
            },
            vec![&b, &a],
        ),
        (
            ActivityQuery {
                project: Some("Data".into()),
                ..Default::default()
            },
            vec![&d, &c, &a],
        ),
        (
            ActivityQuery {
                engineer: Some("bob".into()),
                ..Default::default()
            },
            vec![&b],
        ),
        (
            ActivityQuery {
                from: Some(day("2026-11-05")),
                ..Default::default()
            },
            vec![&d, &c, &b],
        ),
        (
            ActivityQuery {
                to: Some(day("2026-11-05")),
                ..Default::default()
            },
            vec![&b, &a],
        ),
        (
            ActivityQuery {
                from: Some(day("2026-11-05")),
                to: Some(day("2026-11-10")),
                ..Default::default()
            },
            vec![&c, &b],
        ),
        (
            ActivityQuery {
                customer: Some("Acme".into()),
                project: Some("Data".into()),
                engineer: Some("ada".into()),
                ..Default::default()
            },
            vec![&a],
        ),
        (
            ActivityQuery {
                from: Some(day("2026-11-11")),
                to: Some(day("2026-11-10")),
                ..Default::default()
            },
            vec![],
        ),
        (
            ActivityQuery {
                customer: Some("Initech".into()),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (query, expected) in cases {
        let expected: Vec<String> = expected.into_iter().map(|a| a.id.clone()).collect();
        for limit in [1, 2, 10] {
            assert_eq!(
                list_all(store, &query, limit).await,
                expected,
                "{query:?} limit {limit}"
            );
        }
    }
}

async fn cursors_outside_the_date_range_are_clamped(store: &dyn Store) {
    let early = record(store, fields("Acme", "Data", "ada", "2026-01-10", 1.0)).await;
    let late = record(store, fields("Acme", "Data", "ada", "2026-03-10", 1.0)).await;
    let range = ActivityQuery {
        from: Some(day("2026-02-01")),
        to: Some(day("2026-04-01")),
        ..Default::default()
    };
    // A cursor from before the range: nothing more in it.
    let page = store
        .list_activities(&range, 10, Some(&early.sort_key()))
        .await
        .expect("list");
    assert!(page.activities.is_empty() && page.next.is_none());
    // A cursor from after the range: the range from its start.
    let page = store
        .list_activities(&range, 10, Some("2026-12-31#ffff"))
        .await
        .expect("list");
    assert_eq!(
        page.activities
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>(),
        vec![late.id]
    );
}

async fn summaries_see_every_activity(store: &dyn Store) {
    for i in 0..12 {
        record(
            store,
            fields(
                if i % 3 == 0 { "Acme" } else { "Globex" },
                "Data",
                "ada",
                "2026-11-20",
                0.5,
            ),
        )
        .await;
    }
    let all = all_activities(store, &ActivityQuery::default())
        .await
        .expect("all");
    assert_eq!(all.len(), 12);
    let acme = all.iter().filter(|a| a.fields.customer == "Acme").count();
    assert_eq!(acme, 4);
}

async fn items_are_stored_as_given(store: &dyn Store) {
    let body = json!({
        "Data": "Sample Data", "empty": "", "unicode": "grüße ✓", "int": -42, "big": 9007199254740993_u64,
        "float": 2.5, "tiny": 1.0e-7, "yes": true, "no": false, "nothing": null,
        "list": [1, "two", null, [3], {"four": 4}], "map": {"nested": {"deeper": [true]}}, "emptyList": [], "emptyMap": {}
    });
    let item: Item = body.as_object().expect("object").clone();
    store.put_item("item-1", &item).await.expect("put");
    assert_eq!(
        store.get_item("item-1").await.expect("get"),
        Some(item.clone())
    );
    assert_eq!(store.get_item("item-2").await.expect("get"), None);
    let listed = all_items(store).await;
    assert_eq!(listed, vec![("item-1".to_owned(), item)]);
}

async fn items_list_oldest_first_and_delete(store: &dyn Store) {
    let ids: Vec<String> = (0..5).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for (n, id) in ids.iter().enumerate() {
        let item: Item = json!({"n": n}).as_object().expect("object").clone();
        store.put_item(id, &item).await.expect("put");
    }
    let listed: Vec<String> = all_items(store)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(listed, ids);
    assert!(store.delete_item(&ids[2]).await.expect("delete"));
    assert!(!store.delete_item(&ids[2]).await.expect("delete again"));
    assert_eq!(store.get_item(&ids[2]).await.expect("get"), None);
    assert_eq!(all_items(store).await.len(), 4);
}

async fn items_and_activities_do_not_mix(store: &dyn Store) {
    let activity = record(store, fields("Acme", "Data", "ada", "2026-11-20", 1.0)).await;
    store
        .put_item(&activity.id, &Item::new())
        .await
        .expect("put");
    assert_eq!(all_items(store).await.len(), 1);
    assert_eq!(
        list_all(store, &ActivityQuery::default(), 10).await,
        vec![activity.id.clone()]
    );
    assert!(store.delete_item(&activity.id).await.expect("delete"));
    assert!(
        store
            .get_activity(&activity.id)
            .await
            .expect("get")
            .is_some()
    );
}

async fn a_healthy_store_is_ready(store: &dyn Store) {
    store.check().await.expect("ready");
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _dir) = crate::common::embedded();
                    super::$case(store.as_ref()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $case() {
                    let test = concat!("dynamodb::", stringify!($case));
                    let Some(store) = crate::common::dynamodb(test).await else { return };
                    super::$case(store.as_ref()).await;
                }
            )*
        }
    };
}

conformance!(
    an_activity_reads_back_as_written,
    replacing_keeps_id_and_creation_time,
    deleting_removes_from_reads_and_lists,
    lists_are_newest_first_and_paginate,
    filters_select_exactly,
    cursors_outside_the_date_range_are_clamped,
    summaries_see_every_activity,
    items_are_stored_as_given,
    items_list_oldest_first_and_delete,
    items_and_activities_do_not_mix,
    a_healthy_store_is_ready,
);
