//! The DynamoDB store: the single-table layout of `metrics-app-table`. Activities are
//! `pk=ACTIVITY#<id>, sk=ACTIVITY` and `/picus` items `pk=PICUS#<id>, sk=PICUS`; the
//! `by_collection` index lists each collection in order, so listing never scans.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TableStatus};
use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use metrics_app_table::{
    ACTIVITIES as ACTIVITY, COLLECTION_INDEX, COLLECTION_KEY, COLLECTION_SORT_KEY, PARTITION_KEY,
    PICUS_ITEMS as PICUS, SORT_KEY,
};

use metrics_app_rollup::{Dimension, Span, Totals, dynamodb as rollup};

use super::attributes::{json_to_attribute, map_to_json};
use super::{ActivityQuery, Item, ItemPage, MAX_READ_PER_PAGE, Page, RollupCell, Store};
use crate::activity::{Activity, ActivityFields};
use crate::error::{Error, Result};

/// Largest page DynamoDB is asked for at once.
const MAX_PAGE: usize = 1_000;

type Attributes = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn key(collection: &str, id: &str) -> Attributes {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(format!("{collection}#{id}"))),
        (SORT_KEY.to_owned(), s(collection)),
    ])
}

/// Sorts a failed call into "the store is unavailable" (503) and "the store failed" (500).
/// The answer to a write conditioned on the item (`attribute_exists(...)`): `None`
/// when DynamoDB refused it with ConditionalCheckFailedException, as there was no such
/// item (or it no longer met the condition).
fn if_present<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(error) if error.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(error) => Err(store_error(error)),
    }
}

fn store_error<E, R>(error: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let unavailable = match &error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => true,
        _ => matches!(
            error.code(),
            Some(
                "ResourceNotFoundException"
                    | "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "UnrecognizedClientException"
                    | "AccessDeniedException"
                    | "ExpiredTokenException"
            )
        ),
    };
    let source: crate::error::BoxError = Box::new(error);
    if unavailable {
        Error::StoreUnavailable(source)
    } else {
        Error::Store(source)
    }
}

fn corrupt(message: String) -> Error {
    Error::Store(message.into())
}

fn activity_to_item(activity: &Activity) -> Attributes {
    let fields = &activity.fields;
    let mut item = key(ACTIVITY, &activity.id);
    item.extend([
        (COLLECTION_KEY.to_owned(), s(ACTIVITY)),
        (COLLECTION_SORT_KEY.to_owned(), s(activity.sort_key())),
        ("id".to_owned(), s(&activity.id)),
        ("created_at".to_owned(), s(activity.created_at.to_rfc3339())),
        ("updated_at".to_owned(), s(activity.updated_at.to_rfc3339())),
        // Counted by the rollup function from the stream (see `metrics-app-rollup`).
        (rollup::ROLLED_UP.to_owned(), AttributeValue::Bool(true)),
    ]);
    item.extend(fields_to_attributes(fields));
    item
}

fn fields_to_attributes(fields: &ActivityFields) -> Vec<(String, AttributeValue)> {
    vec![
        ("customer".to_owned(), s(&fields.customer)),
        ("project".to_owned(), s(&fields.project)),
        ("engineer".to_owned(), s(&fields.engineer)),
        (
            "date".to_owned(),
            s(fields.date.format("%Y-%m-%d").to_string()),
        ),
        (
            "hours".to_owned(),
            AttributeValue::N(fields.hours.to_string()),
        ),
        ("description".to_owned(), s(&fields.description)),
    ]
}

fn item_to_activity(item: &Attributes) -> Result<Activity> {
    let text = |name: &str| -> Result<String> {
        match item.get(name) {
            Some(AttributeValue::S(value)) => Ok(value.clone()),
            _ => Err(corrupt(format!("activity item has no string {name:?}"))),
        }
    };
    let time = |name: &str| -> Result<DateTime<Utc>> {
        let value = text(name)?;
        DateTime::parse_from_rfc3339(&value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt(format!("activity item has a bad {name:?}: {e}")))
    };
    let date = NaiveDate::parse_from_str(&text("date")?, "%Y-%m-%d")
        .map_err(|e| corrupt(format!("activity item has a bad \"date\": {e}")))?;
    let hours = match item.get("hours") {
        Some(AttributeValue::N(n)) => n
            .parse::<f64>()
            .map_err(|e| corrupt(format!("activity item has a bad \"hours\": {e}")))?,
        _ => return Err(corrupt("activity item has no number \"hours\"".to_owned())),
    };
    Ok(Activity {
        id: text("id")?,
        fields: ActivityFields {
            customer: text("customer")?,
            project: text("project")?,
            engineer: text("engineer")?,
            date,
            hours,
            description: text("description").unwrap_or_default(),
        },
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

fn item_to_cell(item: &Attributes) -> Result<RollupCell> {
    let number = |name: &str| -> Result<i64> {
        match item.get(name) {
            Some(AttributeValue::N(n)) => n
                .parse()
                .map_err(|e| corrupt(format!("rollup cell has a bad {name:?}: {e}"))),
            None => Ok(0),
            Some(_) => Err(corrupt(format!("rollup cell's {name:?} is not a number"))),
        }
    };
    let Some(AttributeValue::S(sort_key)) = item.get(SORT_KEY) else {
        return Err(corrupt("rollup cell has no sort key".to_owned()));
    };
    let Some((period, value)) = rollup::parse_sort_key(sort_key) else {
        return Err(corrupt(format!(
            "rollup cell has a bad sort key {sort_key:?}"
        )));
    };
    Ok(RollupCell {
        period: period.to_owned(),
        value: value.to_owned(),
        totals: Totals {
            micro_hours: number(rollup::MICRO_HOURS)?,
            count: number(rollup::COUNT)?,
        },
    })
}

/// The client's attributes of a `/picus` item: everything but the app's own.
fn item_to_picus(mut item: Attributes) -> (Option<String>, Item) {
    let id = match item.remove("id") {
        Some(AttributeValue::S(id)) => Some(id),
        _ => None,
    };
    for name in [PARTITION_KEY, SORT_KEY, COLLECTION_KEY, COLLECTION_SORT_KEY] {
        item.remove(name);
    }
    (id, map_to_json(&item))
}

impl Store for DynamoDbStore {
    fn create_activity<'a>(&'a self, activity: &'a Activity) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.put_new(activity_to_item(activity)).await })
    }

    fn get_activity<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Activity>>> {
        Box::pin(async move {
            self.get(ACTIVITY, id)
                .await?
                .as_ref()
                .map(item_to_activity)
                .transpose()
        })
    }

    fn replace_activity<'a>(
        &'a self,
        id: &'a str,
        fields: &'a ActivityFields,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<Activity>>> {
        Box::pin(async move {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(ACTIVITY, id)))
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .return_values(ReturnValue::AllNew);
            let mut assignments = Vec::new();
            let mut values = fields_to_attributes(fields);
            values.push(("updated_at".to_owned(), s(now.to_rfc3339())));
            values.push((
                COLLECTION_SORT_KEY.to_owned(),
                s(crate::activity::sort_key(fields.date, id)),
            ));
            for (name, value) in values {
                assignments.push(format!("#{name} = :{name}"));
                update = update
                    .expression_attribute_names(format!("#{name}"), &name)
                    .expression_attribute_values(format!(":{name}"), value);
            }
            let result = update
                .update_expression(format!("SET {}", assignments.join(", ")))
                .send()
                .await;
            match if_present(result)? {
                Some(output) => output.attributes().map(item_to_activity).transpose(),
                None => Ok(None),
            }
        })
    }

    fn delete_activity<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.delete(ACTIVITY, id))
    }

    fn list_activities<'a>(
        &'a self,
        query: &'a ActivityQuery,
        limit: usize,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page>> {
        Box::pin(async move {
            let lower = query.from.map(|from| from.format("%Y-%m-%d").to_string());
            // `~` sorts after every character of an id, so `<to>#~` ends day `to`.
            let upper = query.to.map(|to| format!("{}#~", to.format("%Y-%m-%d")));
            // DynamoDB refuses a start key outside the key condition: clamp it first.
            let start = match (after, &lower, &upper) {
                (Some(after), Some(lower), _) if after <= lower.as_str() => {
                    return Ok(Page {
                        activities: Vec::new(),
                        next: None,
                    });
                }
                (Some(after), _, Some(upper)) if after >= upper.as_str() => None,
                (after, _, _) => after,
            };
            if let (Some(lower), Some(upper)) = (&lower, &upper)
                && lower >= upper
            {
                return Ok(Page {
                    activities: Vec::new(),
                    next: None,
                });
            }
            let (condition, mut values) = match (&lower, &upper) {
                (Some(lower), Some(upper)) => (
                    "#c = :c AND #o BETWEEN :lower AND :upper",
                    vec![
                        (":lower".to_owned(), s(lower)),
                        (":upper".to_owned(), s(upper)),
                    ],
                ),
                (Some(lower), None) => (
                    "#c = :c AND #o >= :lower",
                    vec![(":lower".to_owned(), s(lower))],
                ),
                (None, Some(upper)) => (
                    "#c = :c AND #o <= :upper",
                    vec![(":upper".to_owned(), s(upper))],
                ),
                (None, None) => ("#c = :c", vec![]),
            };
            values.push((":c".to_owned(), s(ACTIVITY)));
            let mut filters = Vec::new();
            for (name, wanted) in [
                ("customer", &query.customer),
                ("project", &query.project),
                ("engineer", &query.engineer),
            ] {
                if let Some(wanted) = wanted {
                    filters.push(name);
                    values.push((format!(":{name}"), s(wanted)));
                }
            }
            let mut start_key = start.map(|after| {
                let id = after.split_once('#').map_or(after, |(_, id)| id);
                let mut start = key(ACTIVITY, id);
                start.insert(COLLECTION_KEY.to_owned(), s(ACTIVITY));
                start.insert(COLLECTION_SORT_KEY.to_owned(), s(after));
                start
            });
            let mut found = Vec::new();
            let mut read = 0usize;
            loop {
                let mut request = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(COLLECTION_INDEX)
                    .key_condition_expression(condition)
                    .expression_attribute_names("#c", COLLECTION_KEY)
                    .scan_index_forward(false)
                    .limit(
                        i32::try_from((limit + 1).min(MAX_PAGE).min(MAX_READ_PER_PAGE - read))
                            .unwrap_or(1),
                    )
                    .set_exclusive_start_key(start_key.take());
                if lower.is_some() || upper.is_some() {
                    request = request.expression_attribute_names("#o", COLLECTION_SORT_KEY);
                }
                for (placeholder, value) in &values {
                    request = request.expression_attribute_values(placeholder, value.clone());
                }
                if !filters.is_empty() {
                    let expression = filters
                        .iter()
                        .map(|name| format!("#{name} = :{name}"))
                        .collect::<Vec<_>>()
                        .join(" AND ");
                    for name in &filters {
                        request = request.expression_attribute_names(format!("#{name}"), *name);
                    }
                    request = request.filter_expression(expression);
                }
                let output = request.send().await.map_err(store_error)?;
                read += usize::try_from(output.scanned_count()).unwrap_or(MAX_READ_PER_PAGE);
                for item in output.items() {
                    found.push(item_to_activity(item)?);
                }
                if found.len() > limit {
                    found.truncate(limit);
                    let next = found.last().map(Activity::sort_key);
                    return Ok(Page {
                        activities: found,
                        next,
                    });
                }
                match output.last_evaluated_key() {
                    Some(last) if !last.is_empty() && read >= MAX_READ_PER_PAGE => {
                        let next = match last.get(COLLECTION_SORT_KEY) {
                            Some(AttributeValue::S(sort_key)) => Some(sort_key.clone()),
                            _ => return Err(corrupt("a page ended without a sort key".into())),
                        };
                        return Ok(Page {
                            activities: found,
                            next,
                        });
                    }
                    Some(last) if !last.is_empty() => start_key = Some(last.clone()),
                    _ => {
                        return Ok(Page {
                            activities: found,
                            next: None,
                        });
                    }
                }
            }
        })
    }

    fn put_item<'a>(&'a self, id: &'a str, item: &'a Item) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut attributes: Attributes = item
                .iter()
                .map(|(name, value)| (name.clone(), json_to_attribute(value)))
                .collect();
            attributes.extend(key(PICUS, id));
            attributes.extend([
                (COLLECTION_KEY.to_owned(), s(PICUS)),
                (COLLECTION_SORT_KEY.to_owned(), s(id)),
                ("id".to_owned(), s(id)),
            ]);
            self.put_new(attributes).await
        })
    }

    fn get_item<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Item>>> {
        Box::pin(async move { Ok(self.get(PICUS, id).await?.map(|item| item_to_picus(item).1)) })
    }

    fn list_items<'a>(
        &'a self,
        limit: usize,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<ItemPage>> {
        Box::pin(async move {
            let start_key = after.map(|id| {
                let mut start = key(PICUS, id);
                start.insert(COLLECTION_KEY.to_owned(), s(PICUS));
                start.insert(COLLECTION_SORT_KEY.to_owned(), s(id));
                start
            });
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(COLLECTION_INDEX)
                .key_condition_expression("#c = :c")
                .expression_attribute_names("#c", COLLECTION_KEY)
                .expression_attribute_values(":c", s(PICUS))
                .limit(i32::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1))
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(store_error)?;
            let more = output
                .last_evaluated_key()
                .is_some_and(|last| !last.is_empty());
            let mut items = Vec::new();
            for item in output.items.unwrap_or_default() {
                if let (Some(id), item) = item_to_picus(item) {
                    items.push((id, item));
                }
            }
            let next = if more {
                items.last().map(|(id, _)| id.clone())
            } else {
                None
            };
            Ok(ItemPage { items, next })
        })
    }

    fn rollups<'a>(
        &'a self,
        dimension: Dimension,
        span: &'a Span,
    ) -> BoxFuture<'a, Result<Vec<RollupCell>>> {
        Box::pin(async move {
            let (lowest, highest) = rollup::sort_key_range(span);
            let mut cells = Vec::new();
            let mut start_key = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :lowest AND :highest")
                    .expression_attribute_names("#pk", PARTITION_KEY)
                    .expression_attribute_names("#sk", SORT_KEY)
                    .expression_attribute_values(":pk", s(rollup::partition(dimension, span.level)))
                    .expression_attribute_values(":lowest", s(&lowest))
                    .expression_attribute_values(":highest", s(&highest))
                    .set_exclusive_start_key(start_key.take())
                    .send()
                    .await
                    .map_err(store_error)?;
                for item in output.items() {
                    cells.push(item_to_cell(item)?);
                }
                match output.last_evaluated_key() {
                    Some(last) if !last.is_empty() => start_key = Some(last.clone()),
                    _ => return Ok(cells),
                }
            }
        })
    }

    fn delete_item<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.delete(PICUS, id))
    }

    fn check(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let output = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(store_error)?;
            let status = output.table().and_then(|t| t.table_status());
            match status {
                Some(TableStatus::Active | TableStatus::Updating) => Ok(()),
                other => Err(Error::StoreUnavailable(
                    format!("table {} is {other:?}, not ACTIVE", self.table).into(),
                )),
            }
        })
    }
}

impl DynamoDbStore {
    /// Marks every activity not yet counted in the rollups (`metrics-app rollups
    /// rebuild`), one conditional update each; the rollup function then counts each
    /// from the stream, exactly once. Safe while the app serves and resumable: a run
    /// skips what an earlier one marked. `progress` hears `(read, marked)`.
    pub async fn backfill_rollups(&self, progress: &dyn Fn(u64, u64)) -> Result<u64> {
        let (mut read, mut marked) = (0u64, 0u64);
        let mut start_key = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(COLLECTION_INDEX)
                .key_condition_expression("#c = :c")
                .filter_expression("attribute_not_exists(#r)")
                .expression_attribute_names("#c", COLLECTION_KEY)
                .expression_attribute_names("#r", rollup::ROLLED_UP)
                .expression_attribute_values(":c", s(ACTIVITY))
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(store_error)?;
            read += u64::try_from(output.scanned_count()).unwrap_or(0);
            for item in output.items() {
                let Some(AttributeValue::S(id)) = item.get("id") else {
                    continue;
                };
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(ACTIVITY, id)))
                    .update_expression("SET #r = :true")
                    .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#r)")
                    .expression_attribute_names("#pk", PARTITION_KEY)
                    .expression_attribute_names("#r", rollup::ROLLED_UP)
                    .expression_attribute_values(":true", AttributeValue::Bool(true))
                    .send()
                    .await;
                // `None`: deleted or marked meanwhile, nothing to count.
                if if_present(result)?.is_some() {
                    marked += 1;
                }
            }
            progress(read, marked);
            match output.last_evaluated_key() {
                Some(last) if !last.is_empty() => start_key = Some(last.clone()),
                _ => return Ok(marked),
            }
        }
    }

    /// Stores a new item; refuses (rather than overwrites) one whose key already exists.
    async fn put_new(&self, item: Attributes) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Reads one item strongly consistently, so a read right after a write sees it.
    async fn get(&self, collection: &str, id: &str) -> Result<Option<Attributes>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(collection, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item)
    }

    async fn delete(&self, collection: &str, id: &str) -> Result<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(collection, id)))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .send()
            .await;
        Ok(if_present(result)?.is_some())
    }
}
