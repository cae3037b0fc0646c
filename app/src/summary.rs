//! Totals of hours and counts per customer, project, engineer or ISO week, read from
//! the stores' rollups ([`from_rollups`]): O(groups × spans of the range), never
//! O(activities). [`summarize`] is the same totals computed from activities, the
//! definition the rollups are tested against.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use metrics_app_rollup::{Dimension, FIRST_DAY, LAST_DAY, Level, Span, Totals, iso_week, spans};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::activity::Activity;
use crate::error::Result;
use crate::store::{Store, facts};

/// What to group a summary by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Customer,
    Project,
    Engineer,
    /// ISO 8601 week, e.g. `2026-W47`.
    Week,
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "customer" => Some(Self::Customer),
            "project" => Some(Self::Project),
            "engineer" => Some(Self::Engineer),
            "week" => Some(Self::Week),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Project => "project",
            Self::Engineer => "engineer",
            Self::Week => "week",
        }
    }

    fn key(self, activity: &Activity) -> String {
        let fields = &activity.fields;
        match self {
            Self::Customer => fields.customer.clone(),
            Self::Project => fields.project.clone(),
            Self::Engineer => fields.engineer.clone(),
            Self::Week => {
                let week = fields.date.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
        }
    }
}

/// Hours and number of activities of one group.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupTotal {
    /// The customer, project, engineer or week.
    pub group: String,
    pub hours: f64,
    pub count: u64,
}

/// Totals per group: by hours, most first, for names; in time order for weeks.
pub fn summarize(activities: &[Activity], group_by: GroupBy) -> Vec<GroupTotal> {
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for activity in activities {
        totals
            .entry(group_by.key(activity))
            .or_default()
            .add(Totals {
                micro_hours: facts(&activity.fields).micro_hours,
                count: 1,
            });
    }
    finish(totals, group_by)
}

/// The same totals as [`summarize`] over the activities of days `from..=to` (all time
/// when unbounded), read from the store's rollups.
pub async fn from_rollups(
    store: &dyn Store,
    group_by: GroupBy,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<GroupTotal>> {
    let (from, to) = (from.unwrap_or(FIRST_DAY), to.unwrap_or(LAST_DAY));
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    let dimension = match group_by {
        GroupBy::Customer => Dimension::Customer,
        GroupBy::Project => Dimension::Project,
        GroupBy::Engineer => Dimension::Engineer,
        GroupBy::Week => {
            // Weeks cross months and years, so they add up day cells (one per day).
            if from <= to {
                let days = Span {
                    level: Level::Day,
                    first: Level::Day.period(from),
                    last: Level::Day.period(to),
                };
                for cell in store.rollups(Dimension::Total, &days).await? {
                    if let Some(week) = iso_week(&cell.period) {
                        totals.entry(week).or_default().add(cell.totals);
                    }
                }
            }
            return Ok(finish(totals, group_by));
        }
    };
    for span in spans(from, to) {
        for cell in store.rollups(dimension, &span).await? {
            totals.entry(cell.value).or_default().add(cell.totals);
        }
    }
    Ok(finish(totals, group_by))
}

fn finish(totals: BTreeMap<String, Totals>, group_by: GroupBy) -> Vec<GroupTotal> {
    let mut groups: Vec<GroupTotal> = totals
        .into_iter()
        .filter(|(_, totals)| totals.count > 0)
        .map(|(group, totals)| GroupTotal {
            group,
            hours: metrics_app_rollup::hours(totals.micro_hours),
            count: u64::try_from(totals.count).unwrap_or(0),
        })
        .collect();
    match group_by {
        GroupBy::Week => {}
        GroupBy::Customer | GroupBy::Project | GroupBy::Engineer => {
            groups.sort_by(|a, b| {
                b.hours
                    .total_cmp(&a.hours)
                    .then_with(|| a.group.cmp(&b.group))
            });
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::ActivityFields;
    use chrono::{NaiveDate, Utc};

    fn activity(customer: &str, date: (i32, u32, u32), hours: f64) -> Activity {
        Activity::new(
            ActivityFields {
                customer: customer.into(),
                project: "p".into(),
                engineer: "e".into(),
                date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).expect("day"),
                hours,
                description: String::new(),
            },
            Utc::now(),
        )
    }

    #[test]
    fn customers_are_totalled_most_hours_first() {
        let all = [
            activity("b", (2026, 1, 1), 1.1),
            activity("a", (2026, 1, 2), 0.2),
            activity("b", (2026, 1, 3), 2.2),
        ];
        let totals = summarize(&all, GroupBy::Customer);
        assert_eq!(
            totals,
            vec![
                GroupTotal {
                    group: "b".into(),
                    hours: 3.3,
                    count: 2
                },
                GroupTotal {
                    group: "a".into(),
                    hours: 0.2,
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn weeks_follow_iso_8601_across_year_ends() {
        let all = [
            activity("a", (2027, 1, 1), 1.0),
            activity("a", (2026, 12, 28), 2.0),
            activity("a", (2026, 12, 27), 4.0),
        ];
        let totals = summarize(&all, GroupBy::Week);
        let weeks: Vec<(&str, f64)> = totals.iter().map(|t| (t.group.as_str(), t.hours)).collect();
        assert_eq!(weeks, vec![("2026-W52", 4.0), ("2026-W53", 3.0)]);
    }
}
