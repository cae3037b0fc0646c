//! The original endpoints of the serverless app this service replaces, with the same
//! shapes, so existing clients keep working: `/picus/list`, `/picus/put`,
//! `/picus/get/{key}` and `DELETE /picus/{key}`.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::JsonBody;
use super::respond::{json_response, known_id};
use crate::error::{Error, ErrorBody, Result};
use crate::item::item_from_body;
use crate::store::{ITEM_PAGE, ItemPage, SharedStore};

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

/// The stored object with `"id"` written first, without parsing it: ids are UUIDs the
/// app made (no character needs escaping) and an item is never stored with an `id`.
fn with_id_spliced(id: &str, item: &[u8]) -> Vec<u8> {
    let mut json = Vec::with_capacity(item.len() + id.len() + 9);
    json.extend_from_slice(b"{\"id\":");
    json.extend_from_slice(&serde_json::to_vec(id).unwrap_or_default());
    match item.strip_prefix(b"{") {
        Some(rest) if rest.first() != Some(&b'}') => {
            json.push(b',');
            json.extend_from_slice(rest);
        }
        _ => json.push(b'}'),
    }
    json
}

/// The original endpoints, with the same shapes, described in the OpenAPI document.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(put))
        .routes(routes!(get))
        .routes(routes!(delete))
}

/// Every stored item, each with its `id`.
#[utoipa::path(get, path = "/picus/list", tag = "picus",
    responses(
        (status = 200, description = "All items, oldest first", body = Vec<Object>,
            example = json!([{"id": "0193a4c1-7f0e-7c3a-9a51-3b0f6f2d9a10", "Data": "Sample Data"}])),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Response> {
    // The first page is read before answering, so an unavailable store is still a 503;
    // later pages stream, so memory stays one page whatever the number of items.
    let first = state.store.list_items(ITEM_PAGE, None).await?;
    let pages = futures::stream::unfold(
        Listing::Page {
            store: state.store.clone(),
            page: first,
            started: false,
        },
        next_chunks,
    );
    let chunks = pages.flat_map(|page| {
        futures::stream::iter(match page {
            Ok(chunks) => chunks.into_iter().map(Ok).collect(),
            Err(error) => vec![Err(error)],
        })
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// Where a streamed `/picus/list` is.
enum Listing {
    /// `page` is read and not yet written; `started` once an item was written.
    Page {
        store: SharedStore,
        page: ItemPage,
        started: bool,
    },
    /// The closing `]` is written, or the store failed mid-list.
    Done,
}

/// A `/picus/list` body chunk is cut once it holds this many bytes. Chunks stay well
/// under glibc's mmap threshold (128 KiB): a page written as one buffer of a megabyte
/// or more is placed among redb's cached pages once glibc raises its threshold, and the
/// heap then grows with every page listed instead of staying at the cache's size.
pub(crate) const LIST_CHUNK_BYTES: usize = 32 * 1024;

/// The body chunks of one page, each about [`LIST_CHUNK_BYTES`] (more only for an item
/// larger than that), and where the listing is next.
async fn next_chunks(listing: Listing) -> Option<(std::io::Result<Vec<Bytes>>, Listing)> {
    let (store, page, mut started) = match listing {
        Listing::Page {
            store,
            page,
            started,
        } => (store, page, started),
        Listing::Done => return None,
    };
    let new_chunk = || Vec::with_capacity(2 * LIST_CHUNK_BYTES);
    let mut chunks = Vec::new();
    let mut chunk = new_chunk();
    if !started {
        chunk.push(b'[');
    }
    for (id, item) in page.items {
        if chunk.len() >= LIST_CHUNK_BYTES {
            chunks.push(Bytes::from(std::mem::replace(&mut chunk, new_chunk())));
        }
        if started {
            chunk.push(b',');
        }
        started = true;
        if let Err(error) = serde_json::to_writer(&mut chunk, &with_id(id, item)) {
            return Some((Err(std::io::Error::other(error)), Listing::Done));
        }
    }
    let Some(after) = page.next else {
        chunk.push(b']');
        chunks.push(Bytes::from(chunk));
        return Some((Ok(chunks), Listing::Done));
    };
    if !chunk.is_empty() {
        chunks.push(Bytes::from(chunk));
    }
    match store.list_items(ITEM_PAGE, Some(&after)).await {
        Ok(page) => Some((
            Ok(chunks),
            Listing::Page {
                store,
                page,
                started,
            },
        )),
        Err(error) => {
            // The status is sent already: cutting the body short is how the client
            // learns the list is incomplete (its JSON does not parse).
            tracing::error!(error = %crate::error::report(&error), after, "/picus/list stopped: the store failed");
            Some((Err(std::io::Error::other(error.to_string())), Listing::Done))
        }
    }
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
pub async fn get(State(state): State<AppState>, Path(key): Path<String>) -> Result<Response> {
    let id = known_id("item", &key)?;
    match state.store.get_item_json(id).await? {
        Some(item) => Ok(json_response(with_id_spliced(id, &item))),
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
