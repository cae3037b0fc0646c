//! When the store does not answer, the app says so with 503 and never claims a write.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::{get, post};
use metrics_app::store::DynamoDbStore;
use metrics_app::{AppState, Settings, app};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_a_503_everywhere() {
    let client = common::dynamodb_client(&format!("http://127.0.0.1:{}", closed_port())).await;
    let app = common::router(Arc::new(DynamoDbStore::new(client, "metrics")));
    let ready = get(&app, "/readyz").await;
    assert_eq!(
        (ready.status, ready.error_code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
    );
    let health = get(&app, "/healthz").await;
    assert_eq!(
        health.status,
        StatusCode::OK,
        "liveness does not depend on the store"
    );
    for reply in [
        post(&app, "/picus/put", r#"{"Data": "Sample Data"}"#).await,
        post(&app, "/api/v1/activities", r#"{"customer": "Acme", "project": "Data", "engineer": "ada", "date": "2026-11-20", "hours": 1}"#).await,
        get(&app, "/picus/list").await,
        get(&app, "/picus/get/0193a4c1-0000-7000-8000-000000000000").await,
        get(&app, "/api/v1/activities").await,
        get(&app, "/api/v1/summary").await,
    ] {
        assert_eq!((reply.status, reply.error_code().as_str()), (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"), "{}", reply.text);
    }
}

#[tokio::test]
async fn a_missing_table_is_not_ready() {
    let Some(endpoint) = common::moto_endpoint("unavailable::a_missing_table_is_not_ready") else {
        return;
    };
    let client = common::dynamodb_client(&endpoint).await;
    let table = format!("metrics-app-missing-{}", uuid::Uuid::new_v4());
    let app = common::router(Arc::new(DynamoDbStore::new(client, table)));
    let ready = get(&app, "/readyz").await;
    assert_eq!(
        (ready.status, ready.error_code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
    );
    let put = post(&app, "/picus/put", r#"{"Data": "Sample Data"}"#).await;
    assert_eq!(put.status, StatusCode::SERVICE_UNAVAILABLE, "{}", put.text);
}

#[tokio::test]
async fn a_store_that_hangs_times_out_with_a_503() {
    // Accepts connections (the kernel does) but never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
    let client = common::dynamodb_client(&endpoint).await;
    let settings = Settings {
        request_timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    let app = app(AppState::new(
        Arc::new(DynamoDbStore::new(client, "metrics")),
        settings,
    ));
    let reply = get(&app, "/api/v1/activities").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn a_table_still_being_created_is_not_ready_until_active() {
    let test = "unavailable::a_table_still_being_created_is_not_ready_until_active";
    let Some(endpoint) = common::dynalite_endpoint(test) else {
        return;
    };
    let client = common::dynamodb_client(&endpoint).await;
    let table = metricsapp_testing::unique("metrics-app-creating");
    metricsapp_testing::app_table(&client, &table, false).await;
    let app = common::router(Arc::new(DynamoDbStore::new(client, table)));
    let ready = get(&app, "/readyz").await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "CREATING is not ready: {}",
        ready.text
    );
    assert!(ready.text.contains("store_unavailable"), "{}", ready.text);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if get(&app, "/readyz").await.status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the table never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let put = post(&app, "/picus/put", r#"{"Data": "Sample Data"}"#).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
}
