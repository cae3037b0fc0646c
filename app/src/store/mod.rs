//! Storage behind one trait, with two backends: [`DynamoDbStore`] (production, when a
//! table is configured) and [`EmbeddedStore`] (a file on disk, the default). Both keep
//! activities ordered by `<date>#<id>` (newest first) and `/picus` items by id, so a
//! cursor means the same thing on either.

mod attributes;
mod dynamodb;
mod embedded;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use serde_json::{Map, Value};

pub use attributes::{attribute_to_json, json_to_attribute};
pub use dynamodb::DynamoDbStore;
pub use embedded::EmbeddedStore;

use crate::activity::{Activity, ActivityFields};
use crate::error::Result;
use metrics_app_rollup::{Dimension, Facts, Span, Totals, micro_hours};

/// Most entries one list request reads from a store before it answers with what it
/// found and a cursor, so a text filter that matches little never reads a whole
/// collection in one request.
pub const MAX_READ_PER_PAGE: usize = 5_000;

/// Most `/picus` items read from a store at once while streaming a list.
pub const ITEM_PAGE: usize = 500;

/// What the rollups count of an activity.
pub fn facts(fields: &ActivityFields) -> Facts {
    Facts {
        customer: fields.customer.clone(),
        project: fields.project.clone(),
        engineer: fields.engineer.clone(),
        date: fields.date,
        micro_hours: micro_hours(fields.hours),
    }
}

/// One rollup cell as read: its period, its dimension's value, its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupCell {
    pub period: String,
    pub value: String,
    pub totals: Totals,
}

/// One page of `/picus` items, oldest first; `next` is the id to continue after.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemPage {
    pub items: Vec<(String, Item)>,
    pub next: Option<String>,
}

/// A `/picus` item as the client gave it (without its id).
pub type Item = Map<String, Value>;

/// Which activities to list. Text filters match exactly; days are inclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityQuery {
    pub customer: Option<String>,
    pub project: Option<String>,
    pub engineer: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl ActivityQuery {
    pub fn matches(&self, activity: &Activity) -> bool {
        let fields = &activity.fields;
        let same =
            |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| w == value);
        same(&self.customer, &fields.customer)
            && same(&self.project, &fields.project)
            && same(&self.engineer, &fields.engineer)
            && self.from.is_none_or(|from| fields.date >= from)
            && self.to.is_none_or(|to| fields.date <= to)
    }
}

/// One page of activities; `next` is the sort key to continue after when more may
/// follow. A page may hold fewer than asked (even none) and still have a `next`: the
/// store stopped after reading [`MAX_READ_PER_PAGE`] entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub activities: Vec<Activity>,
    pub next: Option<String>,
}

/// What the app needs from a store. Every write either is stored or returns an error.
pub trait Store: Send + Sync {
    /// Stores a new activity.
    fn create_activity<'a>(&'a self, activity: &'a Activity) -> BoxFuture<'a, Result<()>>;
    fn get_activity<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Activity>>>;
    /// An activity as the API answers it (JSON), ready to send. The default encodes
    /// [`Store::get_activity`]; a store that keeps activities as that JSON hands its
    /// bytes over without decoding and encoding them again (the cheapest read there is).
    fn get_activity_json<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            self.get_activity(id)
                .await?
                .map(|activity| {
                    serde_json::to_vec(&activity).map_err(|e| crate::Error::Store(e.into()))
                })
                .transpose()
        })
    }
    /// Replaces an activity's fields; `None` when there is no such activity.
    fn replace_activity<'a>(
        &'a self,
        id: &'a str,
        fields: &'a ActivityFields,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<Activity>>>;
    /// Deletes an activity; `false` when there was none.
    fn delete_activity<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// Up to `limit` matching activities, newest first, strictly after sort key `after`;
    /// reads at most [`MAX_READ_PER_PAGE`] entries.
    fn list_activities<'a>(
        &'a self,
        query: &'a ActivityQuery,
        limit: usize,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page>>;

    fn put_item<'a>(&'a self, id: &'a str, item: &'a Item) -> BoxFuture<'a, Result<()>>;
    fn get_item<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Item>>>;
    /// An item as a JSON object (without its id); like [`Store::get_activity_json`].
    fn get_item_json<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            self.get_item(id)
                .await?
                .map(|item| serde_json::to_vec(&item).map_err(|e| crate::Error::Store(e.into())))
                .transpose()
        })
    }
    /// Up to `limit` items with their ids, oldest first, strictly after id `after`.
    fn list_items<'a>(
        &'a self,
        limit: usize,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ItemPage>>;

    /// The rollup cells of `dimension` in `span` (cells that total zero may be left out).
    /// On DynamoDB they trail writes by the stream's delay.
    fn rollups<'a>(
        &'a self,
        dimension: Dimension,
        span: &'a Span,
    ) -> BoxFuture<'a, Result<Vec<RollupCell>>>;
    /// Deletes an item; `false` when there was none.
    fn delete_item<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// Touches the store, for readiness: `Ok` when it answers.
    fn check(&self) -> BoxFuture<'_, Result<()>>;
}

pub type SharedStore = Arc<dyn Store>;

/// Every activity matching `query`, following pages to the end. O(activities): for
/// tests and tools, never for a request.
pub async fn all_activities(store: &dyn Store, query: &ActivityQuery) -> Result<Vec<Activity>> {
    const PAGE: usize = 1_000;
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_activities(query, PAGE, after.as_deref()).await?;
        all.extend(page.activities);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}
