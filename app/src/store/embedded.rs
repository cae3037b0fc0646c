//! The embedded store: one redb file in the data directory. Every write commits with
//! immediate durability before the app answers, so data survives a crash or restart.
//!
//! Rollups (`metrics-app-rollup`) are kept in the same transaction as the activity
//! they count, so summaries read exact totals without reading activities.
//!
//! Writes go through one writer thread that commits whatever writes are waiting in one
//! transaction (group commit): a disk sync costs the same for one write or a hundred, so
//! concurrent writers share it instead of queueing for their own.
//!
//! Reads by id share one read snapshot ([`Snapshots`]) instead of opening a read
//! transaction and its table each: the writer thread drops it right after each commit,
//! so a read that starts after a write has been answered sees that write.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use redb::{
    Database, ReadOnlyTable, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use tokio::sync::oneshot;

use std::collections::BTreeMap;

use metrics_app_rollup::{Cell, Dimension, Level, Span, Totals, changes};

use super::{ActivityQuery, Item, ItemPage, MAX_READ_PER_PAGE, Page, RollupCell, Store, facts};
use crate::activity::{Activity, ActivityFields};
use crate::error::{Error, Result};

/// Activities by id, as JSON.
const ACTIVITIES: TableDefinition<&str, &[u8]> = TableDefinition::new("activities");
/// Activity order: `<date>#<id>` sort keys, the value is the id.
const ACTIVITY_ORDER: TableDefinition<&str, &str> = TableDefinition::new("activity_order");
/// `/picus` items by id, as JSON objects.
const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("picus_items");
/// Rollup cells: `(<dimension>#<level>, period, value)` to `(microhours, count)`.
const ROLLUPS: TableDefinition<(&str, &str, &str), (i64, i64)> = TableDefinition::new("rollups");
/// The store's own bookkeeping, e.g. whether the rollups count every activity.
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// In [`META`]: present once the rollups count every activity (stores written before
/// rollups existed get them built when first opened).
const ROLLUPS_BUILT: &str = "rollups_built";

/// File name of the store inside the data directory.
pub const FILE_NAME: &str = "metrics-app.redb";

/// redb's page cache.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub struct EmbeddedStore {
    // Declared first so a store's snapshot goes before the database does.
    snapshots: Arc<Snapshots>,
    db: Arc<Database>,
    writer: Arc<Writer>,
}

/// A table of JSON records by id, opened in a read snapshot.
type Records = ReadOnlyTable<&'static str, &'static [u8]>;

/// The tables reads by id use, opened once in one read transaction (the tables keep it
/// alive).
struct Snapshot {
    /// [`Snapshots::generation`] when the transaction was begun.
    generation: u64,
    activities: Records,
    items: Records,
}

/// Which table of a [`Snapshot`] a read by id looks in.
#[derive(Clone, Copy)]
enum Table {
    Activities,
    Items,
}

impl Snapshot {
    fn records(&self, table: Table) -> &Records {
        match table {
            Table::Activities => &self.activities,
            Table::Items => &self.items,
        }
    }
}

/// The read snapshot reads by id share. Beginning a read transaction and opening a
/// table each cost more than the read itself (about ten allocations and a check of the
/// table's definition), so reads reuse one until the next commit.
///
/// The writer thread calls [`Snapshots::invalidate`] after every commit, before it
/// answers the writers, so a read that starts after a write was answered never uses a
/// snapshot from before it: a snapshot counts only while `generation` is the one read
/// before its transaction was begun. Between commits the snapshot is the latest state
/// and pins no page a commit has freed; a commit drops it (once the reads using it at
/// that moment finish) and the next read begins a new one.
struct Snapshots {
    current: ArcSwapOption<Snapshot>,
    /// Commits so far (bumped after each).
    generation: AtomicU64,
}

impl Snapshots {
    fn new() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            generation: AtomicU64::new(0),
        }
    }

    /// Runs `read` on the current snapshot, beginning one if there is none since the
    /// last commit.
    fn read<T>(
        &self,
        db: &Database,
        read: impl FnOnce(&Snapshot) -> Result<T, redb::Error>,
    ) -> Result<T, redb::Error> {
        let generation = self.generation.load(Ordering::Acquire);
        let current = self.current.load();
        if let Some(snapshot) = current.as_deref()
            && snapshot.generation == generation
        {
            return read(snapshot);
        }
        drop(current);
        let txn = db.begin_read()?;
        let snapshot = Arc::new(Snapshot {
            generation,
            activities: txn.open_table(ACTIVITIES)?,
            items: txn.open_table(ITEMS)?,
        });
        // Should a commit land meanwhile, this one is stale and the next read replaces it.
        self.current.store(Some(snapshot.clone()));
        read(&snapshot)
    }

    /// Marks the snapshot stale and drops it: called after every commit.
    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.current.store(None);
    }
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

fn write_loop(db: &Database, snapshots: &Snapshots, queue: &mpsc::Receiver<(Write, Reply)>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let committed = commit(db, &batch);
        // Before anyone hears back, so their next read sees what they wrote.
        snapshots.invalidate();
        match committed {
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
            roll_up(txn, None, Some(activity))?;
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
            roll_up(txn, Some(&old), Some(&new))?;
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
            roll_up(txn, Some(&old), None)?;
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

fn cell_table_key(dimension: Dimension, level: Level) -> String {
    format!("{}#{}", dimension.name(), level.name())
}

/// Adds the rollup changes of one activity write, in the write's transaction.
fn roll_up(
    txn: &WriteTransaction,
    old: Option<&Activity>,
    new: Option<&Activity>,
) -> Result<(), redb::Error> {
    let old = old.map(|a| facts(&a.fields));
    let new = new.map(|a| facts(&a.fields));
    add_to_cells(txn, changes(old.as_ref(), new.as_ref()))
}

fn add_to_cells(
    txn: &WriteTransaction,
    changes: BTreeMap<Cell, Totals>,
) -> Result<(), redb::Error> {
    let mut cells = txn.open_table(ROLLUPS)?;
    for (cell, delta) in changes {
        let table_key = cell_table_key(cell.dimension, cell.level);
        let key = (
            table_key.as_str(),
            cell.period.as_str(),
            cell.value.as_str(),
        );
        let mut totals = match cells.get(key)? {
            Some(stored) => {
                let (micro_hours, count) = stored.value();
                Totals { micro_hours, count }
            }
            None => Totals::default(),
        };
        totals.add(delta);
        if totals.is_zero() {
            cells.remove(key)?;
        } else {
            cells.insert(key, (totals.micro_hours, totals.count))?;
        }
    }
    Ok(())
}

/// Recounts every rollup from the activities in one transaction, so a reader sees the
/// old rollups or the new ones, never a mix. Memory is O(cells), not O(activities).
fn rebuild(db: &Database, progress: &dyn Fn(u64, u64)) -> Result<u64, redb::Error> {
    let txn = db.begin_write()?;
    let mut totals: BTreeMap<Cell, Totals> = BTreeMap::new();
    let mut done = 0u64;
    {
        let activities = txn.open_table(ACTIVITIES)?;
        let total = activities.len()?;
        for entry in activities.iter()? {
            let (_, bytes) = entry?;
            let activity: Activity = decode(bytes.value())?;
            for (cell, delta) in changes(None, Some(&facts(&activity.fields))) {
                totals.entry(cell).or_default().add(delta);
            }
            done += 1;
            if done.is_multiple_of(10_000) || done == total {
                progress(done, total);
            }
        }
        txn.delete_table(ROLLUPS)?;
    }
    add_to_cells(&txn, totals)?;
    txn.open_table(META)?.insert(ROLLUPS_BUILT, "1")?;
    txn.commit()?;
    Ok(done)
}

impl EmbeddedStore {
    /// Recounts every rollup from the activities (`metrics-app rollups rebuild`);
    /// `progress` hears `(done, total)` activities. The store keeps serving reads.
    pub fn rebuild_rollups(&self, progress: &dyn Fn(u64, u64)) -> Result<u64> {
        let rebuilt = rebuild(&self.db, progress);
        // The snapshot would pin the old rollups' pages.
        self.snapshots.invalidate();
        rebuilt.map_err(|e| Error::Store(e.into()))
    }

    /// Opens (or creates) the store in `data_dir`, creating the directory if needed.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(FILE_NAME);
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::OpenEmbedded {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| failed(e.into()))?;
        // redb caches up to 1 GiB by default, which grows the process with the data;
        // a fixed cache keeps memory flat and the OS page cache still serves reads.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| failed(e.into()))?;
        let txn = db.begin_write().map_err(|e| failed(e.into()))?;
        for table in [ACTIVITIES, ITEMS] {
            txn.open_table(table).map_err(|e| failed(e.into()))?;
        }
        txn.open_table(ACTIVITY_ORDER)
            .map_err(|e| failed(e.into()))?;
        txn.open_table(ROLLUPS).map_err(|e| failed(e.into()))?;
        let built = {
            let mut meta = txn.open_table(META).map_err(|e| failed(e.into()))?;
            let empty = txn
                .open_table(ACTIVITIES)
                .and_then(|t| t.is_empty().map_err(redb::TableError::from))
                .map_err(|e| failed(e.into()))?;
            if empty {
                meta.insert(ROLLUPS_BUILT, "1")
                    .map_err(|e| failed(e.into()))?;
            }
            meta.get(ROLLUPS_BUILT)
                .map_err(|e| failed(e.into()))?
                .is_some()
        };
        txn.commit().map_err(|e| failed(e.into()))?;
        if !built {
            tracing::info!("counting the rollups of activities stored before rollups existed");
            let counted = rebuild(&db, &|_, _| {}).map_err(|e| failed(e.into()))?;
            tracing::info!(activities = counted, "rollups built");
        }
        let db = Arc::new(db);
        let snapshots = Arc::new(Snapshots::new());
        let (queue, writes) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("embedded-store-writer".to_owned())
            .spawn({
                let db = db.clone();
                let snapshots = snapshots.clone();
                move || {
                    write_loop(&db, &snapshots, &writes);
                    // The last handle to the store is going: close the snapshot before
                    // the database.
                    snapshots.invalidate();
                }
            })
            .map_err(|e| failed(e.into()))?;
        let writer = Writer {
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        };
        Ok(Self {
            snapshots,
            db,
            writer: Arc::new(writer),
        })
    }

    /// Queues a write for the writer thread and waits until it is committed.
    /// [`Self::write`] for a write whose answer says nothing more than that it was done.
    fn write_done(&self, write: Write) -> BoxFuture<'static, Result<()>> {
        let written = self.write(write);
        Box::pin(async move { written.await.map(|_| ()) })
    }

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
        F: FnOnce(&Database) -> Result<T, redb::Error>,
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
    /// Reads one JSON record by id from `table`, in the shared snapshot.
    fn get_record<T>(&self, table: Table, id: &str) -> BoxFuture<'static, Result<Option<T>>>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        self.read(|db| {
            self.snapshots.read(db, |snapshot| {
                snapshot
                    .records(table)
                    .get(id)?
                    .map(|bytes| decode(bytes.value()))
                    .transpose()
            })
        })
    }
}

impl EmbeddedStore {
    /// Reads one record's stored JSON by id from `table`, as it is.
    fn get_json(&self, table: Table, id: &str) -> BoxFuture<'static, Result<Option<Vec<u8>>>> {
        // Read in place (see `read`): the id is borrowed, not copied.
        self.read(|db| {
            self.snapshots.read(db, |snapshot| {
                let found = snapshot.records(table).get(id)?;
                Ok(found.map(|bytes| bytes.value().to_vec()))
            })
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
        self.write_done(Write::CreateActivity(activity.clone()))
    }

    fn get_activity<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Activity>>> {
        self.get_record(Table::Activities, id)
    }

    /// Activities are stored as the API's JSON (`encode` of an [`Activity`]).
    fn get_activity_json<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        self.get_json(Table::Activities, id)
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
            let mut next = None;
            let mut last_read: Option<String> = None;
            for (read, entry) in order.range::<&str>(range)?.rev().enumerate() {
                let (sort_key, id) = entry?;
                if read == MAX_READ_PER_PAGE {
                    next = last_read;
                    break;
                }
                last_read = Some(sort_key.value().to_owned());
                let Some(bytes) = activities.get(id.value())? else {
                    continue;
                };
                let activity: Activity = decode(bytes.value())?;
                if !query.matches(&activity) {
                    continue;
                }
                if found.len() == limit {
                    next = found.last().map(Activity::sort_key);
                    break;
                }
                found.push(activity);
            }
            Ok(Page {
                activities: found,
                next,
            })
        })
    }

    fn put_item<'a>(&'a self, id: &'a str, item: &'a Item) -> BoxFuture<'a, Result<()>> {
        self.write_done(Write::PutItem(id.to_owned(), item.clone()))
    }

    fn get_item<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Item>>> {
        self.get_record(Table::Items, id)
    }

    fn get_item_json<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        self.get_json(Table::Items, id)
    }

    fn list_items<'a>(
        &'a self,
        limit: usize,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ItemPage>> {
        let after = after.map(str::to_owned);
        self.run(move |db| {
            let txn = db.begin_read()?;
            let items = txn.open_table(ITEMS)?;
            let range = (
                after.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
                Bound::Unbounded,
            );
            let mut page = Vec::with_capacity(limit.min(1_000));
            let mut next = None;
            for entry in items.range::<&str>(range)? {
                let (id, bytes) = entry?;
                if page.len() == limit {
                    next = page.last().map(|(id, _): &(String, Item)| id.clone());
                    break;
                }
                page.push((id.value().to_owned(), decode(bytes.value())?));
            }
            Ok(ItemPage { items: page, next })
        })
    }

    fn rollups<'a>(
        &'a self,
        dimension: Dimension,
        span: &'a Span,
    ) -> BoxFuture<'a, Result<Vec<RollupCell>>> {
        let table_key = cell_table_key(dimension, span.level);
        let (first, last) = (span.first.clone(), format!("{}\0", span.last));
        self.read(move |db| {
            let txn = db.begin_read()?;
            let cells = txn.open_table(ROLLUPS)?;
            let lower = (table_key.as_str(), first.as_str(), "");
            let upper = (table_key.as_str(), last.as_str(), "");
            let mut found = Vec::new();
            for entry in cells.range(lower..upper)? {
                let (key, value) = entry?;
                let (_, period, value_of) = key.value();
                let (micro_hours, count) = value.value();
                found.push(RollupCell {
                    period: period.to_owned(),
                    value: value_of.to_owned(),
                    totals: Totals { micro_hours, count },
                });
            }
            Ok(found)
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
