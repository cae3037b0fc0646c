//! The JSON API under `/api/v1`, described by the OpenAPI document at `/openapi.json`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::{ACCEPT, LOCATION};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{JsonBody, QueryParams};
use super::params::{activity_query, limit};
use super::respond::{json_response, known_id};
use crate::activity::{Activity, ActivityFields};
use crate::auth::Caller;
use crate::cursor;
use crate::error::{Error, ErrorBody, Result};
use crate::store::ActivityQuery;
use crate::summary::{GroupBy, GroupTotal, from_rollups};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this customer (exact match).
    pub customer: Option<String>,
    /// Only this project (exact match).
    pub project: Option<String>,
    /// Only this engineer (exact match).
    pub engineer: Option<String>,
    /// First day to include (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Last day to include (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Most activities to return: 1 to 500, default 50.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `csv`: every matching activity (from `cursor` on; `limit` does not apply) as a CSV
    /// download, the same as `Accept: text/csv`. `json` or empty: one page as JSON.
    pub format: Option<String>,
}

/// One page of activities, newest day first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActivityPage {
    pub items: Vec<Activity>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// `customer` (default), `project`, `engineer` or `week`.
    pub group_by: Option<String>,
    /// First day to include (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Last day to include (`YYYY-MM-DD`).
    pub to: Option<String>,
}

/// Total hours and number of activities per group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub group_by: GroupBy,
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    pub groups: Vec<GroupTotal>,
    pub total_hours: f64,
    pub total_count: u64,
}

/// The JSON API's routes, described in the OpenAPI document.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_activities, create_activity))
        .routes(routes!(get_activity, replace_activity, delete_activity))
        .routes(routes!(summary))
}

/// Only its engineer or an admin may edit or delete an activity; an unknown id is left
/// to the handler's 404. The store is read only when the rule depends on the owner.
async fn may_change(state: &AppState, caller: &Caller, id: &str) -> Result<()> {
    if !caller.checks_owner() {
        return Ok(());
    }
    let stored = state.store.get_activity(id).await?;
    caller.may_change(stored.as_ref().map(|a| a.fields.engineer.as_str()))
}

/// List activities, newest day first, with filters and cursor pagination.
#[utoipa::path(get, path = "/api/v1/activities", tag = "activities", params(ListParams),
    responses(
        (status = 200, description = "One page of activities; with `format=csv` or `Accept: text/csv`, every matching activity as RFC 4180 CSV with a header row (id, date, customer, project, engineer, hours, description, created_at, updated_at), text cells starting with `=`, `+`, `-`, `@`, tab or CR prefixed with `'`",
            content(
                (ActivityPage = "application/json"),
                (String = "text/csv"),
            )),
        (status = 400, description = "A parameter is invalid; the message names it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn list_activities(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Response> {
    let csv = match params.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        None | Some("") => headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.contains("text/csv")),
        Some(other) => {
            return Err(Error::InvalidParameter {
                name: "format",
                message: format!("must be json or csv, not {other:?}"),
            });
        }
    };
    let query = activity_query(
        params.customer,
        params.project,
        params.engineer,
        params.from.as_deref(),
        params.to.as_deref(),
    )?;
    let limit = limit(params.limit.as_deref())?;
    let after = params.cursor.as_deref().map(cursor::decode).transpose()?;
    if csv {
        return super::export::csv_response(state.store.clone(), query, after).await;
    }
    let page = state
        .store
        .list_activities(&query, limit, after.as_deref())
        .await?;
    Ok(Json(ActivityPage {
        items: page.activities,
        next_cursor: page.next.as_deref().map(cursor::encode),
    })
    .into_response())
}

/// Record an activity.
#[utoipa::path(post, path = "/api/v1/activities", tag = "activities", request_body = ActivityFields,
    responses(
        (status = 201, description = "The stored activity", body = Activity,
            headers(("Location" = String, description = "URL of the new activity"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 422, description = "A field is invalid; `fields` names each one", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn create_activity(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response> {
    let fields = ActivityFields::from_json(&body).map_err(Error::Validation)?;
    caller.may_act_for(&fields.engineer)?;
    let activity = Activity::new(fields, Utc::now());
    state.store.create_activity(&activity).await?;
    let location = format!("/api/v1/activities/{}", activity.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(activity)).into_response())
}

/// Read one activity.
#[utoipa::path(get, path = "/api/v1/activities/{id}", tag = "activities",
    params(("id" = String, Path, description = "The activity's id")),
    responses(
        (status = 200, description = "The activity", body = Activity),
        (status = 404, description = "No activity has this id", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn get_activity(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = known_id("activity", &id)?;
    match state.store.get_activity_json(id).await? {
        Some(json) => Ok(json_response(json)),
        None => Err(Error::NotFound {
            kind: "activity",
            id: id.to_owned(),
        }),
    }
}

/// Replace an activity's fields (its id and creation time stay).
#[utoipa::path(put, path = "/api/v1/activities/{id}", tag = "activities", request_body = ActivityFields,
    params(("id" = String, Path, description = "The activity's id")),
    responses(
        (status = 200, description = "The stored activity", body = Activity),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No activity has this id", body = ErrorBody),
        (status = 422, description = "A field is invalid; `fields` names each one", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn replace_activity(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Json<Activity>> {
    let id = known_id("activity", &id)?;
    let fields = ActivityFields::from_json(&body).map_err(Error::Validation)?;
    may_change(&state, &caller, id).await?;
    caller.may_act_for(&fields.engineer)?;
    match state
        .store
        .replace_activity(id, &fields, Utc::now())
        .await?
    {
        Some(activity) => Ok(Json(activity)),
        None => Err(Error::NotFound {
            kind: "activity",
            id: id.to_owned(),
        }),
    }
}

/// Delete an activity.
#[utoipa::path(delete, path = "/api/v1/activities/{id}", tag = "activities",
    params(("id" = String, Path, description = "The activity's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No activity has this id", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn delete_activity(
    State(state): State<AppState>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<StatusCode> {
    let id = known_id("activity", &id)?;
    may_change(&state, &caller, id).await?;
    if state.store.delete_activity(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound {
            kind: "activity",
            id: id.to_owned(),
        })
    }
}

/// Total hours and counts per customer, project, engineer or ISO week.
///
/// Read from rollups, so it answers in milliseconds at any number of activities. On
/// DynamoDB the rollups are kept by a function reading the table's stream and trail
/// writes by about a second: an activity just recorded may not be counted yet.
#[utoipa::path(get, path = "/api/v1/summary", tag = "activities", params(SummaryParams),
    responses(
        (status = 200, description = "Totals per group", body = Summary),
        (status = 400, description = "A parameter is invalid; the message names it", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn summary(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<SummaryParams>,
) -> Result<Json<Summary>> {
    let group_by = match params.group_by.as_deref() {
        None | Some("") => GroupBy::Customer,
        Some(text) => GroupBy::parse(text).ok_or_else(|| Error::InvalidParameter {
            name: "group_by",
            message: format!("must be customer, project, engineer or week, not {text:?}"),
        })?,
    };
    let query = activity_query(
        None,
        None,
        None,
        params.from.as_deref(),
        params.to.as_deref(),
    )?;
    let groups = from_rollups(state.store.as_ref(), group_by, query.from, query.to).await?;
    Ok(Json(summary_of(groups, group_by, &query)))
}

pub(crate) fn summary_of(
    groups: Vec<GroupTotal>,
    group_by: GroupBy,
    query: &ActivityQuery,
) -> Summary {
    let total_hours = (groups.iter().map(|g| g.hours).sum::<f64>() * 100.0).round() / 100.0;
    Summary {
        group_by,
        from: query.from,
        to: query.to,
        total_count: groups.iter().map(|g| g.count).sum(),
        total_hours,
        groups,
    }
}
