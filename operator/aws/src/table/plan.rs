//! Desired × actual × recorded, with no I/O: whether an absent table may be created,
//! who owns an existing one and whether its keys are the app's, the steps of this pass
//! and those left for later, what AWS is still busy with, and the checks on a spec
//! before any call. Every policy decision lives here so it is tested without a network;
//! `apply` only sends what this returns.
//!
//! Steps come in the order they are applied: adoption (owner tags), tags, TTL and
//! point-in-time recovery first (their own APIs, allowed together on an ACTIVE table),
//! then the UpdateTable steps (billing, stream). DynamoDB takes one UpdateTable change
//! at a time and puts the table in UPDATING, so a pass sends the first UpdateTable step
//! only; the others are [`Plan::later`] and the next pass plans again from what AWS
//! then describes.

use std::collections::{BTreeMap, BTreeSet};

use super::actual::{ActualTable, TimeToLive};
use super::{
    Billing, Capacity, Change, DesiredTable, Error, Owner, StreamView, TableRecord, layout,
};
use crate::Fingerprint;
use crate::owner::{Admission, admit, owner_tags};
use crate::tags::TagChange;

/// Where a pass starts, from what DescribeTable found and what the operator recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The table exists: check ownership and layout, then compare it with the spec.
    Existing(Box<ActualTable>),
    /// The table does not exist and may be created: it was never ours, or the user
    /// asked for it to be created again.
    Create,
}

/// Decides what to do with the table named `table`, as `described` (`None`: absent).
/// A table the operator created or adopted ([`TableRecord::arn`]) that is now absent
/// was deleted behind our back with its data: creating an empty one in its place would
/// hide the loss from every reader, so it is [`Error::TableLost`] until the user asks
/// for it again ([`TableRecord::recreate`]).
pub fn start(
    table: &str,
    described: Option<ActualTable>,
    record: &TableRecord,
) -> Result<Start, Error> {
    match (described, &record.arn) {
        (Some(actual), _) => Ok(Start::Existing(Box::new(actual))),
        (None, None) => Ok(Start::Create),
        (None, Some(_)) if record.recreate => Ok(Start::Create),
        (None, Some(arn)) => Err(Error::TableLost {
            table: table.to_owned(),
            arn: arn.clone(),
        }),
    }
}

/// One call (or pair of tag calls) that moves the table towards the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// CreateTable from the spec, with these tags (user tags and owner tags).
    Create { tags: BTreeMap<String, String> },
    /// TagResource with the owner tags of a table taken over with `adopt: true`.
    Adopt { tags: BTreeMap<String, String> },
    /// TagResource with `set`, UntagResource with `removed`.
    Tags {
        set: BTreeMap<String, String>,
        removed: Vec<String>,
    },
    /// UpdateTimeToLive. Moving TTL to another attribute is a disable now and an enable
    /// on a later pass, because AWS refuses to enable TTL while it is on (or turning
    /// off).
    TimeToLive {
        from: Option<String>,
        to: Option<String>,
    },
    /// UpdateContinuousBackups.
    PointInTimeRecovery { to: bool },
    /// UpdateTable with the billing mode and/or throughput of the table and indexes.
    Billing(BillingUpdate),
    /// UpdateTable with a stream specification. Changing the view type is a disable now
    /// and an enable on a later pass: AWS refuses to change the view of a live stream.
    Stream {
        from: Option<StreamView>,
        to: Option<StreamView>,
    },
}

/// The billing part of an UpdateTable request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingUpdate {
    pub from: Billing,
    pub to: Billing,
    /// True when the billing mode itself changes (not only the capacity).
    pub mode_changes: bool,
    /// Table throughput to send: set when it differs (AWS refuses an unchanged one).
    pub table: Option<Capacity>,
    /// Index throughput to send, for each index whose capacity differs.
    pub indexes: Vec<(String, Capacity)>,
    /// Index capacities before the change, for the Event message.
    pub indexes_before: Vec<(String, Option<Capacity>)>,
}

impl Step {
    /// True for the steps made with UpdateTable, of which one is allowed per pass.
    pub fn is_update_table(&self) -> bool {
        match self {
            Step::Billing(_) | Step::Stream { .. } => true,
            Step::Create { .. }
            | Step::Adopt { .. }
            | Step::Tags { .. }
            | Step::TimeToLive { .. }
            | Step::PointInTimeRecovery { .. } => false,
        }
    }

    /// The change this step makes, as reported in Events.
    pub fn change(&self) -> Change {
        match self {
            Step::Create { .. } => Change::Created,
            Step::Adopt { .. } => Change::Adopted,
            Step::Tags { set, removed } => Change::Tags {
                set: set.clone(),
                removed: removed.clone(),
            },
            Step::TimeToLive { from, to } => Change::TimeToLive {
                from: from.clone(),
                to: to.clone(),
            },
            Step::PointInTimeRecovery { to } => Change::PointInTimeRecovery { to: *to },
            Step::Billing(update) => Change::Billing {
                from: describe_billing(update.from, &update.indexes_before),
                to: describe_billing(update.to, &[]),
            },
            Step::Stream { from, to } => Change::Stream {
                from: *from,
                to: *to,
            },
        }
    }
}

/// The outcome of planning one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The steps to send in this pass, in order.
    pub steps: Vec<Step>,
    /// Differences left for a later pass: the UpdateTable steps after the first.
    pub later: Vec<Step>,
    /// What AWS is still doing, one phrase each.
    pub waiting: Vec<String>,
    /// The user tag keys to report once `steps` are sent (see
    /// [`TableRecord::managed_tags`]).
    pub managed_tags: BTreeSet<String>,
}

impl Plan {
    /// True when nothing is to be done, now or later, and AWS is not busy.
    pub fn is_settled(&self) -> bool {
        self.steps.is_empty() && self.later.is_empty() && self.waiting.is_empty()
    }
}

/// Plans one pass over the table `desired.name`: `actual` is `None` when it does not
/// exist.
///
/// An absent table is created unless it was ours and is lost (see `start`). An
/// existing table must carry `owner`'s uid tag, or have no owner tag and `adopt` set
/// (it is then tagged as ours); an untagged table that is not ACTIVE yet is waited for,
/// as AWS may not list the tags given at creation before. Errors, touching nothing:
/// [`Error::TableLost`], [`Error::Conflict`] for a table that is not ours (and not
/// adopted), [`Error::IncompatibleTable`] for keys that differ from the app's layout.
pub fn plan(
    desired: &DesiredTable,
    actual: Option<&ActualTable>,
    owner: &Owner,
    adopt: bool,
    record: &TableRecord,
) -> Result<Plan, Error> {
    let actual = match start(&desired.name, actual.cloned(), record)? {
        Start::Existing(actual) => actual,
        Start::Create => {
            return Ok(Plan {
                steps: vec![Step::Create {
                    tags: wanted_tags(desired, owner),
                }],
                later: Vec::new(),
                waiting: Vec::new(),
                managed_tags: managed_tags(desired),
            });
        }
    };
    let adopting = match admit(&actual.tags, owner, adopt) {
        Admission::Ours => false,
        // Before ACTIVE, AWS may not list the tags given at creation yet, and nothing
        // can be changed anyway: decide once the table is ACTIVE.
        Admission::Adopt | Admission::Unowned if !actual.is_active() => {
            return Ok(Plan {
                steps: Vec::new(),
                later: Vec::new(),
                waiting: waiting_on(desired, &actual),
                managed_tags: managed_tags(desired),
            });
        }
        Admission::Adopt => true,
        Admission::Unowned => {
            return Err(Error::Conflict {
                table: actual.name.clone(),
                owner: "already exists and has no metricsapp.dev/uid owner tag; \
                        set table.adopt: true to take it over"
                    .to_owned(),
            });
        }
        Admission::Other(who) => {
            return Err(Error::Conflict {
                table: actual.name.clone(),
                owner: format!("belongs to {who}"),
            });
        }
    };
    let differences = layout::differences(&layout::expected(), &actual.layout);
    if !differences.is_empty() {
        return Err(Error::IncompatibleTable {
            table: actual.name.clone(),
            differences: differences.join("; "),
        });
    }
    let mut candidates = Vec::new();
    let mut seen = (*actual).clone();
    if adopting {
        let tags = owner_tags(owner);
        seen.tags.extend(tags.clone());
        candidates.push(Step::Adopt { tags });
    }
    candidates.extend(settings(desired, &seen, owner, &record.managed_tags));
    let (steps, later) = split_one_update_table(candidates);
    Ok(Plan {
        steps,
        later,
        waiting: waiting_on(desired, &actual),
        managed_tags: managed_tags(desired),
    })
}

/// Everything up to and including the first UpdateTable step goes now; the others
/// wait, because the first puts the table in UPDATING.
fn split_one_update_table(candidates: Vec<Step>) -> (Vec<Step>, Vec<Step>) {
    let mut now = Vec::new();
    let mut later = Vec::new();
    let mut updating = false;
    for step in candidates {
        if step.is_update_table() {
            if updating {
                later.push(step);
                continue;
            }
            updating = true;
        }
        now.push(step);
    }
    (now, later)
}

/// The steps that bring the settings of `actual` to `desired`, in the order to apply
/// them. Empty when the table matches, and while the table is not ACTIVE (AWS allows
/// no change then). `managed_tags` are the tag keys the operator set in earlier passes
/// ([`TableRecord::managed_tags`]): only those are removed when they leave the spec.
fn settings(
    desired: &DesiredTable,
    actual: &ActualTable,
    owner: &Owner,
    managed_tags: &BTreeSet<String>,
) -> Vec<Step> {
    if !actual.is_active() {
        return Vec::new();
    }
    let mut steps = Vec::new();
    steps.extend(tags(desired, actual, owner, managed_tags));
    if let Some(ttl) = &actual.time_to_live {
        steps.extend(time_to_live(desired.ttl_attribute.as_deref(), ttl));
    }
    if let Some(enabled) = actual.point_in_time_recovery
        && enabled != desired.point_in_time_recovery
    {
        steps.push(Step::PointInTimeRecovery {
            to: desired.point_in_time_recovery,
        });
    }
    if actual.busy_indexes.is_empty() {
        steps.extend(billing(desired.billing, actual));
        steps.extend(stream(desired.stream, actual.stream));
    }
    steps
}

/// What a settled pass compared, as one number: the spec, the owner, the record, and
/// the part of `actual` that DescribeTable returns (tags, TTL and point-in-time
/// recovery left out, as the one-read check does not read them).
pub fn fingerprint(
    desired: &DesiredTable,
    owner: &Owner,
    adopt: bool,
    record: &TableRecord,
    actual: &ActualTable,
) -> Fingerprint {
    let described = ActualTable {
        tags: BTreeMap::new(),
        time_to_live: None,
        point_in_time_recovery: None,
        ..actual.clone()
    };
    Fingerprint::of(&(desired, owner, adopt, record, described))
}

/// What AWS is still doing that keeps the table from matching the spec, one phrase
/// each; empty when nothing is in progress.
pub fn waiting_on(desired: &DesiredTable, actual: &ActualTable) -> Vec<String> {
    let mut waiting = Vec::new();
    if !actual.is_active() {
        waiting.push(format!("table is {}", actual.status));
    }
    for index in &actual.busy_indexes {
        waiting.push(format!("index `{index}` is not ACTIVE"));
    }
    match (&actual.time_to_live, desired.ttl_attribute.as_deref()) {
        (Some(TimeToLive::Disabling(attribute)), Some(_)) => {
            waiting.push(format!("TTL on `{attribute}` is being disabled"));
        }
        (Some(TimeToLive::Enabling(attribute)), want) if want != Some(attribute.as_str()) => {
            waiting.push(format!("TTL on `{attribute}` is being enabled"));
        }
        (None | Some(TimeToLive::Disabled | TimeToLive::Enabled(_)), _)
        | (Some(TimeToLive::Disabling(_)), None)
        | (Some(TimeToLive::Enabling(_)), _) => {}
    }
    waiting
}

/// Checks a spec for what DynamoDB would refuse, so the user reads a message naming
/// the field instead of an AWS error code.
pub fn validate(desired: &DesiredTable, owner: &Owner) -> Result<(), Error> {
    let invalid = |problem: String| Error::InvalidSpec {
        table: desired.name.clone(),
        problem,
        source: None,
    };
    let name = &desired.name;
    if !(3..=255).contains(&name.len())
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(invalid(format!(
            "table name `{name}` must be 3 to 255 characters of a-z, A-Z, 0-9, `_`, `-` and `.`"
        )));
    }
    match desired.billing {
        Billing::OnDemand => {}
        Billing::Provisioned(capacity) => {
            if capacity.read < 1 || capacity.write < 1 {
                return Err(invalid(format!(
                    "provisioned capacity must be at least 1 (read {}, write {})",
                    capacity.read, capacity.write
                )));
            }
        }
    }
    if let Some(attribute) = &desired.ttl_attribute
        && !(1..=255).contains(&attribute.len())
    {
        return Err(invalid(
            "TTL attribute name must be 1 to 255 characters".to_owned(),
        ));
    }
    crate::tags::validate(&desired.tags, owner, "DynamoDB").map_err(invalid)?;
    Ok(())
}

/// User tags plus owner tags; owner tags win.
pub fn wanted_tags(desired: &DesiredTable, owner: &Owner) -> BTreeMap<String, String> {
    crate::tags::wanted(&desired.tags, owner)
}

/// The user tag keys this spec makes the operator manage, for the next pass's record.
pub fn managed_tags(desired: &DesiredTable) -> BTreeSet<String> {
    desired.tags.keys().cloned().collect()
}

/// The tag step (see [`TagChange::between`] for which tags are set and removed).
fn tags(
    desired: &DesiredTable,
    actual: &ActualTable,
    owner: &Owner,
    managed: &BTreeSet<String>,
) -> Option<Step> {
    TagChange::between(&wanted_tags(desired, owner), &actual.tags, managed)
        .map(|TagChange { set, removed }| Step::Tags { set, removed })
}

fn time_to_live(want: Option<&str>, actual: &TimeToLive) -> Option<Step> {
    let disable = |attribute: &String| Step::TimeToLive {
        from: Some(attribute.clone()),
        to: None,
    };
    match (want, actual) {
        (None, TimeToLive::Disabled | TimeToLive::Disabling(_)) => None,
        (None, TimeToLive::Enabled(attribute)) => Some(disable(attribute)),
        (Some(want), TimeToLive::Disabled) => Some(Step::TimeToLive {
            from: None,
            to: Some(want.to_owned()),
        }),
        (Some(want), TimeToLive::Enabled(attribute)) if want == attribute => None,
        (Some(_), TimeToLive::Enabled(attribute)) => Some(disable(attribute)),
        // AWS is mid-change: wait for it to finish (see `waiting_on`).
        (_, TimeToLive::Enabling(_)) | (Some(_), TimeToLive::Disabling(_)) => None,
    }
}

fn billing(want: Billing, actual: &ActualTable) -> Option<Step> {
    let indexes_before: Vec<(String, Option<Capacity>)> = actual
        .index_capacity
        .iter()
        .map(|(name, capacity)| (name.clone(), *capacity))
        .collect();
    let update = match (actual.billing, want) {
        (Billing::OnDemand, Billing::OnDemand) => return None,
        (Billing::Provisioned(_), Billing::OnDemand) => BillingUpdate {
            from: actual.billing,
            to: want,
            mode_changes: true,
            table: None,
            indexes: Vec::new(),
            indexes_before,
        },
        (Billing::OnDemand, Billing::Provisioned(capacity)) => BillingUpdate {
            from: actual.billing,
            to: want,
            mode_changes: true,
            table: Some(capacity),
            indexes: actual
                .index_capacity
                .keys()
                .map(|name| (name.clone(), capacity))
                .collect(),
            indexes_before,
        },
        (Billing::Provisioned(have), Billing::Provisioned(capacity)) => {
            let indexes: Vec<(String, Capacity)> = actual
                .index_capacity
                .iter()
                .filter(|(_, index)| **index != Some(capacity))
                .map(|(name, _)| (name.clone(), capacity))
                .collect();
            if have == capacity && indexes.is_empty() {
                return None;
            }
            BillingUpdate {
                from: actual.billing,
                to: want,
                mode_changes: false,
                table: (have != capacity).then_some(capacity),
                indexes,
                indexes_before,
            }
        }
    };
    Some(Step::Billing(update))
}

fn stream(want: Option<StreamView>, actual: Option<StreamView>) -> Option<Step> {
    match (actual, want) {
        (from, to) if from == to => None,
        (Some(from), Some(_)) => Some(Step::Stream {
            from: Some(from),
            to: None,
        }),
        (from, to) => Some(Step::Stream { from, to }),
    }
}

/// Billing in Event words, naming the indexes whose capacity differs from the table's.
fn describe_billing(billing: Billing, indexes: &[(String, Option<Capacity>)]) -> String {
    match billing {
        Billing::OnDemand => "PAY_PER_REQUEST".to_owned(),
        Billing::Provisioned(capacity) => {
            let mut text = format!(
                "PROVISIONED (read {}, write {}",
                capacity.read, capacity.write
            );
            for (name, index) in indexes {
                match index {
                    Some(index) if *index == capacity => {}
                    Some(index) => text.push_str(&format!(
                        "; index {name} read {}, write {}",
                        index.read, index.write
                    )),
                    None => text.push_str(&format!("; index {name} without capacity")),
                }
            }
            text.push(')');
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredTable {
        DesiredTable {
            name: "team-metrics".into(),
            billing: Billing::OnDemand,
            point_in_time_recovery: false,
            ttl_attribute: None,
            stream: None,
            tags: BTreeMap::new(),
        }
    }

    /// An ACTIVE on-demand table matching [`desired`].
    fn actual() -> ActualTable {
        ActualTable {
            name: "team-metrics".into(),
            arn: Some("arn:aws:dynamodb:us-east-1:123456789012:table/team-metrics".into()),
            status: "ACTIVE".into(),
            created: None,
            layout: layout::expected(),
            billing: Billing::OnDemand,
            index_capacity: BTreeMap::from([("by_collection".into(), None)]),
            busy_indexes: Vec::new(),
            stream: None,
            stream_arn: None,
            time_to_live: Some(TimeToLive::Disabled),
            point_in_time_recovery: Some(false),
            tags: owner_tags(&Owner::test()),
        }
    }

    fn provisioned(read: i64, write: i64) -> Billing {
        Billing::Provisioned(Capacity { read, write })
    }

    fn with_provisioned(mut table: ActualTable, read: i64, write: i64) -> ActualTable {
        table.billing = provisioned(read, write);
        for capacity in table.index_capacity.values_mut() {
            *capacity = Some(Capacity { read, write });
        }
        table
    }

    #[test]
    fn a_matching_table_needs_nothing() {
        assert_eq!(
            settings(&desired(), &actual(), &Owner::test(), &BTreeSet::new()),
            vec![]
        );
        assert!(waiting_on(&desired(), &actual()).is_empty());
    }

    #[test]
    fn on_demand_to_provisioned_sets_table_and_index_capacity() {
        let want = DesiredTable {
            billing: provisioned(5, 5),
            ..desired()
        };
        let steps = settings(&want, &actual(), &Owner::test(), &BTreeSet::new());
        let capacity = Capacity { read: 5, write: 5 };
        assert_eq!(
            steps,
            vec![Step::Billing(BillingUpdate {
                from: Billing::OnDemand,
                to: provisioned(5, 5),
                mode_changes: true,
                table: Some(capacity),
                indexes: vec![("by_collection".into(), capacity)],
                indexes_before: vec![("by_collection".into(), None)],
            })]
        );
        assert_eq!(
            steps[0].change().to_string(),
            "billing mode PAY_PER_REQUEST → PROVISIONED (read 5, write 5)"
        );
    }

    #[test]
    fn provisioned_to_on_demand_sends_only_the_mode() {
        let steps = settings(
            &desired(),
            &with_provisioned(actual(), 5, 5),
            &Owner::test(),
            &BTreeSet::new(),
        );
        let [Step::Billing(update)] = steps.as_slice() else {
            panic!("expected one billing step, got {steps:?}");
        };
        assert!(update.mode_changes);
        assert_eq!(update.to, Billing::OnDemand);
        assert_eq!(update.table, None);
        assert!(update.indexes.is_empty());
    }

    #[test]
    fn capacity_change_sends_only_what_differs() {
        let want = DesiredTable {
            billing: provisioned(10, 5),
            ..desired()
        };
        let mut table = with_provisioned(actual(), 5, 5);
        table.index_capacity.insert(
            "by_collection".into(),
            Some(Capacity { read: 10, write: 5 }),
        );
        let steps = settings(&want, &table, &Owner::test(), &BTreeSet::new());
        let [Step::Billing(update)] = steps.as_slice() else {
            panic!("expected one billing step, got {steps:?}");
        };
        assert!(!update.mode_changes);
        assert_eq!(update.table, Some(Capacity { read: 10, write: 5 }));
        assert!(update.indexes.is_empty(), "index already has 10/5");
        assert_eq!(
            steps[0].change().to_string(),
            "billing mode PROVISIONED (read 5, write 5; index by_collection read 10, write 5) → PROVISIONED (read 10, write 5)"
        );
    }

    #[test]
    fn index_capacity_drift_alone_updates_the_index() {
        let want = DesiredTable {
            billing: provisioned(5, 5),
            ..desired()
        };
        let mut table = with_provisioned(actual(), 5, 5);
        table
            .index_capacity
            .insert("by_collection".into(), Some(Capacity { read: 1, write: 1 }));
        let steps = settings(&want, &table, &Owner::test(), &BTreeSet::new());
        let [Step::Billing(update)] = steps.as_slice() else {
            panic!("expected one billing step, got {steps:?}");
        };
        assert_eq!(update.table, None);
        assert_eq!(
            update.indexes,
            vec![("by_collection".into(), Capacity { read: 5, write: 5 })]
        );
    }

    #[test]
    fn matching_provisioned_table_needs_nothing() {
        let want = DesiredTable {
            billing: provisioned(5, 5),
            ..desired()
        };
        assert_eq!(
            settings(
                &want,
                &with_provisioned(actual(), 5, 5),
                &Owner::test(),
                &BTreeSet::new()
            ),
            vec![]
        );
    }

    #[test]
    fn stream_on_off_and_view_change_in_two_passes() {
        let on = DesiredTable {
            stream: Some(StreamView::NewImage),
            ..desired()
        };
        assert_eq!(
            settings(&on, &actual(), &Owner::test(), &BTreeSet::new()),
            vec![Step::Stream {
                from: None,
                to: Some(StreamView::NewImage)
            }]
        );

        let mut streaming = actual();
        streaming.stream = Some(StreamView::NewImage);
        assert_eq!(
            settings(&desired(), &streaming, &Owner::test(), &BTreeSet::new()),
            vec![Step::Stream {
                from: Some(StreamView::NewImage),
                to: None
            }]
        );

        let keys = DesiredTable {
            stream: Some(StreamView::KeysOnly),
            ..desired()
        };
        assert_eq!(
            settings(&keys, &streaming, &Owner::test(), &BTreeSet::new()),
            vec![Step::Stream {
                from: Some(StreamView::NewImage),
                to: None
            }],
            "first pass disables the old view"
        );
        assert_eq!(
            settings(&on, &streaming, &Owner::test(), &BTreeSet::new()),
            vec![]
        );
    }

    #[test]
    fn ttl_on_off_and_move_in_two_passes() {
        let on = DesiredTable {
            ttl_attribute: Some("expires".into()),
            ..desired()
        };
        assert_eq!(
            settings(&on, &actual(), &Owner::test(), &BTreeSet::new()),
            vec![Step::TimeToLive {
                from: None,
                to: Some("expires".into())
            }]
        );

        let mut enabled = actual();
        enabled.time_to_live = Some(TimeToLive::Enabled("expires".into()));
        assert_eq!(
            settings(&on, &enabled, &Owner::test(), &BTreeSet::new()),
            vec![]
        );
        assert_eq!(
            settings(&desired(), &enabled, &Owner::test(), &BTreeSet::new()),
            vec![Step::TimeToLive {
                from: Some("expires".into()),
                to: None
            }]
        );

        let moved = DesiredTable {
            ttl_attribute: Some("deadline".into()),
            ..desired()
        };
        assert_eq!(
            settings(&moved, &enabled, &Owner::test(), &BTreeSet::new()),
            vec![Step::TimeToLive {
                from: Some("expires".into()),
                to: None
            }],
            "first pass disables the old attribute"
        );
    }

    #[test]
    fn ttl_in_transition_is_waited_for() {
        let moved = DesiredTable {
            ttl_attribute: Some("deadline".into()),
            ..desired()
        };
        let mut disabling = actual();
        disabling.time_to_live = Some(TimeToLive::Disabling("expires".into()));
        assert_eq!(
            settings(&moved, &disabling, &Owner::test(), &BTreeSet::new()),
            vec![]
        );
        assert_eq!(
            waiting_on(&moved, &disabling),
            vec!["TTL on `expires` is being disabled"]
        );
        assert!(waiting_on(&desired(), &disabling).is_empty());

        let mut enabling = actual();
        enabling.time_to_live = Some(TimeToLive::Enabling("deadline".into()));
        assert_eq!(
            settings(&moved, &enabling, &Owner::test(), &BTreeSet::new()),
            vec![]
        );
        assert!(waiting_on(&moved, &enabling).is_empty());
    }

    #[test]
    fn point_in_time_recovery_on_and_off() {
        let on = DesiredTable {
            point_in_time_recovery: true,
            ..desired()
        };
        assert_eq!(
            settings(&on, &actual(), &Owner::test(), &BTreeSet::new()),
            vec![Step::PointInTimeRecovery { to: true }]
        );
        let mut enabled = actual();
        enabled.point_in_time_recovery = Some(true);
        assert_eq!(
            settings(&desired(), &enabled, &Owner::test(), &BTreeSet::new()),
            vec![Step::PointInTimeRecovery { to: false }]
        );
    }

    fn keys(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|key| (*key).to_owned()).collect()
    }

    #[test]
    fn tags_added_changed_and_removed_when_managed_but_aws_tags_kept() {
        let want = DesiredTable {
            tags: BTreeMap::from([
                ("team".into(), "data".into()),
                ("cost-center".into(), "42".into()),
            ]),
            ..desired()
        };
        let mut table = actual();
        table.tags.insert("team".into(), "web".into());
        table.tags.insert("old".into(), "x".into());
        table
            .tags
            .insert("aws:cloudformation:stack-name".into(), "s".into());
        let managed = keys(&["team", "old", "aws:cloudformation:stack-name"]);
        assert_eq!(
            settings(&want, &table, &Owner::test(), &managed),
            vec![Step::Tags {
                set: BTreeMap::from([
                    ("cost-center".into(), "42".into()),
                    ("team".into(), "data".into()),
                ]),
                removed: vec!["old".into()],
            }]
        );
    }

    #[test]
    fn a_tag_the_operator_never_set_is_kept() {
        // Written by AWS Backup, cost allocation or a tag policy: not ours to remove.
        let mut table = actual();
        table.tags.insert("aws-backup:plan".into(), "daily".into());
        table.tags.insert("CostCenter".into(), "1234".into());
        assert_eq!(
            settings(&desired(), &table, &Owner::test(), &keys(&["team"])),
            vec![]
        );
    }

    #[test]
    fn a_managed_tag_dropped_from_the_spec_is_removed() {
        let mut table = actual();
        table.tags.insert("team".into(), "data".into());
        table.tags.insert("CostCenter".into(), "1234".into());
        assert_eq!(
            settings(&desired(), &table, &Owner::test(), &keys(&["team"])),
            vec![Step::Tags {
                set: BTreeMap::new(),
                removed: vec!["team".into()],
            }]
        );
    }

    #[test]
    fn a_tag_someone_else_set_is_managed_once_the_spec_lists_it() {
        let want = DesiredTable {
            tags: BTreeMap::from([("CostCenter".into(), "99".into())]),
            ..desired()
        };
        let mut table = actual();
        table.tags.insert("CostCenter".into(), "1234".into());
        assert_eq!(
            settings(&want, &table, &Owner::test(), &BTreeSet::new()),
            vec![Step::Tags {
                set: BTreeMap::from([("CostCenter".into(), "99".into())]),
                removed: vec![],
            }]
        );
        assert_eq!(managed_tags(&want), keys(&["CostCenter"]));
        assert_eq!(managed_tags(&desired()), BTreeSet::new());
    }

    #[test]
    fn owner_tags_are_always_managed_even_when_not_recorded() {
        let mut table = actual();
        table.tags.remove("metricsapp.dev/uid");
        table
            .tags
            .insert("metricsapp.dev/namespace".into(), "spoofed".into());
        assert_eq!(
            settings(&desired(), &table, &Owner::test(), &BTreeSet::new()),
            vec![Step::Tags {
                set: BTreeMap::from([
                    ("metricsapp.dev/namespace".into(), "team".into()),
                    ("metricsapp.dev/uid".into(), "uid-1".into()),
                ]),
                removed: vec![],
            }]
        );
        let managed = keys(&["metricsapp.dev/uid", "metricsapp.dev/name"]);
        assert_eq!(
            settings(&desired(), &actual(), &Owner::test(), &managed),
            vec![],
            "owner tags are wanted, so recorded or not they are never removed"
        );
    }

    fn recorded() -> TableRecord {
        TableRecord {
            arn: actual().arn,
            managed_tags: BTreeSet::new(),
            recreate: false,
        }
    }

    #[test]
    fn an_absent_table_never_recorded_is_created() {
        assert_eq!(
            start("team-metrics", None, &TableRecord::default()).unwrap(),
            Start::Create
        );
    }

    #[test]
    fn an_existing_table_is_compared_whatever_the_record() {
        for record in [
            TableRecord::default(),
            recorded(),
            TableRecord {
                recreate: true,
                ..recorded()
            },
        ] {
            assert_eq!(
                start("team-metrics", Some(actual()), &record).unwrap(),
                Start::Existing(Box::new(actual())),
                "{record:?}"
            );
        }
    }

    #[test]
    fn an_absent_table_that_was_ours_is_lost_not_recreated() {
        let error = start("team-metrics", None, &recorded()).unwrap_err();
        assert_eq!(error.reason(), "TableLost");
        assert!(error.is_terminal());
        assert_eq!(error.retry_after(), None);
        let message = error.to_string();
        assert!(message.contains("team-metrics"), "{message}");
        assert!(
            message.contains("arn:aws:dynamodb:us-east-1:123456789012:table/team-metrics"),
            "{message}"
        );
        assert!(message.contains("data"), "{message}");
        assert!(
            message.contains(
                "kubectl annotate mapp <this MetricsApp> metricsapp.dev/recreate-table=team-metrics"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_lost_table_is_created_when_the_user_asks_again() {
        let again = TableRecord {
            recreate: true,
            ..recorded()
        };
        assert_eq!(start("team-metrics", None, &again).unwrap(), Start::Create);
    }

    #[test]
    fn owner_tags_are_restored_and_win_over_user_tags() {
        let want = DesiredTable {
            tags: BTreeMap::from([("metricsapp.dev/name".into(), "spoof".into())]),
            ..desired()
        };
        let mut table = actual();
        table.tags.remove("metricsapp.dev/namespace");
        assert_eq!(
            settings(&want, &table, &Owner::test(), &BTreeSet::new()),
            vec![Step::Tags {
                set: BTreeMap::from([("metricsapp.dev/namespace".into(), "team".into())]),
                removed: vec![],
            }]
        );
    }

    #[test]
    fn busy_table_gets_no_steps_and_is_waited_for() {
        let want = DesiredTable {
            billing: provisioned(5, 5),
            point_in_time_recovery: true,
            ..desired()
        };
        for status in ["CREATING", "UPDATING"] {
            let mut table = actual();
            table.status = status.into();
            assert_eq!(
                settings(&want, &table, &Owner::test(), &BTreeSet::new()),
                vec![],
                "{status}"
            );
            assert_eq!(
                waiting_on(&want, &table),
                vec![format!("table is {status}")]
            );
        }
    }

    #[test]
    fn busy_index_defers_update_table_but_not_other_steps() {
        let want = DesiredTable {
            billing: provisioned(5, 5),
            point_in_time_recovery: true,
            ..desired()
        };
        let mut table = actual();
        table.busy_indexes = vec!["by_collection".into()];
        assert_eq!(
            settings(&want, &table, &Owner::test(), &BTreeSet::new()),
            vec![Step::PointInTimeRecovery { to: true }]
        );
        assert_eq!(
            waiting_on(&want, &table),
            vec!["index `by_collection` is not ACTIVE"]
        );
    }

    #[test]
    fn everything_at_once_comes_in_apply_order() {
        let want = DesiredTable {
            billing: provisioned(5, 5),
            point_in_time_recovery: true,
            ttl_attribute: Some("expires".into()),
            stream: Some(StreamView::NewAndOldImages),
            tags: BTreeMap::from([("team".into(), "data".into())]),
            ..desired()
        };
        let steps = settings(&want, &actual(), &Owner::test(), &BTreeSet::new());
        let kinds: Vec<&str> = steps
            .iter()
            .map(|step| match step {
                Step::Create { .. } => "create",
                Step::Adopt { .. } => "adopt",
                Step::Tags { .. } => "tags",
                Step::TimeToLive { .. } => "ttl",
                Step::PointInTimeRecovery { .. } => "pitr",
                Step::Billing(_) => "billing",
                Step::Stream { .. } => "stream",
            })
            .collect();
        assert_eq!(kinds, ["tags", "ttl", "pitr", "billing", "stream"]);
        assert_eq!(
            steps.iter().filter(|s| s.is_update_table()).count(),
            2,
            "both UpdateTable steps are planned; a pass applies the first"
        );
    }

    fn unowned() -> ActualTable {
        let mut table = actual();
        table.tags.clear();
        table
    }

    #[test]
    fn an_absent_table_is_planned_for_creation_with_user_and_owner_tags() {
        let want = DesiredTable {
            tags: BTreeMap::from([("team".into(), "data".into())]),
            ..desired()
        };
        let plan = plan(&want, None, &Owner::test(), false, &TableRecord::default()).unwrap();
        let mut tags = owner_tags(&Owner::test());
        tags.insert("team".into(), "data".into());
        assert_eq!(plan.steps, vec![Step::Create { tags }]);
        assert!(plan.later.is_empty() && plan.waiting.is_empty());
        assert!(
            !plan.is_settled(),
            "a created table is settled on a later pass"
        );
    }

    #[test]
    fn an_absent_table_that_was_ours_is_lost_in_the_plan() {
        let error = plan(&desired(), None, &Owner::test(), true, &recorded()).unwrap_err();
        assert_eq!(error.reason(), "TableLost");
    }

    #[test]
    fn an_unowned_table_not_active_yet_is_waited_for() {
        for adopt in [false, true] {
            let mut table = unowned();
            table.status = "CREATING".into();
            let plan = plan(&desired(), Some(&table), &Owner::test(), adopt, &recorded()).unwrap();
            assert_eq!(
                plan,
                Plan {
                    steps: vec![],
                    later: vec![],
                    waiting: vec!["table is CREATING".into()],
                    managed_tags: BTreeSet::new(),
                },
                "adopt: {adopt}"
            );
        }
    }

    #[test]
    fn an_unowned_table_is_adopted_when_asked() {
        let want = DesiredTable {
            tags: BTreeMap::from([("team".into(), "data".into())]),
            ..desired()
        };
        let plan = plan(&want, Some(&unowned()), &Owner::test(), true, &recorded()).unwrap();
        assert_eq!(
            plan.steps,
            vec![
                Step::Adopt {
                    tags: owner_tags(&Owner::test())
                },
                Step::Tags {
                    set: BTreeMap::from([("team".into(), "data".into())]),
                    removed: vec![],
                },
            ],
            "owner tags are sent by the adoption, not again by the tag step"
        );
        assert_eq!(plan.steps[0].change(), Change::Adopted);
    }

    #[test]
    fn an_unowned_table_without_adopt_is_a_conflict() {
        let error = plan(
            &desired(),
            Some(&unowned()),
            &Owner::test(),
            false,
            &recorded(),
        )
        .unwrap_err();
        assert_eq!(error.reason(), "TableConflict");
        assert!(error.is_terminal());
        assert!(error.to_string().contains("adopt: true"), "{error}");
    }

    #[test]
    fn a_table_of_another_owner_is_a_conflict_even_with_adopt() {
        let other = Owner {
            namespace: "other".into(),
            uid: "uid-2".into(),
            ..Owner::test()
        };
        let mut table = actual();
        table.tags = owner_tags(&other);
        let error = plan(&desired(), Some(&table), &Owner::test(), true, &recorded()).unwrap_err();
        assert_eq!(error.reason(), "TableConflict");
        assert!(
            error
                .to_string()
                .contains("MetricsApp other/metrics (uid uid-2)"),
            "{error}"
        );
    }

    #[test]
    fn a_table_with_another_key_layout_is_incompatible() {
        let mut table = actual();
        table.layout.key_schema = vec![("id".into(), "HASH".into())];
        let error = plan(&desired(), Some(&table), &Owner::test(), false, &recorded()).unwrap_err();
        assert_eq!(error.reason(), "IncompatibleTable");
        assert!(error.is_terminal());
        assert!(error.to_string().contains("primary key"), "{error}");
    }

    #[test]
    fn only_one_update_table_is_sent_per_pass() {
        let want = DesiredTable {
            billing: provisioned(5, 5),
            point_in_time_recovery: true,
            stream: Some(StreamView::NewImage),
            ..desired()
        };
        let plan = plan(&want, Some(&actual()), &Owner::test(), false, &recorded()).unwrap();
        let capacity = Capacity { read: 5, write: 5 };
        assert_eq!(
            plan.steps,
            vec![
                Step::PointInTimeRecovery { to: true },
                Step::Billing(BillingUpdate {
                    from: Billing::OnDemand,
                    to: provisioned(5, 5),
                    mode_changes: true,
                    table: Some(capacity),
                    indexes: vec![("by_collection".into(), capacity)],
                    indexes_before: vec![("by_collection".into(), None)],
                }),
            ]
        );
        assert_eq!(
            plan.later,
            vec![Step::Stream {
                from: None,
                to: Some(StreamView::NewImage)
            }]
        );
        assert!(!plan.is_settled());
    }

    #[test]
    fn a_matching_table_of_ours_is_settled() {
        let plan = plan(
            &desired(),
            Some(&actual()),
            &Owner::test(),
            false,
            &recorded(),
        )
        .unwrap();
        assert!(plan.is_settled(), "{plan:?}");
    }

    #[test]
    fn validate_names_the_problem() {
        let bad_name = DesiredTable {
            name: "a b".into(),
            ..desired()
        };
        let error = validate(&bad_name, &Owner::test()).unwrap_err();
        assert!(error.is_terminal());
        assert_eq!(error.reason(), "InvalidTableSpec");
        assert!(error.to_string().contains("table name `a b`"), "{error}");

        let zero = DesiredTable {
            billing: provisioned(0, 5),
            ..desired()
        };
        assert!(
            validate(&zero, &Owner::test())
                .unwrap_err()
                .to_string()
                .contains("at least 1")
        );

        let reserved = DesiredTable {
            tags: BTreeMap::from([("aws:x".into(), "y".into())]),
            ..desired()
        };
        assert!(
            validate(&reserved, &Owner::test())
                .unwrap_err()
                .to_string()
                .contains("reserved")
        );

        let many = DesiredTable {
            tags: (0..48).map(|i| (format!("k{i}"), "v".into())).collect(),
            ..desired()
        };
        assert!(
            validate(&many, &Owner::test())
                .unwrap_err()
                .to_string()
                .contains("51 tags")
        );
        assert!(validate(&desired(), &Owner::test()).is_ok());
    }
}
