//! `spec.table`: the app's DynamoDB table.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The app's DynamoDB table.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(
        "self.billingMode == 'PROVISIONED' ? (has(self.readCapacity) && has(self.writeCapacity)) : (!has(self.readCapacity) && !has(self.writeCapacity))"
    )
    .message("table.readCapacity and table.writeCapacity are required when table.billingMode is PROVISIONED, and not allowed when it is PAY_PER_REQUEST")
    .reason(kube::core::Reason::FieldValueInvalid),
    validation = kube::core::Rule::new(
        "has(oldSelf.name) == has(self.name) && (!has(self.name) || self.name == oldSelf.name)"
    )
    .message("table.name is immutable: it can only be set when the MetricsApp is created")
    .field_path(".name")
    .reason(kube::core::Reason::FieldValueForbidden)
)]
pub struct TableSpec {
    /// Table name. Defaults to `<namespace>-<name>` of this MetricsApp; the operator
    /// puts its administrator's prefix (`--name-prefix`) in front. Immutable once the
    /// MetricsApp exists: DynamoDB cannot rename a table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[a-zA-Z0-9_.-]{3,255}$"), length(max = 255))]
    pub name: Option<String>,

    /// `PAY_PER_REQUEST` (on-demand, the default) or `PROVISIONED` (set readCapacity
    /// and writeCapacity).
    #[serde(default)]
    pub billing_mode: BillingMode,

    /// Read capacity units of the table and its index, 1 to 40000 (DynamoDB's
    /// per-table quota). Required exactly when billingMode is `PROVISIONED`; the
    /// operator's administrator may allow less (`--max-read-capacity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 40000))]
    pub read_capacity: Option<i64>,

    /// Write capacity units of the table and its index, 1 to 40000 (DynamoDB's
    /// per-table quota). Required exactly when billingMode is `PROVISIONED`; the
    /// operator's administrator may allow less (`--max-write-capacity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 40000))]
    pub write_capacity: Option<i64>,

    /// Continuous backups with point-in-time recovery.
    #[serde(default)]
    pub point_in_time_recovery: bool,

    /// Attribute holding each item's expiry time (epoch seconds). Unset turns TTL off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub ttl_attribute: Option<String>,

    /// Turns the table's stream on with this view type. Unset turns the stream off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamViewType>,

    /// Tags put on the table, on top of the operator's ownership tags
    /// (`metricsapp.dev/namespace`, `metricsapp.dev/name`, `metricsapp.dev/uid`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,

    /// What happens to the table when the MetricsApp is deleted: `Retain` keeps the
    /// table and its items, `Delete` deletes it (after a backup, see
    /// backupBeforeDelete). Unset uses the operator's default, which is `Retain` unless
    /// its administrator changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Take an on-demand backup before deleting the table (deletionPolicy `Delete`).
    #[serde(default = "default_true")]
    pub backup_before_delete: bool,

    /// Take over an existing table that was not created by this MetricsApp (only when
    /// the operator's administrator allows it: `--allow-adopt`). Without it such a
    /// table is left untouched and the TableReady condition reports a TableConflict.
    #[serde(default)]
    pub adopt: bool,
}

impl Default for TableSpec {
    fn default() -> Self {
        TableSpec {
            name: None,
            billing_mode: BillingMode::default(),
            read_capacity: None,
            write_capacity: None,
            point_in_time_recovery: false,
            ttl_attribute: None,
            stream: None,
            tags: BTreeMap::new(),
            deletion_policy: None,
            backup_before_delete: true,
            adopt: false,
        }
    }
}

pub(super) fn default_true() -> bool {
    true
}

/// How the table is billed: `PAY_PER_REQUEST` (on-demand, the default) or
/// `PROVISIONED` (set readCapacity and writeCapacity).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BillingMode {
    /// On-demand: pay per request, no capacity to plan.
    #[default]
    #[serde(rename = "PAY_PER_REQUEST")]
    PayPerRequest,
    /// Fixed read and write capacity units.
    #[serde(rename = "PROVISIONED")]
    Provisioned,
}

/// Turns the table's stream on with this view type: what the stream carries for each
/// change (`KEYS_ONLY`, `NEW_IMAGE`, `OLD_IMAGE` or `NEW_AND_OLD_IMAGES`). Unset turns the
/// stream off.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamViewType {
    /// Only the key attributes of the changed item.
    #[serde(rename = "KEYS_ONLY")]
    KeysOnly,
    /// The item as it is after the change.
    #[serde(rename = "NEW_IMAGE")]
    NewImage,
    /// The item as it was before the change.
    #[serde(rename = "OLD_IMAGE")]
    OldImage,
    /// The item before and after the change.
    #[serde(rename = "NEW_AND_OLD_IMAGES")]
    NewAndOldImages,
}

/// What happens to the table when the MetricsApp is deleted: `Retain` keeps the table
/// and its items, `Delete` deletes it (after an on-demand backup unless
/// backupBeforeDelete is false). Unset uses the operator's default, which is `Retain`
/// unless its administrator changed it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Keep the table and its items.
    Retain,
    /// Delete the table, after an on-demand backup unless backupBeforeDelete is false.
    Delete,
}
