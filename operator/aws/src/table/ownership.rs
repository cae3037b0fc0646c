//! Who owns a table, read from the tags the operator writes on every table it creates
//! or adopts. The uid decides: a MetricsApp deleted and re-created under the same name
//! gets a new uid, and must adopt the old table explicitly.

use std::collections::BTreeMap;

use super::Owner;

pub const NAMESPACE_TAG: &str = "metricsapp.dev/namespace";
pub const NAME_TAG: &str = "metricsapp.dev/name";
pub const UID_TAG: &str = "metricsapp.dev/uid";

/// The tags that mark a table as `owner`'s.
pub fn owner_tags(owner: &Owner) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAMESPACE_TAG.to_owned(), owner.namespace.clone()),
        (NAME_TAG.to_owned(), owner.name.clone()),
        (UID_TAG.to_owned(), owner.uid.clone()),
    ])
}

/// Whose table this is, as far as its tags tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged with this MetricsApp's uid.
    Ours,
    /// No owner uid tag: made by someone else, or its tag was removed.
    Unowned,
    /// Tagged with another MetricsApp's uid; says who, for the conflict message.
    Other(String),
}

pub fn ownership(tags: &BTreeMap<String, String>, owner: &Owner) -> Ownership {
    match tags.get(UID_TAG) {
        None => Ownership::Unowned,
        Some(uid) if *uid == owner.uid => Ownership::Ours,
        Some(uid) => {
            let tag = |key: &str| tags.get(key).map_or("?", String::as_str).to_owned();
            Ownership::Other(format!(
                "MetricsApp {}/{} (uid {uid})",
                tag(NAMESPACE_TAG),
                tag(NAME_TAG)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            namespace: "team".into(),
            name: "metrics".into(),
            uid: "uid-1".into(),
        }
    }

    #[test]
    fn a_table_tagged_with_our_uid_is_ours() {
        assert_eq!(ownership(&owner_tags(&owner()), &owner()), Ownership::Ours);
    }

    #[test]
    fn a_table_without_uid_tag_is_unowned_even_with_our_name() {
        let mut tags = owner_tags(&owner());
        tags.remove(UID_TAG);
        assert_eq!(ownership(&tags, &owner()), Ownership::Unowned);
        assert_eq!(ownership(&BTreeMap::new(), &owner()), Ownership::Unowned);
    }

    #[test]
    fn a_table_of_another_uid_names_its_owner() {
        let mut other = owner();
        other.uid = "uid-2".into();
        other.namespace = "other".into();
        assert_eq!(
            ownership(&owner_tags(&other), &owner()),
            Ownership::Other("MetricsApp other/metrics (uid uid-2)".into())
        );
    }
}
