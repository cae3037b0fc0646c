//! Who owns an AWS resource, read from the tags the operator writes on every table and
//! function it creates or adopts, and whether a pass may change it. The uid decides: a
//! MetricsApp deleted and re-created under the same name gets a new uid, and must adopt
//! the old resource explicitly.

use std::collections::BTreeMap;

pub const NAMESPACE_TAG: &str = "metricsapp.dev/namespace";
pub const NAME_TAG: &str = "metricsapp.dev/name";
pub const UID_TAG: &str = "metricsapp.dev/uid";

/// The MetricsApp that owns a table or function, written on it as tags so that a
/// resource made by someone else is never mistaken for ours.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

#[cfg(test)]
impl Owner {
    /// The MetricsApp `team/metrics`, with uid `uid-1`.
    pub(crate) fn test() -> Owner {
        Owner {
            namespace: "team".into(),
            name: "metrics".into(),
            uid: "uid-1".into(),
        }
    }
}

/// The tags that mark a resource as `owner`'s.
pub fn owner_tags(owner: &Owner) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAMESPACE_TAG.to_owned(), owner.namespace.clone()),
        (NAME_TAG.to_owned(), owner.name.clone()),
        (UID_TAG.to_owned(), owner.uid.clone()),
    ])
}

/// Whether a pass may change a resource, as far as its tags tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Tagged with this MetricsApp's uid.
    Ours,
    /// No owner uid tag and `adopt` set: take it over by adding the owner tags.
    Adopt,
    /// No owner uid tag (made by someone else, or its tag was removed) and `adopt` not
    /// set: not ours to touch.
    Unowned,
    /// Tagged with another MetricsApp's uid; says who, for the conflict message.
    Other(String),
}

/// Reads `tags` for `owner`; `adopt` is the spec's permission to take over a resource
/// without an owner tag (never one of another MetricsApp).
pub fn admit(tags: &BTreeMap<String, String>, owner: &Owner, adopt: bool) -> Admission {
    match tags.get(UID_TAG) {
        None if adopt => Admission::Adopt,
        None => Admission::Unowned,
        Some(uid) if *uid == owner.uid => Admission::Ours,
        Some(uid) => {
            let tag = |key: &str| tags.get(key).map_or("?", String::as_str).to_owned();
            Admission::Other(format!(
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

    #[test]
    fn a_table_tagged_with_our_uid_is_ours() {
        for adopt in [false, true] {
            assert_eq!(
                admit(&owner_tags(&Owner::test()), &Owner::test(), adopt),
                Admission::Ours
            );
        }
    }

    #[test]
    fn a_table_without_uid_tag_is_unowned_even_with_our_name() {
        let mut tags = owner_tags(&Owner::test());
        tags.remove(UID_TAG);
        assert_eq!(admit(&tags, &Owner::test(), false), Admission::Unowned);
        assert_eq!(
            admit(&BTreeMap::new(), &Owner::test(), false),
            Admission::Unowned
        );
    }

    #[test]
    fn a_resource_without_uid_tag_is_adopted_only_when_asked() {
        assert_eq!(
            admit(&BTreeMap::new(), &Owner::test(), true),
            Admission::Adopt
        );
    }

    #[test]
    fn a_table_of_another_uid_names_its_owner() {
        let mut other = Owner::test();
        other.uid = "uid-2".into();
        other.namespace = "other".into();
        for adopt in [false, true] {
            assert_eq!(
                admit(&owner_tags(&other), &Owner::test(), adopt),
                Admission::Other("MetricsApp other/metrics (uid uid-2)".into())
            );
        }
    }
}
