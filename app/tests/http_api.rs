//! The JSON API and operational endpoints, through the router with no socket.

mod common;

use axum::http::{Method, StatusCode, header};
use common::{embedded, embedded_router, get, post, router, send};
use serde_json::{Value, json};

fn activity(customer: &str, date: &str, hours: f64) -> String {
    json!({"customer": customer, "project": "Data platform", "engineer": "ada",
           "date": date, "hours": hours, "description": "Nightly export"})
    .to_string()
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let (app, _dir) = embedded_router();
    let health = get(&app, "/healthz").await;
    assert_eq!(
        (health.status, health.json()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let ready = get(&app, "/readyz").await;
    assert_eq!(
        (ready.status, ready.json()),
        (StatusCode::OK, json!({"status": "ready"}))
    );
}

#[tokio::test]
async fn an_activity_goes_through_its_whole_life() {
    let (app, _dir) = embedded_router();
    let created = post(
        &app,
        "/api/v1/activities",
        &activity("Acme", "2026-11-20", 1.5),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let body = created.json();
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created.headers[header::LOCATION],
        format!("/api/v1/activities/{id}")
    );
    assert_eq!(body["customer"], "Acme");
    assert_eq!(body["hours"], 1.5);
    assert_eq!(body["date"], "2026-11-20");
    assert_eq!(body["created_at"], body["updated_at"]);

    let read = get(&app, &format!("/api/v1/activities/{id}")).await;
    assert_eq!((read.status, read.json()), (StatusCode::OK, body.clone()));

    let replaced = send(
        &app,
        Method::PUT,
        &format!("/api/v1/activities/{id}"),
        Some(&activity("Globex", "2026-11-21", 3.0)),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    let replaced = replaced.json();
    assert_eq!(
        (replaced["id"].as_str(), replaced["customer"].as_str()),
        (Some(id.as_str()), Some("Globex"))
    );
    assert_eq!(replaced["created_at"], body["created_at"]);

    let deleted = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/activities/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (deleted.status, deleted.text.as_str()),
        (StatusCode::NO_CONTENT, "")
    );
    for method in [Method::GET, Method::DELETE] {
        let gone = send(&app, method, &format!("/api/v1/activities/{id}"), None).await;
        assert_eq!(
            (gone.status, gone.error_code().as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );
    }
    let gone = send(
        &app,
        Method::PUT,
        &format!("/api/v1/activities/{id}"),
        Some(&activity("A", "2026-11-21", 1.0)),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(
        gone.json()["error"]["message"]
            .as_str()
            .expect("message")
            .contains(&id)
    );
}

#[tokio::test]
async fn invalid_activities_name_every_field() {
    let (app, _dir) = embedded_router();
    let body = json!({"customer": "", "project": 7, "date": "2026-02-30", "hours": 0, "description": "x".repeat(4001), "colour": "red"});
    for (method, uri) in [
        (Method::POST, "/api/v1/activities".to_owned()),
        (Method::PUT, "/api/v1/activities/some-id".to_owned()),
    ] {
        let reply = send(&app, method, &uri, Some(&body.to_string())).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
        assert_eq!(reply.error_code(), "validation_failed");
        let fields = reply.json()["error"]["fields"].clone();
        for field in [
            "customer",
            "project",
            "engineer",
            "date",
            "hours",
            "description",
            "colour",
        ] {
            assert!(fields[field].is_string(), "{field} not named: {fields}");
        }
    }
    let not_object = post(&app, "/api/v1/activities", "[1, 2]").await;
    assert_eq!(not_object.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        not_object.json()["error"]["fields"]["body"],
        "must be a JSON object"
    );
    assert!(
        get(&app, "/api/v1/activities").await.json()["items"]
            .as_array()
            .expect("items")
            .is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn malformed_json_is_a_400_naming_the_problem() {
    let (app, _dir) = embedded_router();
    for (uri, body) in [
        ("/api/v1/activities", "{\"customer\": "),
        ("/picus/put", "{oops}"),
        ("/picus/put", ""),
    ] {
        let reply = post(&app, uri, body).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (StatusCode::BAD_REQUEST, "malformed_json"),
            "{uri} {body:?}"
        );
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .expect("message")
                .contains("line 1"),
            "{}",
            reply.text
        );
    }
}

#[tokio::test]
async fn lists_filter_and_paginate_with_opaque_cursors() {
    let (app, _dir) = embedded_router();
    for (customer, date) in [
        ("Acme", "2026-11-01"),
        ("Acme", "2026-11-03"),
        ("Globex", "2026-11-02"),
        ("Acme", "2026-11-04"),
        ("Acme", "2026-10-31"),
    ] {
        assert_eq!(
            post(&app, "/api/v1/activities", &activity(customer, date, 1.0))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let mut dates = Vec::new();
    let mut uri = "/api/v1/activities?customer=Acme&from=2026-11-01&limit=2".to_owned();
    loop {
        let page = get(&app, &uri).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let page = page.json();
        dates.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|a| a["date"].as_str().expect("date").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                uri = format!(
                    "/api/v1/activities?customer=Acme&from=2026-11-01&limit=2&cursor={cursor}"
                )
            }
            None => break,
        }
    }
    assert_eq!(dates, ["2026-11-04", "2026-11-03", "2026-11-01"]);

    for (query, name) in [
        ("cursor=not-ours", "cursor"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=two", "limit"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
    ] {
        let reply = get(&app, &format!("/api/v1/activities?{query}")).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (StatusCode::BAD_REQUEST, "invalid_parameter"),
            "{query}"
        );
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .expect("message")
                .contains(&format!("`{name}`")),
            "{}",
            reply.text
        );
    }
}

#[tokio::test]
async fn summaries_total_hours_per_group() {
    let (app, _dir) = embedded_router();
    for (customer, date, hours) in [
        ("Acme", "2026-11-16", 2.0),
        ("Acme", "2026-11-23", 1.5),
        ("Globex", "2026-11-17", 4.0),
        ("Acme", "2026-12-01", 8.0),
    ] {
        post(&app, "/api/v1/activities", &activity(customer, date, hours)).await;
    }
    let summary = get(&app, "/api/v1/summary?group_by=customer&to=2026-11-30").await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.text);
    assert_eq!(
        summary.json(),
        json!({
            "group_by": "customer", "from": null, "to": "2026-11-30",
            "groups": [{"group": "Globex", "hours": 4.0, "count": 1}, {"group": "Acme", "hours": 3.5, "count": 2}],
            "total_hours": 7.5, "total_count": 3
        })
    );
    let weeks = get(&app, "/api/v1/summary?group_by=week").await.json();
    let groups: Vec<(&str, f64)> = weeks["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["group"].as_str().expect("group"),
                g["hours"].as_f64().expect("hours"),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [("2026-W47", 6.0), ("2026-W48", 1.5), ("2026-W49", 8.0)]
    );
    let engineers = get(&app, "/api/v1/summary?group_by=engineer").await.json();
    assert_eq!(
        engineers["groups"],
        json!([{"group": "ada", "hours": 15.5, "count": 4}])
    );
    let bad = get(&app, "/api/v1/summary?group_by=colour").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .expect("message")
            .contains("`group_by`")
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_a_json_413() {
    let (app, _dir) = embedded_router();
    let huge = json!({"blob": "x".repeat(2 * 1024 * 1024)}).to_string();
    for uri in ["/picus/put", "/api/v1/activities"] {
        let reply = post(&app, uri, &huge).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let (app, _dir) = embedded_router();
    let missing = get(&app, "/api/v2/nothing").await;
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let wrong = send(&app, Method::PATCH, "/api/v1/activities", None).await;
    assert_eq!(
        (wrong.status, wrong.error_code().as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let long_id = "x".repeat(5000);
    let long = get(&app, &format!("/api/v1/activities/{long_id}")).await;
    assert_eq!(long.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let (app, _dir) = embedded_router();
    let document = get(&app, "/openapi.json").await;
    assert_eq!(document.status, StatusCode::OK);
    let document = document.json();
    assert!(
        document["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.")
    );
    let paths = document["paths"].as_object().expect("paths");
    let mut described: Vec<String> = Vec::new();
    for (path, item) in paths {
        for method in item
            .as_object()
            .expect("path item")
            .keys()
            .filter(|k| *k != "parameters")
        {
            described.push(format!("{} {path}", method.to_uppercase()));
            // Every described route is a real one: it never answers "no route" or 405.
            let uri = path
                .replace("{id}", "0193a4c1-0000-7000-8000-000000000000")
                .replace("{key}", "0193a4c1-0000-7000-8000-000000000000");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = matches!(method, Method::POST | Method::PUT).then_some("{}");
            let reply = send(&app, method, &uri, body).await;
            assert_ne!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
            assert!(
                !reply.text.contains("no route for"),
                "{path}: {}",
                reply.text
            );
        }
    }
    described.sort();
    assert_eq!(
        described,
        [
            "DELETE /api/v1/activities/{id}",
            "DELETE /picus/{key}",
            "GET /api/v1/activities",
            "GET /api/v1/activities/{id}",
            "GET /api/v1/summary",
            "GET /picus/get/{key}",
            "GET /picus/list",
            "POST /api/v1/activities",
            "POST /picus/put",
            "PUT /api/v1/activities/{id}",
        ]
    );
    for schema in [
        "Activity",
        "ActivityFields",
        "ActivityPage",
        "ErrorBody",
        "Summary",
        "GroupTotal",
    ] {
        assert!(
            document["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let (app, _dir) = embedded_router();
    get(
        &app,
        "/api/v1/activities/0193a4c1-0000-7000-8000-000000000000",
    )
    .await;
    get(&app, "/healthz").await;
    let metrics = get(&app, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("application/openmetrics-text")
    );
    let text = metrics.text;
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/api/v1/activities/{id}",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let (store, _dir) = embedded();
    let settings = metrics_app::Settings {
        cors_origins: vec!["https://metrics.example.com".parse().expect("header")],
        ..Default::default()
    };
    let app = metrics_app::app(metrics_app::AppState::new(store, settings));
    for (origin, allowed) in [
        ("https://metrics.example.com", true),
        ("https://evil.example.com", false),
    ] {
        let request = axum::http::Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/activities")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(axum::body::Body::empty())
            .expect("request");
        let reply = common::reply(&app, request).await;
        let header = reply
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.to_str().expect("ascii").to_owned());
        assert_eq!(header, allowed.then(|| origin.to_owned()), "{origin}");
    }
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = || -> axum::Router {
        let store = metrics_app::store::EmbeddedStore::open(dir.path()).expect("open");
        router(std::sync::Arc::new(store))
    };
    let app = open();
    let id = post(
        &app,
        "/api/v1/activities",
        &activity("Acme", "2026-11-20", 2.0),
    )
    .await
    .json()["id"]
        .clone();
    let key = post(&app, "/picus/put", r#"{"Data": "Sample Data"}"#)
        .await
        .json()["id"]
        .clone();
    drop(app);
    let app = open();
    let read = get(
        &app,
        &format!("/api/v1/activities/{}", id.as_str().expect("id")),
    )
    .await;
    assert_eq!(
        (read.status, read.json()["customer"].clone()),
        (StatusCode::OK, Value::from("Acme"))
    );
    let item = get(&app, &format!("/picus/get/{}", key.as_str().expect("id"))).await;
    assert_eq!(item.json(), json!({"id": key, "Data": "Sample Data"}));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let (app, _dir) = embedded_router();
    let made = get(&app, "/healthz").await;
    let id = made.headers["x-request-id"].to_str().expect("ascii");
    let (prefix, counter) = id.split_once('-').expect("prefix-counter");
    assert_eq!((prefix.len(), counter.len()), (16, 8), "{id}");
    let next = get(&app, "/healthz").await;
    assert_ne!(next.headers["x-request-id"], id, "ids differ per request");
    let request = axum::http::Request::builder()
        .uri("/api/v1/nothing")
        .header("x-request-id", "client-chosen-42")
        .body(axum::body::Body::empty())
        .expect("request");
    let kept = common::reply(&app, request).await;
    assert_eq!(kept.headers["x-request-id"], "client-chosen-42");
}
