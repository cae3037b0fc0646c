//! Event wording for each [`Change`], e.g. "configuration updated: memory, timeout",
//! and the names AWS uses for the module's small enums.

use std::fmt;

use crate::tags::TagChange;

use super::{Architecture, Change, StartingPosition, UrlAuth};

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Created => write!(f, "function created"),
            Change::Adopted => write!(f, "function adopted (owner tags added)"),
            Change::CodeUpdated { from, to } => match from {
                Some(from) if from == to => write!(f, "code redeployed ({to})"),
                Some(from) => write!(f, "code updated {from} → {to}"),
                None => write!(f, "code updated to {to}"),
            },
            Change::ConfigurationUpdated { fields } => {
                write!(f, "configuration updated: {}", fields.join(", "))
            }
            Change::Tags { set, removed } => TagChange {
                set: set.clone(),
                removed: removed.clone(),
            }
            .fmt(f),
            Change::Concurrency { to: Some(to) } => write!(f, "reserved concurrency set to {to}"),
            Change::Concurrency { to: None } => write!(f, "reserved concurrency removed"),
            Change::TriggerCreated => write!(f, "stream trigger created"),
            Change::TriggerUpdated { fields } => {
                write!(f, "stream trigger updated: {}", fields.join(", "))
            }
            Change::TriggerDeleted => write!(f, "stream trigger deleted"),
            Change::UrlCreated => write!(f, "function URL created"),
            Change::UrlUpdated => write!(f, "function URL updated"),
            Change::UrlDeleted => write!(f, "function URL deleted"),
        }
    }
}

impl Architecture {
    /// The name Lambda uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

impl StartingPosition {
    /// The name Lambda uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StartingPosition::TrimHorizon => "TRIM_HORIZON",
            StartingPosition::Latest => "LATEST",
        }
    }
}

impl UrlAuth {
    /// The name Lambda uses.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlAuth::AwsIam => "AWS_IAM",
            UrlAuth::None => "NONE",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn changes_read_like_event_messages() {
        let cases = [
            (
                Change::CodeUpdated {
                    from: Some("etag:a".into()),
                    to: "etag:b".into(),
                },
                "code updated etag:a → etag:b",
            ),
            (
                Change::CodeUpdated {
                    from: Some("etag:a".into()),
                    to: "etag:a".into(),
                },
                "code redeployed (etag:a)",
            ),
            (
                Change::ConfigurationUpdated {
                    fields: vec!["memory".into(), "env".into()],
                },
                "configuration updated: memory, env",
            ),
            (
                Change::Tags {
                    set: BTreeMap::from([("team".into(), "data".into())]),
                    removed: vec!["old".into()],
                },
                "tags set team=data; removed old",
            ),
            (
                Change::Concurrency { to: Some(5) },
                "reserved concurrency set to 5",
            ),
            (
                Change::Concurrency { to: None },
                "reserved concurrency removed",
            ),
            (
                Change::TriggerUpdated {
                    fields: vec!["batch size".into()],
                },
                "stream trigger updated: batch size",
            ),
        ];
        for (change, text) in cases {
            assert_eq!(change.to_string(), text);
        }
    }
}
