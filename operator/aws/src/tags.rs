//! Tag rules shared by every resource the operator tags: what AWS accepts, and the
//! wanted set (the user's tags plus the owner tags, which win).

use std::collections::BTreeMap;

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

    fn owner() -> Owner {
        Owner {
            namespace: "team".into(),
            name: "metrics".into(),
            uid: "uid-1".into(),
        }
    }

    #[test]
    fn owner_tags_win_over_user_tags() {
        let tags = BTreeMap::from([("metricsapp.dev/uid".into(), "forged".into())]);
        assert_eq!(wanted(&tags, &owner())["metricsapp.dev/uid"], "uid-1");
    }

    #[test]
    fn what_aws_refuses_is_named() {
        let too_long = BTreeMap::from([("k".repeat(129), "v".into())]);
        assert!(
            validate(&too_long, &owner(), "Lambda")
                .unwrap_err()
                .contains("1 to 128")
        );
        let reserved = BTreeMap::from([("aws:x".into(), "v".into())]);
        assert!(
            validate(&reserved, &owner(), "Lambda")
                .unwrap_err()
                .contains("reserved")
        );
        let many: BTreeMap<String, String> =
            (0..48).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let error = validate(&many, &owner(), "DynamoDB").unwrap_err();
        assert!(
            error.contains("51 tags") && error.contains("DynamoDB"),
            "{error}"
        );
        assert_eq!(validate(&BTreeMap::new(), &owner(), "Lambda"), Ok(()));
    }
}
