//! The embedded store: one redb file in the data directory. Every write commits with
//! immediate durability before the app answers, so data survives a crash or restart.
//!
//! Writes go through one writer thread that commits whatever writes are waiting in one
//! transaction (group commit): a disk sync costs the same for one write or a hundred, so
//! concurrent writers share it instead of queueing for their own.

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;

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

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: Arc<Writer>,
}

/// A write waiting for the writer thread.
enum Write {
    CreateActivity(Activity),
    ReplaceActivity {
        id: String,
        fields: ActivityFields,
        now: DateTime<Utc>,
    },
    DeleteActivity(String),
    PutItem(String, Item),
    DeleteItem(String),
}

/// What a write found: `Replaced(None)` and `Deleted(false)` mean there was nothing.
enum Written {
    Stored,
    Replaced(Option<Activity>),
    Deleted(bool),
}

type Reply = oneshot::Sender<Result<Written>>;

/// The writer thread and the queue to it. Dropping it closes the queue and waits for
/// the thread, so the file is closed when the last handle to the store goes.
struct Writer {
    queue: Mutex<Option<mpsc::Sender<(Write, Reply)>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

fn write_loop(db: &Database, queue: &mpsc::Receiver<(Write, Reply)>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        match commit(db, &batch) {
            Ok(results) => {
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(error) => {
                // Nothing in the batch was stored: every writer hears so.
                let message = error.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(Error::Store(message.clone().into())));
                }
            }
        }
    }
}

fn commit(db: &Database, batch: &[(Write, Reply)]) -> Result<Vec<Written>, redb::Error> {
    let txn = db.begin_write()?;
    let mut results = Vec::with_capacity(batch.len());
    for (write, _) in batch {
        results.push(apply(&txn, write)?);
    }
    txn.commit()?;
    Ok(results)
}

fn apply(txn: &WriteTransaction, write: &Write) -> Result<Written, redb::Error> {
    match write {
        Write::CreateActivity(activity) => {
            let mut activities = txn.open_table(ACTIVITIES)?;
            activities.insert(activity.id.as_str(), encode(activity)?.as_slice())?;
            let mut order = txn.open_table(ACTIVITY_ORDER)?;
            order.insert(activity.sort_key().as_str(), activity.id.as_str())?;
            Ok(Written::Stored)
        }
        Write::ReplaceActivity { id, fields, now } => {
            let mut activities = txn.open_table(ACTIVITIES)?;
            let old: Option<Activity> = activities
                .get(id.as_str())?
                .map(|bytes| decode(bytes.value()))
                .transpose()?;
            let Some(old) = old else {
                return Ok(Written::Replaced(None));
            };
            let new = Activity {
                fields: fields.clone(),
                updated_at: *now,
                ..old.clone()
            };
            activities.insert(id.as_str(), encode(&new)?.as_slice())?;
            let mut order = txn.open_table(ACTIVITY_ORDER)?;
            order.remove(old.sort_key().as_str())?;
            order.insert(new.sort_key().as_str(), id.as_str())?;
            Ok(Written::Replaced(Some(new)))
        }
        Write::DeleteActivity(id) => {
            let mut activities = txn.open_table(ACTIVITIES)?;
            let old: Option<Activity> = activities
                .get(id.as_str())?
                .map(|bytes| decode(bytes.value()))
                .transpose()?;
            let Some(old) = old else {
                return Ok(Written::Deleted(false));
            };
            activities.remove(id.as_str())?;
            txn.open_table(ACTIVITY_ORDER)?
                .remove(old.sort_key().as_str())?;
            Ok(Written::Deleted(true))
        }
        Write::PutItem(id, item) => {
            txn.open_table(ITEMS)?
                .insert(id.as_str(), encode(item)?.as_slice())?;
            Ok(Written::Stored)
        }
        Write::DeleteItem(id) => {
            let existed = txn.open_table(ITEMS)?.remove(id.as_str())?.is_some();
            Ok(Written::Deleted(existed))
        }
    }
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
        let db = Arc::new(db);
        let (queue, writes) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("embedded-store-writer".to_owned())
            .spawn({
                let db = db.clone();
                move || write_loop(&db, &writes)
            })
            .map_err(|e| failed(e.into()))?;
        let writer = Writer {
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        };
        Ok(Self {
            db,
            writer: Arc::new(writer),
        })
    }

    /// Queues a write for the writer thread and waits until it is committed.
    fn write(&self, write: Write) -> BoxFuture<'static, Result<Written>> {
        let (reply, written) = oneshot::channel();
        let queued = match self.writer.queue.lock() {
            Ok(queue) => queue
                .as_ref()
                .is_some_and(|queue| queue.send((write, reply)).is_ok()),
            Err(_) => false,
        };
        Box::pin(async move {
            if !queued {
                return Err(Error::Store(
                    "the embedded store's writer has stopped".into(),
                ));
            }
            written
                .await
                .map_err(|_| Error::Store("the embedded store's writer has stopped".into()))?
        })
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

fn unexpected() -> Error {
    Error::Store("the embedded store's writer answered a different write".into())
}

async fn deleted(written: BoxFuture<'static, Result<Written>>) -> Result<bool> {
    match written.await? {
        Written::Deleted(existed) => Ok(existed),
        Written::Stored | Written::Replaced(_) => Err(unexpected()),
    }
}

impl EmbeddedStore {
    /// Reads one JSON record by id from `table`.
    fn get_record<T>(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        id: &str,
    ) -> BoxFuture<'static, Result<Option<T>>>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        let id = id.to_owned();
        self.read(move |db| {
            let txn = db.begin_read()?;
            let records = txn.open_table(table)?;
            records
                .get(id.as_str())?
                .map(|bytes| decode(bytes.value()))
                .transpose()
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
        let written = self.write(Write::CreateActivity(activity.clone()));
        Box::pin(async move { written.await.map(|_| ()) })
    }

    fn get_activity<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Activity>>> {
        self.get_record(ACTIVITIES, id)
    }

    fn replace_activity<'a>(
        &'a self,
        id: &'a str,
        fields: &'a ActivityFields,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<Activity>>> {
        let written = self.write(Write::ReplaceActivity {
            id: id.to_owned(),
            fields: fields.clone(),
            now,
        });
        Box::pin(async move {
            match written.await? {
                Written::Replaced(activity) => Ok(activity),
                Written::Stored | Written::Deleted(_) => Err(unexpected()),
            }
        })
    }

    fn delete_activity<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>> {
        let written = self.write(Write::DeleteActivity(id.to_owned()));
        Box::pin(deleted(written))
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
        let written = self.write(Write::PutItem(id.to_owned(), item.clone()));
        Box::pin(async move { written.await.map(|_| ()) })
    }

    fn get_item<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Item>>> {
        self.get_record(ITEMS, id)
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
        let written = self.write(Write::DeleteItem(id.to_owned()));
        Box::pin(deleted(written))
    }

    fn check(&self) -> BoxFuture<'_, Result<()>> {
        self.run(|db| {
            let txn = db.begin_read()?;
            txn.open_table(ITEMS)?;
            Ok(())
        })
    }
}
