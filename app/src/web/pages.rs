//! The HTML pages: record an activity, list activities, and a summary with charts.
//! Server-rendered with maud; plain forms, so they work without JavaScript.

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::AppState;
use super::charts::{hours, hours_chart};
use super::params::{activity_query, limit};
use super::suggestions::Suggestions;
use super::views::{Page, csrf_field, error_page, layout};
use crate::activity::{Activity, ActivityForm, FieldErrors};
use crate::auth::Caller;
use crate::cursor;
use crate::error::Error;
use crate::store::ActivityQuery;
use crate::summary::{GroupBy, from_rollups};

const STYLE: &str = include_str!("style.css");

/// The pages and their stylesheet.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(form).post(record))
        .route("/activities", get(list))
        .route("/summary", get(summary))
        .route("/static/style.css", get(stylesheet))
}

pub async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
pub struct FormParams {
    recorded: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<FormParams>,
) -> Markup {
    let mut form = ActivityForm {
        date: Utc::now().date_naive().format("%Y-%m-%d").to_string(),
        ..ActivityForm::default()
    };
    caller.fill_engineer(&mut form.engineer);
    let offered = state.suggestions.get(state.store.as_ref()).await;
    record_page(
        &form,
        &FieldErrors::default(),
        params.recorded.is_some(),
        &offered,
    )
}

pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    form: Result<Form<ActivityForm>, FormRejection>,
) -> Response {
    let mut form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let error = Error::InvalidParameter {
                name: "form",
                message: rejection.body_text(),
            };
            return error_page(Page::Record, &error);
        }
    };
    caller.fill_engineer(&mut form.engineer);
    match form.validate() {
        Ok(fields) => {
            let activity = Activity::new(fields, Utc::now());
            match state.store.create_activity(&activity).await {
                // Post/redirect/get: a reload does not record the activity twice.
                Ok(()) => Redirect::to(&format!("/?recorded={}", activity.id)).into_response(),
                Err(error) => error_page(Page::Record, &error),
            }
        }
        Err(errors) => {
            let offered = state.suggestions.get(state.store.as_ref()).await;
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                record_page(&form, &errors, false, &offered),
            )
                .into_response()
        }
    }
}

/// The values already recorded for input `name`, for the browser to offer.
fn datalist(name: &str, values: &[String]) -> Markup {
    html! {
        datalist id={ (name) "-values" } {
            @for value in values { option value=(value) {} }
        }
    }
}

fn record_page(
    form: &ActivityForm,
    errors: &FieldErrors,
    recorded: bool,
    offered: &Suggestions,
) -> Markup {
    let field = |name: &str, label: &str, kind: &str, value: &str, extra: Markup| {
        let error = errors.get(name);
        let list =
            matches!(name, "customer" | "project" | "engineer").then(|| format!("{name}-values"));
        html! {
            div class=[error.map(|_| "invalid")] {
                label for=(name) { (label) }
                input id=(name) name=(name) type=(kind) value=(value) list=[list.as_deref()] autocomplete=[list.as_ref().map(|_| "off")]
                    aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| format!("{name}-error"))];
                (extra)
                @if let Some(error) = error {
                    p.field-error id={ (name) "-error" } { (label) " " (error) }
                }
            }
        }
    };
    let description_error = errors.get("description");
    layout(
        Page::Record,
        "Record an activity",
        html! {
            h1 { "Record an activity" }
            @if recorded {
                p.notice.ok role="status" { "Activity recorded. " a href="/activities" { "See all activities" } }
            }
            @if !errors.is_empty() {
                p.notice.error role="alert" { "Please correct the fields marked below." }
            }
            div.card {
                form.record method="post" action="/" novalidate {
                    (csrf_field())
                    (field("customer", "Customer", "text", &form.customer, datalist("customer", &offered.customers)))
                    (field("project", "Project", "text", &form.project, datalist("project", &offered.projects)))
                    (field("engineer", "Engineer", "text", &form.engineer, datalist("engineer", &offered.engineers)))
                    (field("date", "Date", "date", &form.date, html! {}))
                    (field("hours", "Hours", "text", &form.hours, html! {}))
                    div.wide class=[description_error.map(|_| "invalid")] {
                        label for="description" { "What was done" }
                        textarea id="description" name="description" maxlength="4000" { (form.description) }
                        @if let Some(error) = description_error {
                            p.field-error { "Description " (error) }
                        }
                    }
                    div.wide { button type="submit" { "Record activity" } }
                }
            }
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ListPageParams {
    customer: Option<String>,
    project: Option<String>,
    engineer: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

pub async fn list(State(state): State<AppState>, uri: Uri) -> Response {
    let params: ListPageParams = Query::try_from_uri(&uri)
        .map(|Query(p)| p)
        .unwrap_or_default();
    let result = async {
        let query = activity_query(
            params.customer.clone(),
            params.project.clone(),
            params.engineer.clone(),
            params.from.as_deref(),
            params.to.as_deref(),
        )?;
        let after = params
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(cursor::decode)
            .transpose()?;
        let page = state
            .store
            .list_activities(&query, limit(None)?, after.as_deref())
            .await?;
        Ok::<_, Error>((query, page))
    }
    .await;
    let filters = filter_form(&params);
    match result {
        Ok((query, page)) => {
            let next = page
                .next
                .as_deref()
                .map(|key| next_link(&query, &cursor::encode(key)));
            layout(Page::List, "Activities", html! {
                h1 { "Activities" }
                div.card {
                    (filters)
                    p.hint { a href=(csv_link(&query)) download="activities.csv" { "Download CSV" } " of every activity these filters match." }
                }
                @if page.activities.is_empty() {
                    p.empty { "No activities match. " a href="/" { "Record one" } }
                } @else {
                    table {
                        thead { tr {
                            th { "Date" } th { "Customer" } th { "Project" } th { "Engineer" }
                            th.number { "Hours" } th { "What was done" }
                        } }
                        tbody {
                            @for activity in &page.activities {
                                @let f = &activity.fields;
                                tr {
                                    td { (f.date.format("%Y-%m-%d")) }
                                    td { (f.customer) } td { (f.project) } td { (f.engineer) }
                                    td.number { (hours(f.hours)) }
                                    td.description { (f.description) }
                                }
                            }
                        }
                    }
                }
                div.pager {
                    @if params.cursor.is_some() { a.button.secondary href="/activities" { "← Newest" } } @else { span {} }
                    @if let Some(next) = next { a.button.secondary href=(next) { "Older →" } }
                }
            })
            .into_response()
        }
        Err(error) => {
            let status = error.status();
            if status.is_server_error() {
                return error_page(Page::List, &error);
            }
            let body = layout(
                Page::List,
                "Activities",
                html! {
                    h1 { "Activities" }
                    p.notice.error role="alert" { (error.body().error.message) }
                    div.card { (filters) }
                },
            );
            (status, body).into_response()
        }
    }
}

fn filter_form(params: &ListPageParams) -> Markup {
    let input = |name: &str, label: &str, kind: &str, value: &Option<String>| {
        html! {
            div {
                label for=(name) { (label) }
                input id=(name) name=(name) type=(kind) value=(value.as_deref().unwrap_or(""));
            }
        }
    };
    html! {
        form.filters method="get" action="/activities" {
            (input("customer", "Customer", "text", &params.customer))
            (input("project", "Project", "text", &params.project))
            (input("engineer", "Engineer", "text", &params.engineer))
            (input("from", "From", "date", &params.from))
            (input("to", "To", "date", &params.to))
            button type="submit" { "Filter" }
            a.button.secondary href="/activities" { "Clear" }
        }
    }
}

fn next_link(query: &ActivityQuery, cursor: &str) -> String {
    let mut pairs = filter_pairs(query);
    pairs.push(("cursor", cursor.to_owned()));
    format!("/activities?{}", encode_pairs(&pairs))
}

/// Every activity the list's filters match, as CSV from the API.
fn csv_link(query: &ActivityQuery) -> String {
    let mut pairs = filter_pairs(query);
    pairs.push(("format", "csv".to_owned()));
    format!("/api/v1/activities?{}", encode_pairs(&pairs))
}

fn encode_pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", url_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn filter_pairs(query: &ActivityQuery) -> Vec<(&'static str, String)> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("customer", &query.customer),
        ("project", &query.project),
        ("engineer", &query.engineer),
    ] {
        if let Some(value) = value {
            pairs.push((name, value.clone()));
        }
    }
    if let Some(from) = query.from {
        pairs.push(("from", from.format("%Y-%m-%d").to_string()));
    }
    if let Some(to) = query.to {
        pairs.push(("to", to.format("%Y-%m-%d").to_string()));
    }
    pairs
}

fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[derive(Debug, Default, Deserialize)]
pub struct SummaryPageParams {
    from: Option<String>,
    to: Option<String>,
}

pub async fn summary(State(state): State<AppState>, uri: Uri) -> Response {
    let params: SummaryPageParams = Query::try_from_uri(&uri)
        .map(|Query(p)| p)
        .unwrap_or_default();
    let result = async {
        let query = activity_query(
            None,
            None,
            None,
            params.from.as_deref(),
            params.to.as_deref(),
        )?;
        let store = state.store.as_ref();
        let by_customer = from_rollups(store, GroupBy::Customer, query.from, query.to).await?;
        let by_project = from_rollups(store, GroupBy::Project, query.from, query.to).await?;
        let by_week = from_rollups(store, GroupBy::Week, query.from, query.to).await?;
        Ok::<_, crate::Error>((by_customer, by_project, by_week))
    }
    .await;
    let (by_customer, by_project, by_week) = match result {
        Ok(summaries) => summaries,
        Err(error) => return error_page(Page::Summary, &error),
    };
    let total: f64 = by_customer.iter().map(|g| g.hours).sum();
    let count: u64 = by_customer.iter().map(|g| g.count).sum();
    let recent_weeks = &by_week[by_week.len().saturating_sub(super::charts::MAX_BARS)..];
    layout(Page::Summary, "Summary", html! {
        h1 { "Summary" }
        div.card {
            form.filters method="get" action="/summary" {
                div { label for="from" { "From" } input id="from" name="from" type="date" value=(params.from.as_deref().unwrap_or("")); }
                div { label for="to" { "To" } input id="to" name="to" type="date" value=(params.to.as_deref().unwrap_or("")); }
                button type="submit" { "Show" }
                a.button.secondary href="/summary" { "All time" }
            }
            p.hint { "Totals come from rollups. On DynamoDB they are kept from the table's stream and trail new records by about a second." }
        }
        div.card.totals {
            div { strong { (hours(total)) } "hours" }
            div { strong { (count) } "activities" }
            div { strong { (by_customer.len()) } "customers" }
            div { strong { (by_project.len()) } "projects" }
        }
        div.charts {
            div.card { h2 { "Hours per customer" } (hours_chart("Hours per customer", &by_customer)) }
            div.card { h2 { "Hours per project" } (hours_chart("Hours per project", &by_project)) }
            div.card { h2 { "Hours per week" } (hours_chart("Hours per week", recent_weeks)) }
        }
    })
    .into_response()
}
