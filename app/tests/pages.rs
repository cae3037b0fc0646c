//! The HTML pages: the form keeps what was typed and names errors; the list and summary
//! show what was recorded, the summary as SVG bar charts.

mod common;

use axum::http::{StatusCode, header};
use common::{embedded_router, get, post};

async fn submit(app: &axum::Router, form: &str) -> common::Reply {
    common::submit_form(app, "/", form, &[]).await
}

#[tokio::test]
async fn the_form_records_an_activity_and_redirects() {
    let (app, _dir) = embedded_router();
    let page = get(&app, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    for name in [
        "customer",
        "project",
        "engineer",
        "date",
        "hours",
        "description",
    ] {
        assert!(
            page.text.contains(&format!("name=\"{name}\"")),
            "form lacks {name}"
        );
    }
    let done = submit(&app, "customer=Acme+Corp&project=Data&engineer=ada&date=2026-11-20&hours=1.5&description=Export+%26+import").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let location = done.headers[header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with("/?recorded="), "{location}");
    assert!(
        get(&app, &location)
            .await
            .text
            .contains("Activity recorded")
    );
    let list = get(&app, "/activities").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.text.contains("Acme Corp") && list.text.contains("Export &amp; import"),
        "{}",
        list.text
    );
}

#[tokio::test]
async fn a_bad_form_keeps_the_values_and_names_the_errors() {
    let (app, _dir) = embedded_router();
    let page = submit(&app, "customer=Acme+%3Cb%3E&project=&engineer=ada&date=2026-02-30&hours=lots&description=Kept+text").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text;
    assert!(
        html.contains(r#"value="Acme &lt;b&gt;""#),
        "customer kept and escaped: {html}"
    );
    assert!(
        html.contains(r#"value="lots""#)
            && html.contains(r#"value="2026-02-30""#)
            && html.contains(">Kept text</textarea>"),
        "{html}"
    );
    assert!(html.contains("Project is required"), "{html}");
    assert!(html.contains("Hours must be a number, like 1.5"), "{html}");
    assert!(
        html.contains("Date &quot;2026-02-30&quot; is not a real day"),
        "{html}"
    );
    assert!(
        !html.contains("Customer is"),
        "a valid field shows no error"
    );
    assert!(
        get(&app, "/api/v1/activities").await.json()["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
}

#[tokio::test]
async fn the_list_filters_and_pages() {
    let (app, _dir) = embedded_router();
    for day in 1..=55 {
        let body = format!(
            r#"{{"customer": "Acme", "project": "Data", "engineer": "ada", "date": "2026-10-{:02}", "hours": 1}}"#,
            day % 28 + 1
        );
        assert_eq!(
            post(&app, "/api/v1/activities", &body).await.status,
            StatusCode::CREATED
        );
    }
    let first = get(&app, "/activities?customer=Acme").await;
    assert_eq!(
        first.text.matches("<tr>").count(),
        51,
        "50 rows and a header"
    );
    let next = first
        .text
        .split("href=\"/activities?customer=Acme&amp;cursor=")
        .nth(1)
        .expect("an Older link");
    let cursor = &next[..next.find('"').expect("end of link")];
    let second = get(&app, &format!("/activities?customer=Acme&cursor={cursor}")).await;
    assert_eq!(second.text.matches("<tr>").count(), 6);
    let none = get(&app, "/activities?customer=Globex").await;
    assert!(none.text.contains("No activities match"));
    let bad = get(&app, "/activities?from=someday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("invalid `from`"), "{}", bad.text);
}

#[tokio::test]
async fn the_summary_draws_hours_as_bars() {
    let (app, _dir) = embedded_router();
    for (customer, project, hours) in [
        ("Acme", "Data", 6.0),
        ("Acme", "Web", 2.0),
        ("Globex", "Data", 3.0),
    ] {
        let body = format!(
            r#"{{"customer": "{customer}", "project": "{project}", "engineer": "ada", "date": "2026-11-20", "hours": {hours}}}"#
        );
        post(&app, "/api/v1/activities", &body).await;
    }
    let page = get(&app, "/summary").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text;
    assert_eq!(
        html.matches("<svg").count(),
        3,
        "customer, project and week charts"
    );
    assert!(
        html.contains(">Acme</text>") && html.contains(">8 h</text>"),
        "{html}"
    );
    assert!(
        html.contains(">2026-W47</text>") && html.contains(">11 h</text>"),
        "{html}"
    );
    let empty = get(&app, "/summary?from=2027-01-01").await;
    assert!(empty.text.contains("No activities in this period"));
}

#[tokio::test]
async fn the_stylesheet_is_served_from_the_binary() {
    let (app, _dir) = embedded_router();
    let css = get(&app, "/static/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("text/css")
    );
    assert!(css.text.contains("figure.chart"));
}
