//! Event wording for each [`Change`], e.g.
//! "billing mode PAY_PER_REQUEST → PROVISIONED (read 5, write 5)".

use std::fmt;

use crate::tags::TagChange;

use super::{Change, StreamView};

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Created => write!(f, "table created"),
            Change::Adopted => write!(f, "table adopted (owner tags added)"),
            Change::Billing { from, to } => write!(f, "billing mode {from} → {to}"),
            Change::Stream { from, to } => {
                write!(f, "stream {} → {}", stream(*from), stream(*to))
            }
            Change::TimeToLive { from, to } => {
                write!(f, "TTL {} → {}", ttl(from.as_deref()), ttl(to.as_deref()))
            }
            Change::PointInTimeRecovery { to } => write!(
                f,
                "point-in-time recovery {}",
                if *to { "enabled" } else { "disabled" }
            ),
            Change::Tags { set, removed } => TagChange {
                set: set.clone(),
                removed: removed.clone(),
            }
            .fmt(f),
        }
    }
}

impl StreamView {
    /// The name AWS uses for this view type.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamView::KeysOnly => "KEYS_ONLY",
            StreamView::NewImage => "NEW_IMAGE",
            StreamView::OldImage => "OLD_IMAGE",
            StreamView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }
}

impl fmt::Display for StreamView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn stream(view: Option<StreamView>) -> &'static str {
    view.map_or("off", StreamView::as_str)
}

fn ttl(attribute: Option<&str>) -> String {
    attribute.map_or_else(|| "off".to_owned(), |a| format!("on `{a}`"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn changes_read_like_event_messages() {
        let cases = [
            (Change::Created, "table created"),
            (Change::Adopted, "table adopted (owner tags added)"),
            (
                Change::Stream {
                    from: None,
                    to: Some(StreamView::NewAndOldImages),
                },
                "stream off → NEW_AND_OLD_IMAGES",
            ),
            (
                Change::TimeToLive {
                    from: Some("expires".into()),
                    to: None,
                },
                "TTL on `expires` → off",
            ),
            (
                Change::PointInTimeRecovery { to: true },
                "point-in-time recovery enabled",
            ),
            (
                Change::Tags {
                    set: BTreeMap::from([("team".into(), "data".into())]),
                    removed: vec!["old".into()],
                },
                "tags set team=data; removed old",
            ),
        ];
        for (change, text) in cases {
            assert_eq!(change.to_string(), text);
        }
    }
}
