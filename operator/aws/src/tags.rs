//! Tag rules shared by every resource the operator tags: what AWS accepts, the wanted
//! set (the user's tags plus the owner tags, which win), and the one diff between the
//! wanted tags and those on the resource ([`TagChange`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::owner::{Owner, owner_tags};

/// Tags per resource, in DynamoDB and Lambda alike.
pub const MAX_TAGS: usize = 50;
/// Keys AWS keeps for itself: never set, never removed by the operator.
pub const AWS_RESERVED_PREFIX: &str = "aws:";

/// User tags plus owner tags; owner tags win.
pub fn wanted(tags: &BTreeMap<String, String>, owner: &Owner) -> BTreeMap<String, String> {
    let mut wanted = tags.clone();
    wanted.extend(owner_tags(owner));
    wanted
}

/// The tags to set and remove on one resource. `Display` says it in the words of an
/// Event message, e.g. "tags set team=data; removed old".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TagChange {
    /// Added or changed (key → value).
    pub set: BTreeMap<String, String>,
    /// Removed keys.
    pub removed: Vec<String>,
}

impl TagChange {
    /// Sets every `wanted` tag that is missing or differs on the resource (`actual`).
    /// Removes a tag only when the operator set it before (`managed`), it is no longer
    /// wanted and it is still there: tags written by AWS Backup, cost allocation or an
    /// organization's tag policy are not ours to remove. Owner tags are always wanted,
    /// so they are always restored and never removed. Keys under `aws:` belong to AWS:
    /// never set nor removed, whatever the record says. `None` when nothing differs.
    pub fn between(
        wanted: &BTreeMap<String, String>,
        actual: &BTreeMap<String, String>,
        managed: &BTreeSet<String>,
    ) -> Option<TagChange> {
        let set: BTreeMap<String, String> = wanted
            .iter()
            .filter(|(key, value)| !is_reserved(key) && actual.get(*key) != Some(*value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let removed: Vec<String> = actual
            .keys()
            .filter(|key| managed.contains(*key) && !wanted.contains_key(*key) && !is_reserved(key))
            .cloned()
            .collect();
        (!set.is_empty() || !removed.is_empty()).then_some(TagChange { set, removed })
    }
}

impl fmt::Display for TagChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            let pairs: Vec<String> = self.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.push(format!("set {}", pairs.join(", ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", self.removed.join(", ")));
        }
        write!(f, "tags {}", parts.join("; "))
    }
}

fn is_reserved(key: &str) -> bool {
    key.starts_with(AWS_RESERVED_PREFIX)
}

/// Checks user tags for what `service` would refuse, in words that name the tag.
pub fn validate(
    tags: &BTreeMap<String, String>,
    owner: &Owner,
    service: &str,
) -> Result<(), String> {
    for (key, value) in tags {
        if !(1..=128).contains(&key.chars().count()) {
            return Err(format!("tag key `{key}` must be 1 to 128 characters"));
        }
        if value.chars().count() > 256 {
            return Err(format!(
                "value of tag `{key}` must be at most 256 characters"
            ));
        }
        if key.starts_with(AWS_RESERVED_PREFIX) {
            return Err(format!(
                "tag key `{key}`: the `aws:` prefix is reserved by AWS"
            ));
        }
    }
    let total = wanted(tags, owner).len();
    if total > MAX_TAGS {
        return Err(format!(
            "{total} tags (with the 3 owner tags); {service} allows at most {MAX_TAGS}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tags_win_over_user_tags() {
        let tags = BTreeMap::from([("metricsapp.dev/uid".into(), "forged".into())]);
        assert_eq!(wanted(&tags, &Owner::test())["metricsapp.dev/uid"], "uid-1");
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn a_tag_change_sets_what_differs_and_removes_only_managed_keys() {
        let wanted = tags(&[("team", "data"), ("cost-center", "42")]);
        let actual = tags(&[("team", "web"), ("old", "x"), ("CostCenter", "1234")]);
        let managed = BTreeSet::from(["team".to_owned(), "old".to_owned()]);
        let change = TagChange::between(&wanted, &actual, &managed).unwrap();
        assert_eq!(
            change,
            TagChange {
                set: tags(&[("cost-center", "42"), ("team", "data")]),
                removed: vec!["old".into()],
            }
        );
        assert_eq!(
            change.to_string(),
            "tags set cost-center=42, team=data; removed old"
        );
        assert_eq!(TagChange::between(&actual, &actual, &managed), None);
    }

    #[test]
    fn aws_reserved_keys_are_never_set_nor_removed() {
        let actual = tags(&[("aws:cloudformation:stack-name", "s")]);
        let managed = BTreeSet::from(["aws:cloudformation:stack-name".to_owned()]);
        assert_eq!(
            TagChange::between(&BTreeMap::new(), &actual, &managed),
            None
        );
        let wanted = tags(&[("aws:x", "y")]);
        assert_eq!(
            TagChange::between(&wanted, &BTreeMap::new(), &managed),
            None
        );
    }

    #[test]
    fn what_aws_refuses_is_named() {
        let too_long = BTreeMap::from([("k".repeat(129), "v".into())]);
        assert!(
            validate(&too_long, &Owner::test(), "Lambda")
                .unwrap_err()
                .contains("1 to 128")
        );
        let reserved = BTreeMap::from([("aws:x".into(), "v".into())]);
        assert!(
            validate(&reserved, &Owner::test(), "Lambda")
                .unwrap_err()
                .contains("reserved")
        );
        let many: BTreeMap<String, String> =
            (0..48).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let error = validate(&many, &Owner::test(), "DynamoDB").unwrap_err();
        assert!(
            error.contains("51 tags") && error.contains("DynamoDB"),
            "{error}"
        );
        assert_eq!(validate(&BTreeMap::new(), &Owner::test(), "Lambda"), Ok(()));
    }
}
