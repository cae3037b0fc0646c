//! The customers, projects and engineers already recorded, offered by the form
//! (`<datalist>`) so the same customer is not spelled three ways. Read from the rollups
//! (one read per dimension, not a scan of activities), at most [`MAX_VALUES`] each, and
//! kept for [`FRESH_FOR`] so a busy form does not read them per request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::Store;
use crate::summary::{GroupBy, from_rollups};

/// Most values offered per input.
pub const MAX_VALUES: usize = 200;
/// How long a read is reused.
const FRESH_FOR: Duration = Duration::from_secs(30);

/// The values offered, most recorded hours first.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Suggestions {
    pub customers: Vec<String>,
    pub projects: Vec<String>,
    pub engineers: Vec<String>,
}

/// The last read and when it was made.
#[derive(Default)]
pub struct SuggestionCache(Mutex<Option<(Instant, Arc<Suggestions>)>>);

impl SuggestionCache {
    /// The cached values, read again when older than [`FRESH_FOR`]. A store failure
    /// offers nothing: the form works without suggestions.
    pub async fn get(&self, store: &dyn Store) -> Arc<Suggestions> {
        if let Ok(cached) = self.0.lock()
            && let Some((at, values)) = cached.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return values.clone();
        }
        let values = Arc::new(Suggestions {
            customers: read(store, GroupBy::Customer).await,
            projects: read(store, GroupBy::Project).await,
            engineers: read(store, GroupBy::Engineer).await,
        });
        if let Ok(mut cached) = self.0.lock() {
            *cached = Some((Instant::now(), values.clone()));
        }
        values
    }
}

async fn read(store: &dyn Store, group_by: GroupBy) -> Vec<String> {
    match from_rollups(store, group_by, None, None).await {
        Ok(mut groups) => {
            groups.sort_by(|a, b| b.hours.total_cmp(&a.hours).then(a.group.cmp(&b.group)));
            groups
                .into_iter()
                .take(MAX_VALUES)
                .map(|g| g.group)
                .collect()
        }
        Err(error) => {
            tracing::warn!(error = %crate::error::report(&error), "no suggestions for the form");
            Vec::new()
        }
    }
}
