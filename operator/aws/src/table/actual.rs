//! The table as AWS describes it, as plain data: assembled by `describe` from
//! DescribeTable, DescribeTimeToLive, DescribeContinuousBackups and ListTagsOfResource,
//! and read by the pure `plan`, so that the comparison is tested without any network.

use std::collections::BTreeMap;
use std::fmt;

use aws_smithy_types::DateTime;

use super::{Billing, Capacity, StreamView};

/// One existing table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActualTable {
    pub name: String,
    pub arn: Option<String>,
    pub status: TableStatus,
    /// When this table (not an earlier one of the same name) was created.
    pub created: Option<DateTime>,
    pub layout: Layout,
    /// From the billing mode summary. Throughput is ignored for an on-demand table:
    /// moto (and AWS, for a while) keep reporting the old provisioned figures.
    pub billing: Billing,
    /// Provisioned capacity of each global secondary index (`None` when on-demand).
    pub index_capacity: BTreeMap<String, Option<Capacity>>,
    /// Indexes AWS reports as not ACTIVE (being created, updated or deleted).
    pub busy_indexes: Vec<String>,
    pub stream: Option<StreamView>,
    /// `LatestStreamArn` while the stream is enabled, `None` otherwise.
    pub stream_arn: Option<String>,
    /// `None` when not described (only ACTIVE tables are: nothing can change before).
    pub time_to_live: Option<TimeToLive>,
    /// `None` when not described (only ACTIVE tables are).
    pub point_in_time_recovery: Option<bool>,
    /// Every tag on the table, including owner tags and AWS-reserved `aws:` tags.
    pub tags: BTreeMap<String, String>,
}

impl ActualTable {
    pub fn is_active(&self) -> bool {
        match self.status {
            TableStatus::Active => true,
            TableStatus::Creating
            | TableStatus::Updating
            | TableStatus::Deleting
            | TableStatus::Other(_) => false,
        }
    }
}

/// The table's status, as DescribeTable reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableStatus {
    Creating,
    Updating,
    /// The only status in which the table takes changes.
    Active,
    Deleting,
    /// Any other status (`ARCHIVED`, `INACCESSIBLE_ENCRYPTION_CREDENTIALS`, ...), as
    /// AWS spells it.
    Other(String),
}

impl TableStatus {
    /// The name AWS uses for this status.
    pub fn as_str(&self) -> &str {
        match self {
            TableStatus::Creating => "CREATING",
            TableStatus::Updating => "UPDATING",
            TableStatus::Active => "ACTIVE",
            TableStatus::Deleting => "DELETING",
            TableStatus::Other(status) => status,
        }
    }
}

impl From<&str> for TableStatus {
    fn from(status: &str) -> Self {
        match status {
            "CREATING" => TableStatus::Creating,
            "UPDATING" => TableStatus::Updating,
            "ACTIVE" => TableStatus::Active,
            "DELETING" => TableStatus::Deleting,
            other => TableStatus::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for TableStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The table's time-to-live setting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TimeToLive {
    Disabled,
    Enabled(String),
    /// AWS is turning TTL on for this attribute.
    Enabling(String),
    /// AWS is turning TTL off; until it is done (up to an hour on AWS) TTL cannot be
    /// turned on again.
    Disabling(String),
}

/// The key layout of a table: its primary key, key attribute types and indexes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Layout {
    /// `(attribute, HASH | RANGE)` in key order.
    pub key_schema: Vec<(String, String)>,
    /// Attribute name → `S` | `N` | `B`, for every key attribute.
    pub attributes: BTreeMap<String, String>,
    /// Global secondary index name → its layout.
    pub indexes: BTreeMap<String, IndexLayout>,
}

/// The layout of one global secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IndexLayout {
    /// `(attribute, HASH | RANGE)` in key order.
    pub key_schema: Vec<(String, String)>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
}
