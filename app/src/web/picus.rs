//! The original endpoints of the serverless app this service replaces, with the same
//! shapes, so existing clients keep working: `/picus/list`, `/picus/put`,
//! `/picus/get/{key}` and `DELETE /picus/{key}`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::AppState;
use super::api::known_id;
use super::extract::JsonBody;
use crate::error::{Error, ErrorBody, Result};
use crate::item::item_from_body;

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedItem {
    /// The new item's id.
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    #[schema(example = "Item deleted successfully")]
    pub message: &'static str,
}

fn with_id(id: String, item: Map<String, Value>) -> Value {
    let mut object = Map::with_capacity(item.len() + 1);
    object.insert("id".to_owned(), Value::String(id));
    object.extend(item);
    Value::Object(object)
}

/// Every stored item, each with its `id`.
#[utoipa::path(get, path = "/picus/list", tag = "picus",
    responses(
        (status = 200, description = "All items, oldest first", body = Vec<Object>,
            example = json!([{"id": "0193a4c1-7f0e-7c3a-9a51-3b0f6f2d9a10", "Data": "Sample Data"}])),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Value>>> {
    let items = state.store.list_items().await?;
    Ok(Json(
        items
            .into_iter()
            .map(|(id, item)| with_id(id, item))
            .collect(),
    ))
}

/// Store any JSON object as given; answers its new id.
#[utoipa::path(post, path = "/picus/put", tag = "picus",
    request_body(content = Object, example = json!({"Data": "Sample Data"})),
    responses(
        (status = 200, description = "Stored", body = CreatedItem),
        (status = 400, description = "Not a JSON object, or it sets a reserved attribute", body = ErrorBody),
        (status = 413, description = "Larger than 400 KB once stored", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn put(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<CreatedItem>> {
    let item = item_from_body(body)?;
    let id = uuid::Uuid::now_v7().to_string();
    state.store.put_item(&id, &item).await?;
    Ok(Json(CreatedItem { id }))
}

/// One stored item, with its `id`.
#[utoipa::path(get, path = "/picus/get/{key}", tag = "picus",
    params(("key" = String, Path, description = "The item's id")),
    responses(
        (status = 200, description = "The item as stored, with its id", body = Object),
        (status = 404, description = "No item has this id", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn get(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<Value>> {
    let id = known_id("item", &key)?;
    match state.store.get_item(id).await? {
        Some(item) => Ok(Json(with_id(id.to_owned(), item))),
        None => Err(Error::NotFound {
            kind: "item",
            id: id.to_owned(),
        }),
    }
}

/// Delete one item.
#[utoipa::path(delete, path = "/picus/{key}", tag = "picus",
    params(("key" = String, Path, description = "The item's id")),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 404, description = "No item has this id", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Deleted>> {
    let id = known_id("item", &key)?;
    if state.store.delete_item(id).await? {
        Ok(Json(Deleted {
            message: "Item deleted successfully",
        }))
    } else {
        Err(Error::NotFound {
            kind: "item",
            id: id.to_owned(),
        })
    }
}
