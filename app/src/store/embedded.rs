//! The embedded store: one redb file in the data directory. Every write commits with
//! immediate durability before the app answers, so data survives a crash or restart.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{ActivityQuery, Item, Page, Store};
use crate::activity::{Activity, ActivityFields};
use crate::error::{Error, Result};

/// Activities by id, as JSON.
const ACTIVITIES: TableDefinition<&str, &[u8]> = TableDefinition::new("activities");
/// Activity order: `<date>#<id>` sort keys, the value is the id.
const ACTIVITY_ORDER: TableDefinition<&str, &str> = TableDefinition::new("activity_order");
/// `/picus` items by id, as JSON objects.
const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("picus_items");

/// File name of the store inside the data directory.
pub const FILE_NAME: &str = "metrics-app.redb";

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `data_dir`, creating the directory if needed.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(FILE_NAME);
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::OpenEmbedded {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| failed(e.into()))?;
        let db = Database::create(&path).map_err(|e| failed(e.into()))?;
        let txn = db.begin_write().map_err(|e| failed(e.into()))?;
        for table in [ACTIVITIES, ITEMS] {
            txn.open_table(table).map_err(|e| failed(e.into()))?;
        }
        txn.open_table(ACTIVITY_ORDER)
            .map_err(|e| failed(e.into()))?;
        txn.commit().map_err(|e| failed(e.into()))?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Runs a read in place. Reads come from redb's page cache in microseconds, less
    /// than handing them to a blocking thread would cost.
    fn read<T, F>(&self, work: F) -> BoxFuture<'static, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    {
        let result = work(&self.db).map_err(|e| Error::Store(e.into()));
        Box::pin(std::future::ready(result))
    }

    /// Runs blocking redb work off the async runtime.
    fn run<T, F>(&self, work: F) -> BoxFuture<'static, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    {
        let db = self.db.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || work(&db))
                .await
                .map_err(|e| Error::Store(e.into()))?
                .map_err(|e| Error::Store(e.into()))
        })
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, redb::Error> {
    serde_json::from_slice(bytes).map_err(|e| redb::Error::Corrupted(format!("stored record: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, redb::Error> {
    serde_json::to_vec(value).map_err(|e| redb::Error::Corrupted(format!("record to store: {e}")))
}

impl Store for EmbeddedStore {
    fn create_activity<'a>(&'a self, activity: &'a Activity) -> BoxFuture<'a, Result<()>> {
        let activity = activity.clone();
        self.run(move |db| {
            let txn = db.begin_write()?;
            {
                let mut activities = txn.open_table(ACTIVITIES)?;
                activities.insert(activity.id.as_str(), encode(&activity)?.as_slice())?;
                let mut order = txn.open_table(ACTIVITY_ORDER)?;
                order.insert(activity.sort_key().as_str(), activity.id.as_str())?;
            }
            txn.commit()?;
            Ok(())
        })
    }

    fn get_activity<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Activity>>> {
        let id = id.to_owned();
        self.read(move |db| {
            let txn = db.begin_read()?;
            let activities = txn.open_table(ACTIVITIES)?;
            activities
                .get(id.as_str())?
                .map(|bytes| decode(bytes.value()))
                .transpose()
        })
    }

    fn replace_activity<'a>(
        &'a self,
        id: &'a str,
        fields: &'a ActivityFields,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<Activity>>> {
        let (id, fields) = (id.to_owned(), fields.clone());
        self.run(move |db| {
            let txn = db.begin_write()?;
            let replaced = {
                let mut activities = txn.open_table(ACTIVITIES)?;
                let old: Option<Activity> = activities
                    .get(id.as_str())?
                    .map(|bytes| decode(bytes.value()))
                    .transpose()?;
                let Some(old) = old else { return Ok(None) };
                let new = Activity {
                    fields,
                    updated_at: now,
                    ..old.clone()
                };
                activities.insert(id.as_str(), encode(&new)?.as_slice())?;
                let mut order = txn.open_table(ACTIVITY_ORDER)?;
                order.remove(old.sort_key().as_str())?;
                order.insert(new.sort_key().as_str(), id.as_str())?;
                new
            };
            txn.commit()?;
            Ok(Some(replaced))
        })
    }

    fn delete_activity<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>> {
        let id = id.to_owned();
        self.run(move |db| {
            let txn = db.begin_write()?;
            {
                let mut activities = txn.open_table(ACTIVITIES)?;
                let old: Option<Activity> = activities
                    .remove(id.as_str())?
                    .map(|bytes| decode(bytes.value()))
                    .transpose()?;
                let Some(old) = old else { return Ok(false) };
                txn.open_table(ACTIVITY_ORDER)?
                    .remove(old.sort_key().as_str())?;
            }
            txn.commit()?;
            Ok(true)
        })
    }

    fn list_activities<'a>(
        &'a self,
        query: &'a ActivityQuery,
        limit: usize,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page>> {
        let query = query.clone();
        let after = after.map(str::to_owned);
        self.run(move |db| {
            let lower = query.from.map(|from| from.format("%Y-%m-%d").to_string());
            // `~` sorts after every character of an id, so `<to>#~` ends day `to`.
            let to_end = query.to.map(|to| format!("{}#~", to.format("%Y-%m-%d")));
            let upper = match (to_end, after) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let (Some(lower), Some(upper)) = (&lower, &upper)
                && lower >= upper
            {
                return Ok(Page {
                    activities: Vec::new(),
                    next: None,
                });
            }
            let range = (
                lower.as_deref().map_or(Bound::Unbounded, Bound::Included),
                upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
            );
            let txn = db.begin_read()?;
            let order = txn.open_table(ACTIVITY_ORDER)?;
            let activities = txn.open_table(ACTIVITIES)?;
            let mut found = Vec::new();
            let mut more = false;
            for entry in order.range::<&str>(range)?.rev() {
                let (_, id) = entry?;
                let Some(bytes) = activities.get(id.value())? else {
                    continue;
                };
                let activity: Activity = decode(bytes.value())?;
                if !query.matches(&activity) {
                    continue;
                }
                if found.len() == limit {
                    more = true;
                    break;
                }
                found.push(activity);
            }
            let next = if more {
                found.last().map(Activity::sort_key)
            } else {
                None
            };
            Ok(Page {
                activities: found,
                next,
            })
        })
    }

    fn put_item<'a>(&'a self, id: &'a str, item: &'a Item) -> BoxFuture<'a, Result<()>> {
        let (id, item) = (id.to_owned(), item.clone());
        self.run(move |db| {
            let txn = db.begin_write()?;
            txn.open_table(ITEMS)?
                .insert(id.as_str(), encode(&item)?.as_slice())?;
            txn.commit()?;
            Ok(())
        })
    }

    fn get_item<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Item>>> {
        let id = id.to_owned();
        self.read(move |db| {
            let txn = db.begin_read()?;
            let items = txn.open_table(ITEMS)?;
            items
                .get(id.as_str())?
                .map(|bytes| decode(bytes.value()))
                .transpose()
        })
    }

    fn list_items(&self) -> BoxFuture<'_, Result<Vec<(String, Item)>>> {
        self.run(|db| {
            let txn = db.begin_read()?;
            let items = txn.open_table(ITEMS)?;
            let mut all = Vec::new();
            for entry in items.iter()? {
                let (id, bytes) = entry?;
                all.push((id.value().to_owned(), decode(bytes.value())?));
            }
            Ok(all)
        })
    }

    fn delete_item<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>> {
        let id = id.to_owned();
        self.run(move |db| {
            let txn = db.begin_write()?;
            let existed = txn.open_table(ITEMS)?.remove(id.as_str())?.is_some();
            txn.commit()?;
            Ok(existed)
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<()>> {
        self.run(|db| {
            let txn = db.begin_read()?;
            txn.open_table(ITEMS)?;
            Ok(())
        })
    }
}
