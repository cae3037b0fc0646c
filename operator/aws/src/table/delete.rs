//! What happens to the table when its MetricsApp is deleted. Data is kept unless the
//! policy says `Delete`, the table is ours, and (by default) a backup was taken first.

use std::time::SystemTime;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{BackupStatus, BackupTypeFilter};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::actual::ActualTable;
use super::describe::{Read, describe};
use super::{Deletion, DeletionPolicy, Error, Owner};
use crate::owner::{Admission, admit};
use crate::sdk::if_found;

/// AWS's limit on a backup name.
const MAX_BACKUP_NAME: usize = 255;
const FINAL_BACKUP_INFIX: &str = "-final-";
/// `yyyymmddHHMMSS`.
const STAMP_LEN: usize = 14;

/// Applies `policy` to the table `name` of the MetricsApp `owner`.
///
/// `Retain` makes no AWS call. `Delete` leaves a table that is not `owner`'s untouched
/// ([`Deletion::NotOwned`]), waits for a table that is not ACTIVE ([`Error::TableBusy`]),
/// and otherwise takes an on-demand backup (unless `backup_before_delete` is false)
/// before deleting the table.
pub async fn delete(
    client: &Client,
    name: &str,
    owner: &Owner,
    policy: DeletionPolicy,
    backup_before_delete: bool,
) -> Result<Deletion, Error> {
    match policy {
        DeletionPolicy::Retain => return Ok(Deletion::Retained),
        DeletionPolicy::Delete => {}
    }
    let Some(table) = describe(client, name, Read::TableAndTags).await? else {
        return Ok(Deletion::AlreadyGone);
    };
    let owned = admit(&table.tags, owner, false);
    if let Admission::Other(_) = owned {
        return Ok(Deletion::NotOwned);
    }
    // Before ACTIVE, AWS may not list the tags given at creation yet: wait rather than
    // call our own new table someone else's.
    if !table.is_active() {
        return Err(Error::TableBusy {
            table: name.to_owned(),
            status: table.status.to_string(),
            source: None,
        });
    }
    match owned {
        Admission::Ours => {}
        Admission::Adopt | Admission::Unowned | Admission::Other(_) => {
            return Ok(Deletion::NotOwned);
        }
    }
    let backup_arn = if backup_before_delete {
        Some(final_backup(client, &table).await?)
    } else {
        None
    };
    // Not found: deleted by someone else since DescribeTable, the outcome the user asked for.
    if_found(client.delete_table().table_name(name).send().await)
        .map_err(|e| Error::from_sdk("DeleteTable", name, e))?;
    tracing::info!(table = %name, backup = ?backup_arn, "table deleted");
    Ok(Deletion::Deleted { backup_arn })
}

/// The final backup of `table`: one already taken by an earlier attempt (DeleteTable
/// is refused while a backup is in progress, so a retry must not take another), or a
/// new one.
async fn final_backup(client: &Client, table: &ActualTable) -> Result<String, Error> {
    let name = &table.name;
    if let Some(arn) = earlier_final_backup(client, table).await? {
        tracing::info!(table = %name, backup = %arn, "final backup already taken");
        return Ok(arn);
    }
    let output = client
        .create_backup()
        .table_name(name)
        .backup_name(backup_name(name, SystemTime::now()))
        .send()
        .await
        .map_err(|e| Error::from_sdk("CreateBackup", name, e))?;
    let arn = output
        .backup_details()
        .map(|details| details.backup_arn().to_owned())
        .ok_or_else(|| Error::UnexpectedResponse {
            operation: "CreateBackup",
            table: name.clone(),
            missing: "the backup ARN",
        })?;
    tracing::info!(table = %name, backup = %arn, "final backup taken");
    Ok(arn)
}

/// A final backup of this very table (taken after it was created, so not one of an
/// earlier table of the same name) that is available or still being made.
async fn earlier_final_backup(
    client: &Client,
    table: &ActualTable,
) -> Result<Option<String>, Error> {
    let name = &table.name;
    let prefix = final_backup_prefix(name);
    let mut start = None;
    loop {
        let output = client
            .list_backups()
            .table_name(name)
            .backup_type(BackupTypeFilter::User)
            .set_time_range_lower_bound(table.created)
            .set_exclusive_start_backup_arn(start)
            .send()
            .await
            .map_err(|e| Error::from_sdk("ListBackups", name, e))?;
        let found = output.backup_summaries().iter().find(|backup| {
            backup
                .backup_name()
                .is_some_and(|backup| backup.starts_with(&prefix))
                && matches!(
                    backup.backup_status(),
                    Some(BackupStatus::Available | BackupStatus::Creating)
                )
                && match (table.created, backup.backup_creation_date_time()) {
                    (Some(created), Some(taken)) => *taken >= created,
                    _ => false,
                }
        });
        if let Some(arn) = found.and_then(|backup| backup.backup_arn()) {
            return Ok(Some(arn.to_owned()));
        }
        match output.last_evaluated_backup_arn() {
            Some(last) => start = Some(last.to_owned()),
            None => return Ok(None),
        }
    }
}

/// `<table>-final-`, the table part shortened so that a timestamp still fits.
fn final_backup_prefix(table: &str) -> String {
    let room = MAX_BACKUP_NAME - FINAL_BACKUP_INFIX.len() - STAMP_LEN;
    // Table names are ASCII, so cutting at a byte count cuts at a character.
    let table = table.get(..room).unwrap_or(table);
    format!("{table}{FINAL_BACKUP_INFIX}")
}

/// `<table>-final-<UTC yyyymmddHHMMSS>`, within AWS's limit on a backup name.
pub fn backup_name(table: &str, at: SystemTime) -> String {
    let stamp: String = DateTime::from(at)
        .fmt(Format::DateTime)
        .map(|text| {
            text.chars()
                .filter(char::is_ascii_digit)
                .take(STAMP_LEN)
                .collect()
        })
        .unwrap_or_default();
    format!("{}{stamp}", final_backup_prefix(table))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn backup_name_carries_the_table_and_utc_time() {
        // 2026-11-22T05:04:09Z
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_323_849);
        assert_eq!(
            backup_name("team-metrics", at),
            "team-metrics-final-20261122050409"
        );
    }

    #[test]
    fn backup_name_of_a_long_table_fits_the_limit() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_323_849);
        let name = backup_name(&"t".repeat(255), at);
        assert_eq!(name.len(), 255);
        assert!(name.ends_with("-final-20261122050409"));
    }
}
