//! The rollup function: reads the app table's stream (`NEW_AND_OLD_IMAGES`) and keeps
//! the rollup cells of `metrics-app-rollup` up to date with `UpdateItem ADD`.
//!
//! Exactly once: each stream record is applied in one `TransactWriteItems` together
//! with a put of an item keyed by the record's event id, conditional on that item not
//! existing. A duplicate delivery or a retried batch finds the item and changes
//! nothing; a failed transaction changes nothing either, so retrying it is safe.
//!
//! Failures are reported per record (`ReportBatchItemFailures`): Lambda retries from
//! the first failed record instead of replaying the whole batch.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};
use metrics_app_rollup::{Facts, changes, dynamodb, micro_hours};
use metrics_app_table::{PARTITION_KEY, SORT_KEY};
use serde_dynamo::AttributeValue as StreamValue;

/// Partition key prefix of activity items (`metrics-app-table`'s layout).
const ACTIVITY_PREFIX: &str = "ACTIVITY#";

/// Where the function writes.
#[derive(Debug, Clone)]
pub struct Config {
    /// `METRICS_APP_TABLE`: the app's table, set by the operator on every function.
    pub table: String,
    /// `METRICS_APP_TTL_ATTRIBUTE`: the table's TTL attribute, so records-seen expire.
    pub ttl_attribute: String,
}

/// What became of one stream record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its increments were added to the rollups.
    Applied,
    /// It had been applied before (a duplicate delivery or a retried batch).
    Duplicate,
    /// It changes no rollup: not an activity, an activity not yet counted, or an edit
    /// of fields that rollups do not total.
    Unchanged,
    /// Its image is not a readable activity; it is logged and skipped, since retrying
    /// cannot make it readable (`metrics-app rollups rebuild` recounts such activities).
    Unreadable,
    /// Writing failed; the record is reported so Lambda retries it.
    Failed,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Unchanged => "unchanged",
            Self::Unreadable => "unreadable",
            Self::Failed => "failed",
        }
    }
}

/// Why an image could not be read as an activity.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("attribute {0:?} is missing or not a string")]
    Text(&'static str),
    #[error("attribute \"date\" is not a YYYY-MM-DD day: {0:?}")]
    Date(String),
    #[error("attribute \"hours\" is missing or not a number")]
    Hours,
}

/// The facts of an activity image, or `None` when the image is not counted in the
/// rollups (it lacks [`dynamodb::ROLLED_UP`]).
pub fn facts_of(image: &HashMap<String, StreamValue>) -> Result<Option<Facts>, ImageError> {
    if image.is_empty() || !image.contains_key(dynamodb::ROLLED_UP) {
        return Ok(None);
    }
    let text = |name: &'static str| match image.get(name) {
        Some(StreamValue::S(value)) => Ok(value.clone()),
        _ => Err(ImageError::Text(name)),
    };
    let date_text = text("date")?;
    let date = NaiveDate::parse_from_str(&date_text, "%Y-%m-%d")
        .map_err(|_| ImageError::Date(date_text.clone()))?;
    let hours = match image.get("hours") {
        Some(StreamValue::N(n)) => n.parse::<f64>().map_err(|_| ImageError::Hours)?,
        _ => return Err(ImageError::Hours),
    };
    Ok(Some(Facts {
        customer: text("customer")?,
        project: text("project")?,
        engineer: text("engineer")?,
        date,
        micro_hours: micro_hours(hours),
    }))
}

fn is_activity(record: &EventRecord) -> bool {
    matches!(
        record.change.keys.get(PARTITION_KEY),
        Some(StreamValue::S(pk)) if pk.starts_with(ACTIVITY_PREFIX)
    )
}

/// The id Lambda expects back for a failed stream record: its sequence number.
fn item_identifier(record: &EventRecord) -> String {
    record
        .change
        .sequence_number
        .clone()
        .unwrap_or_else(|| record.event_id.clone())
}

/// Applies every record of a batch; the response names the records to retry.
pub async fn handle(
    client: &Client,
    config: &Config,
    event: Event,
    now: DateTime<Utc>,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut tally: HashMap<&'static str, usize> = HashMap::new();
    for record in &event.records {
        let outcome = apply(client, config, record, now).await;
        *tally.entry(outcome.name()).or_default() += 1;
        match outcome {
            Outcome::Failed => {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(item_identifier(record));
                response.batch_item_failures.push(failure);
            }
            Outcome::Applied | Outcome::Duplicate | Outcome::Unchanged | Outcome::Unreadable => {}
        }
    }
    tracing::info!(
        records = event.records.len(),
        applied = tally.get("applied").copied().unwrap_or(0),
        duplicate = tally.get("duplicate").copied().unwrap_or(0),
        unchanged = tally.get("unchanged").copied().unwrap_or(0),
        unreadable = tally.get("unreadable").copied().unwrap_or(0),
        failed = tally.get("failed").copied().unwrap_or(0),
        "batch done"
    );
    response
}

/// Applies one stream record, exactly once.
pub async fn apply(
    client: &Client,
    config: &Config,
    record: &EventRecord,
    now: DateTime<Utc>,
) -> Outcome {
    let event_id = record.event_id.as_str();
    if !is_activity(record) {
        return Outcome::Unchanged;
    }
    let images = facts_of(&record.change.old_image)
        .and_then(|old| facts_of(&record.change.new_image).map(|new| (old, new)));
    let (old, new) = match images {
        Ok(images) => images,
        Err(error) => {
            tracing::error!(event_id, error = %error, "stream record is not a readable activity; skipped");
            return Outcome::Unreadable;
        }
    };
    let changes = changes(old.as_ref(), new.as_ref());
    if changes.is_empty() {
        return Outcome::Unchanged;
    }
    let (pk, sk) = dynamodb::event_key(event_id);
    let expires = now.timestamp().saturating_add(dynamodb::EVENT_TTL_SECONDS);
    let seen = Put::builder()
        .table_name(&config.table)
        .item(PARTITION_KEY, AttributeValue::S(pk))
        .item(SORT_KEY, AttributeValue::S(sk))
        .item(
            &config.ttl_attribute,
            AttributeValue::N(expires.to_string()),
        )
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PARTITION_KEY)
        .build();
    let mut items = Vec::with_capacity(changes.len() + 1);
    match seen {
        Ok(put) => items.push(TransactWriteItem::builder().put(put).build()),
        Err(error) => {
            tracing::error!(event_id, error = %error, "cannot build the write");
            return Outcome::Failed;
        }
    }
    for (cell, delta) in &changes {
        let (pk, sk) = dynamodb::key(cell);
        let update = Update::builder()
            .table_name(&config.table)
            .key(PARTITION_KEY, AttributeValue::S(pk))
            .key(SORT_KEY, AttributeValue::S(sk))
            .update_expression("ADD #h :h, #c :c")
            .expression_attribute_names("#h", dynamodb::MICRO_HOURS)
            .expression_attribute_names("#c", dynamodb::COUNT)
            .expression_attribute_values(":h", AttributeValue::N(delta.micro_hours.to_string()))
            .expression_attribute_values(":c", AttributeValue::N(delta.count.to_string()))
            .build();
        match update {
            Ok(update) => items.push(TransactWriteItem::builder().update(update).build()),
            Err(error) => {
                tracing::error!(event_id, error = %error, "cannot build the write");
                return Outcome::Failed;
            }
        }
    }
    let result = client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await;
    match result {
        Ok(_) => {
            tracing::debug!(event_id, cells = changes.len(), "applied");
            Outcome::Applied
        }
        Err(error) if already_applied(&error) => {
            tracing::info!(event_id, "stream record seen before; not counted again");
            Outcome::Duplicate
        }
        Err(error) => {
            tracing::warn!(
                event_id,
                error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error),
                "rollup write failed; Lambda will retry the record"
            );
            Outcome::Failed
        }
    }
}

/// A transaction cancelled only because its record-seen item exists (the first write).
fn already_applied<R>(error: &SdkError<TransactWriteItemsError, R>) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return false;
    };
    let reasons = cancelled.cancellation_reasons();
    reasons.first().and_then(|r| r.code()) == Some("ConditionalCheckFailed")
        && reasons
            .iter()
            .skip(1)
            .all(|r| matches!(r.code(), None | Some("None")))
}
