//! The original `/picus/*` endpoints answer with exactly the shapes existing clients
//! expect, on both stores.

mod common;

use axum::Router;
use axum::http::{Method, StatusCode};
use common::{get, post, send};
use serde_json::{Value, json};

async fn put_get_list_delete(app: Router) {
    let body = json!({"Data": "Sample Data", "count": 3, "ratio": 0.5, "tags": ["a", "b"], "meta": {"ok": true, "none": null}});
    let put = post(&app, "/picus/put", &body.to_string()).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let put = put.json();
    let object = put.as_object().expect("object");
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["id"],
        "exactly {{\"id\": ...}}"
    );
    let id = put["id"].as_str().expect("id string").to_owned();
    assert!(!id.is_empty());

    let mut expected = body.clone();
    expected["id"] = Value::from(id.clone());
    let read = get(&app, &format!("/picus/get/{id}")).await;
    assert_eq!(
        (read.status, read.json()),
        (StatusCode::OK, expected.clone())
    );

    let second = post(&app, "/picus/put", r#"{"Data": "More"}"#).await.json()["id"].clone();
    let list = get(&app, "/picus/list").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.json(),
        json!([expected, {"id": second, "Data": "More"}])
    );

    let deleted = send(&app, Method::DELETE, &format!("/picus/{id}"), None).await;
    assert_eq!(
        (deleted.status, deleted.json()),
        (
            StatusCode::OK,
            json!({"message": "Item deleted successfully"})
        )
    );
    let again = send(&app, Method::DELETE, &format!("/picus/{id}"), None).await;
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let gone = get(&app, &format!("/picus/get/{id}")).await;
    assert_eq!(
        (gone.status, gone.error_code().as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(
        get(&app, "/picus/list").await.json(),
        json!([{"id": second, "Data": "More"}])
    );
}

async fn refuses_what_it_cannot_store_as_given(app: Router) {
    for (body, status, code) in [
        ("[1, 2]", StatusCode::BAD_REQUEST, "invalid_item"),
        ("\"text\"", StatusCode::BAD_REQUEST, "invalid_item"),
        (r#"{"id": "mine"}"#, StatusCode::BAD_REQUEST, "invalid_item"),
        (r#"{"pk": "x"}"#, StatusCode::BAD_REQUEST, "invalid_item"),
        (
            r#"{"gsi1sk": "x"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_item",
        ),
        (r#"{"n": 1e300}"#, StatusCode::BAD_REQUEST, "invalid_item"),
        (r#"{"": 1}"#, StatusCode::BAD_REQUEST, "invalid_item"),
    ] {
        let reply = post(&app, "/picus/put", body).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (status, code),
            "{body}"
        );
    }
    let large = json!({"blob": "x".repeat(401 * 1024)}).to_string();
    let reply = post(&app, "/picus/put", &large).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "item_too_large")
    );
    let fits = json!({"blob": "x".repeat(390 * 1024)}).to_string();
    assert_eq!(post(&app, "/picus/put", &fits).await.status, StatusCode::OK);
    // Nothing refused was stored.
    assert_eq!(
        get(&app, "/picus/list")
            .await
            .json()
            .as_array()
            .expect("list")
            .len(),
        1
    );
}

async fn an_empty_store_lists_nothing(app: Router) {
    let list = get(&app, "/picus/list").await;
    assert_eq!((list.status, list.json()), (StatusCode::OK, json!([])));
}

/// A long list streams in small chunks, never a page (500 items) or the whole array in
/// one buffer, and still answers every item once, oldest first.
async fn a_long_list_streams_in_small_chunks(store: metrics_app::store::SharedStore) {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let item: serde_json::Map<String, Value> =
        serde_json::from_value(json!({"Data": "x".repeat(1000)})).expect("object");
    let mut ids = Vec::new();
    for _ in 0..1_200 {
        let id = uuid::Uuid::now_v7().to_string();
        store.put_item(&id, &item).await.expect("put");
        ids.push(id);
    }
    let app = common::router(store);
    let request = axum::http::Request::get("/picus/list")
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let (mut json, mut frames) = (Vec::new(), 0);
    while let Some(frame) = body.frame().await {
        let data = frame.expect("frame").into_data().expect("data frame");
        // A page of these items is about 500 KB; a chunk holds a few dozen of them.
        assert!(data.len() <= 64 * 1024, "a chunk of {} bytes", data.len());
        json.extend_from_slice(&data);
        frames += 1;
    }
    assert!(frames >= 1_200 * 1_000 / (64 * 1024), "{frames} chunks");
    let listed: Vec<Value> = serde_json::from_slice(&json).expect("a JSON array");
    let listed: Vec<&str> = listed
        .iter()
        .map(|item| item["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, ids);
}

#[tokio::test]
async fn a_long_list_streams_in_small_chunks_from_the_embedded_store() {
    let (store, _dir) = common::embedded();
    a_long_list_streams_in_small_chunks(store).await;
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _dir) = crate::common::embedded();
                    super::$case(crate::common::router(store)).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $case() {
                    let test = concat!("picus::dynamodb::", stringify!($case));
                    let Some(store) = crate::common::dynamodb(test).await else { return };
                    super::$case(crate::common::router(store)).await;
                }
            )*
        }
    };
}

on_both_stores!(
    put_get_list_delete,
    refuses_what_it_cannot_store_as_given,
    an_empty_store_lists_nothing
);

#[tokio::test]
async fn a_list_longer_than_a_page_streams_every_item_in_order() {
    let (store, _dir) = common::embedded();
    let items = metrics_app::store::ITEM_PAGE * 2 + 7;
    let mut ids = Vec::new();
    for n in 0..items {
        let id = uuid::Uuid::now_v7().to_string();
        let item = json!({"n": n}).as_object().expect("object").clone();
        store.put_item(&id, &item).await.expect("put");
        ids.push(id);
    }
    let list = get(&common::router(store), "/picus/list").await;
    assert_eq!(list.status, StatusCode::OK);
    let listed: Vec<String> = list
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed, ids);
}
