//! The app's DynamoDB table: what the MetricsApp asks for, compared with what AWS
//! describes, and the calls that close the gap.
//!
//! Layout: this file holds the plain types the controller speaks in. Pure logic, no I/O:
//! `actual` (what AWS describes, as plain data), `layout` (the key schema check),
//! `plan` (desired × actual × record → create, lost, wait,
//! adopt or conflict, the steps of this pass and those left for later), `change` (Event
//! wording). I/O: `describe` (read the table), `apply` ([`reconcile`]: send the planned
//! steps, one call each) and `delete` ([`delete`]). `error` holds the one error type.
//! The controller only uses what this module re-exports.

mod actual;
mod apply;
mod change;
mod delete;
mod describe;
mod error;
mod layout;
mod plan;

use std::collections::{BTreeMap, BTreeSet};

pub use crate::owner::Owner;
pub use actual::{ActualTable, IndexLayout, Layout, TableStatus, TimeToLive};
pub use apply::{preview, reconcile, reconcile_since};
pub use delete::delete;
pub use error::{AwsError, Error};
pub use metrics_app_table::Capacity;
pub use plan::{BillingUpdate, Plan, Step, plan, waiting_on};

/// The MetricsApp annotation that asks for a lost table to be created again, empty. Its
/// value must be the table's name, so that an annotation left behind cannot re-create
/// a later table of another name. The controller turns it into [`TableRecord::recreate`].
pub const RECREATE_ANNOTATION: &str = "metricsapp.dev/recreate-table";

/// The table a MetricsApp asks for, in plain terms (no Kubernetes, no SDK types).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DesiredTable {
    pub name: String,
    pub billing: Billing,
    pub point_in_time_recovery: bool,
    /// Attribute holding each item's expiry time; `None` turns TTL off.
    pub ttl_attribute: Option<String>,
    /// Stream view type; `None` turns the stream off.
    pub stream: Option<StreamView>,
    /// User tags. Ownership tags are added on top (see [`Owner`]) and win on conflict.
    pub tags: BTreeMap<String, String>,
}

/// What the operator recorded about the table in earlier passes (the controller keeps
/// it in the MetricsApp's status). AWS alone cannot tell "never created" from "created,
/// then deleted behind our back": without this record a lost table would be silently
/// re-created empty, and tags set by others would be indistinguishable from ours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TableRecord {
    /// ARN of the table the operator created or adopted; `Some` means "this table
    /// existed and was ours", so its absence is [`Error::TableLost`].
    pub arn: Option<String>,
    /// Tag keys the operator set on the table (user tags from the spec) in earlier
    /// passes: only these are removed when they leave the spec (see
    /// [`TableReport::managed_tags`]).
    pub managed_tags: BTreeSet<String>,
    /// The user asked to create the table again after it was lost (explicit action,
    /// see [`RECREATE_ANNOTATION`]). Ignored while the table exists; the controller
    /// should clear it once a report shows [`Change::Created`].
    pub recreate: bool,
}

/// How the table is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Billing {
    /// `PAY_PER_REQUEST`.
    OnDemand,
    /// `PROVISIONED`, with the capacity applied to the table and its indexes.
    Provisioned(Capacity),
}

/// What a table stream carries for each change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamView {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

/// What to do with the table when its MetricsApp is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeletionPolicy {
    /// Leave the table and its items in place.
    Retain,
    /// Delete the table (after an on-demand backup unless told otherwise).
    Delete,
}

/// Where the table stands after one reconcile pass.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableReport {
    pub name: String,
    /// `None` only while AWS has not yet returned it.
    pub arn: Option<String>,
    /// The table stream's ARN (DescribeTable's `LatestStreamArn`) while the stream is
    /// enabled, `None` otherwise: Lambda event source mappings read from it.
    pub stream_arn: Option<String>,
    /// As AWS reports it: `CREATING`, `UPDATING`, `ACTIVE`, ...
    pub status: String,
    /// The changes made in this pass, in the order they were made (for Events).
    pub changes: Vec<Change>,
    /// True when the table matches the spec and is ACTIVE; false while AWS is still
    /// working (CREATING/UPDATING) or changes remain to be made in a later pass
    /// (DynamoDB takes one UpdateTable change at a time). The controller requeues
    /// with a short, growing delay while this is false.
    pub settled: bool,
    /// The user tag keys the operator now manages (the keys of the spec's tags), to
    /// keep as [`TableRecord::managed_tags`] for the next pass.
    pub managed_tags: BTreeSet<String>,
    /// Set when the pass found the table settled and changed nothing: hand the report
    /// to [`reconcile_since`] for a next pass of one read.
    pub fingerprint: Option<crate::Fingerprint>,
}

/// One change the operator makes (or made) to a table. `Display` says it in the
/// words of an Event message, e.g.
/// "billing mode PAY_PER_REQUEST → PROVISIONED (read 5, write 5)".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// The table did not exist and was created.
    Created,
    /// An existing table without owner tags was taken over (`adopt: true`).
    Adopted,
    /// Billing mode and/or provisioned capacity (table and indexes).
    Billing { from: String, to: String },
    /// Stream turned on, off, or its view type changed.
    Stream {
        from: Option<StreamView>,
        to: Option<StreamView>,
    },
    /// TTL turned on, off, or moved to another attribute.
    TimeToLive {
        from: Option<String>,
        to: Option<String>,
    },
    /// Point-in-time recovery turned on or off.
    PointInTimeRecovery { to: bool },
    /// Tags added or changed (key → value) and removed (keys).
    Tags {
        set: BTreeMap<String, String>,
        removed: Vec<String>,
    },
}

/// The outcome of deleting a MetricsApp, as far as its table is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Deletion {
    /// `Retain`: the table and its items were left in place.
    Retained,
    /// `Delete`: the table was deleted, after the named backup when one was taken.
    Deleted { backup_arn: Option<String> },
    /// The table no longer existed.
    AlreadyGone,
    /// The table exists but is not owned by this MetricsApp: left untouched.
    NotOwned,
}
