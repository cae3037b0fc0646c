//! What only the embedded store has: one process per file, and writes committed in
//! groups when many arrive at once.

use std::sync::Arc;

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
