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
