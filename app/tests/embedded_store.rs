//! What only the embedded store has: one process per file, writes committed in groups
//! when many arrive at once, and reads by id from a snapshot shared until the next
//! commit.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use chrono::{NaiveDate, Utc};
use metrics_app::activity::{Activity, ActivityFields};
use metrics_app::store::{ActivityQuery, EmbeddedStore, Store, all_activities};

fn activity(n: usize) -> Activity {
    Activity::new(
        ActivityFields {
            customer: format!("customer {}", n % 7),
            project: "Data".into(),
            engineer: "ada".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 1 + (n % 28) as u32).expect("day"),
            hours: 1.0,
            description: String::new(),
        },
        Utc::now(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_are_all_stored_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open"));
    let writes = (0..300).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let activity = activity(n);
            store.create_activity(&activity).await.expect("stored");
            activity.id
        })
    });
    let mut ids: Vec<String> = Vec::new();
    for write in writes {
        ids.push(write.await.expect("task"));
    }
    drop(store);
    let reopened = EmbeddedStore::open(dir.path()).expect("reopen");
    let mut stored: Vec<String> = all_activities(&reopened, &ActivityQuery::default())
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.id)
        .collect();
    stored.sort();
    ids.sort();
    assert_eq!(stored, ids);
}

#[tokio::test]
async fn a_second_process_on_the_same_directory_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _first = EmbeddedStore::open(dir.path()).expect("open");
    let error = match EmbeddedStore::open(dir.path()) {
        Ok(_) => panic!("opened twice"),
        Err(error) => metrics_app::error::report(&error),
    };
    assert!(error.contains("metrics-app.redb"), "{error}");
}

#[tokio::test]
async fn a_filter_that_matches_little_answers_after_a_bounded_read_with_a_cursor() {
    use metrics_app::store::MAX_READ_PER_PAGE;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let fields = |customer: &str, date: &str| ActivityFields {
        customer: customer.into(),
        project: "Data".into(),
        engineer: "ada".into(),
        date: chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("day"),
        hours: 1.0,
        description: String::new(),
    };
    let wanted = Activity::new(fields("Acme", "2026-01-01"), Utc::now());
    store.create_activity(&wanted).await.expect("create");
    let others: Vec<Activity> = (0..MAX_READ_PER_PAGE + 10)
        .map(|_| Activity::new(fields("Globex", "2026-02-01"), Utc::now()))
        .collect();
    futures::future::try_join_all(others.iter().map(|a| store.create_activity(a)))
        .await
        .expect("create");
    let query = ActivityQuery {
        customer: Some("Acme".into()),
        ..ActivityQuery::default()
    };
    let first = store.list_activities(&query, 10, None).await.expect("list");
    assert!(first.activities.is_empty());
    let next = first.next.expect("a cursor after a bounded read");
    let second = store
        .list_activities(&query, 10, Some(&next))
        .await
        .expect("list");
    assert_eq!(second.activities, vec![wanted]);
    assert_eq!(second.next, None);
}

/// Reads `id` over and over until `stop`, so the shared read snapshot is always in use
/// (and would be the one a careless read reused) while the test writes.
fn keep_reading(
    store: Arc<EmbeddedStore>,
    id: String,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..3)
        .map(|_| {
            let (store, id, stop) = (store.clone(), id.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    store.get_activity(&id).await.expect("read");
                    store.get_item_json(&id).await.expect("read");
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect()
}

/// Both reads by id (decoded, and the stored JSON as it is) find `expected`.
async fn assert_both_reads(store: &EmbeddedStore, id: &str, expected: Option<&Activity>) {
    assert_eq!(
        store.get_activity(id).await.expect("read").as_ref(),
        expected
    );
    let json = store.get_activity_json(id).await.expect("read");
    let decoded = json.map(|json| serde_json::from_slice::<Activity>(&json).expect("json"));
    assert_eq!(decoded.as_ref(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_right_after_a_write_sees_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open"));
    let warm = activity(0);
    store.create_activity(&warm).await.expect("create");
    let stop = Arc::new(AtomicBool::new(false));
    let readers = keep_reading(store.clone(), warm.id.clone(), stop.clone());
    for n in 1..60 {
        let created = activity(n);
        store.create_activity(&created).await.expect("create");
        assert_both_reads(&store, &created.id, Some(&created)).await;

        let mut fields = created.fields.clone();
        fields.hours = 2.5;
        fields.customer = format!("moved {n}");
        let replaced = store
            .replace_activity(&created.id, &fields, Utc::now())
            .await
            .expect("replace")
            .expect("found");
        assert_eq!(replaced.fields, fields);
        assert_both_reads(&store, &created.id, Some(&replaced)).await;

        assert!(store.delete_activity(&created.id).await.expect("delete"));
        assert_both_reads(&store, &created.id, None).await;

        let key = format!("item-{n}");
        let item = |data: &str| json!({"Data": data}).as_object().cloned().expect("object");
        store.put_item(&key, &item("first")).await.expect("put");
        assert_eq!(
            store.get_item(&key).await.expect("read"),
            Some(item("first"))
        );
        store.put_item(&key, &item("second")).await.expect("put");
        assert_eq!(
            store.get_item(&key).await.expect("read"),
            Some(item("second"))
        );
        let json = store
            .get_item_json(&key)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(
            serde_json::from_slice::<Value>(&json).expect("json"),
            json!({"Data": "second"})
        );
        assert!(store.delete_item(&key).await.expect("delete"));
        assert_eq!(store.get_item(&key).await.expect("read"), None);
        assert_eq!(store.get_item_json(&key).await.expect("read"), None);
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader");
    }
    // The snapshot does not keep the file open once the store is gone.
    drop(store);
    let reopened = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(
        reopened.get_activity(&warm.id).await.expect("read"),
        Some(warm)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_http_a_read_right_after_a_write_sees_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open"));
    let app = common::router(store.clone());
    let warm = activity(0);
    store.create_activity(&warm).await.expect("create");
    let stop = Arc::new(AtomicBool::new(false));
    let readers = keep_reading(store.clone(), warm.id.clone(), stop.clone());
    let body = |customer: &str, hours: f64| {
        json!({"customer": customer, "project": "Data", "engineer": "ada",
               "date": "2026-11-20", "hours": hours, "description": ""})
        .to_string()
    };
    for n in 0..20 {
        let created = common::post(&app, "/api/v1/activities", &body("Acme", 1.0)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let uri = format!(
            "/api/v1/activities/{}",
            created.json()["id"].as_str().expect("id")
        );
        let read = common::get(&app, &uri).await;
        assert_eq!((read.status, read.json()), (StatusCode::OK, created.json()));

        let put = common::send(
            &app,
            Method::PUT,
            &uri,
            Some(&body(&format!("moved {n}"), 3.0)),
        )
        .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.text);
        let read = common::get(&app, &uri).await.json();
        assert_eq!(
            (read["customer"].clone(), read["hours"].clone()),
            (json!(format!("moved {n}")), json!(3.0))
        );
        assert_eq!(read, put.json());

        let deleted = common::send(&app, Method::DELETE, &uri, None).await;
        assert!(deleted.status.is_success(), "{}", deleted.text);
        assert_eq!(common::get(&app, &uri).await.status, StatusCode::NOT_FOUND);

        let put = common::post(&app, "/picus/put", &json!({"Data": n}).to_string())
            .await
            .json();
        let key = put["id"].as_str().expect("id");
        let read = common::get(&app, &format!("/picus/get/{key}")).await;
        assert_eq!(
            (read.status, read.json()),
            (StatusCode::OK, json!({"id": key, "Data": n}))
        );
        let deleted = common::send(&app, Method::DELETE, &format!("/picus/{key}"), None).await;
        assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
        let gone = common::get(&app, &format!("/picus/get/{key}")).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader");
    }
}
