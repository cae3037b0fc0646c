//! Rollups: totals of hours and counts per customer, project and engineer (and overall)
//! for each day, month and year, so a summary of any day range reads a handful of
//! rollup cells instead of every activity.
//!
//! Pure arithmetic, no I/O: the embedded store applies [`changes`] in the write
//! transaction of the activity, and the rollup Lambda function applies the same changes
//! with `UpdateItem ADD` from the table's stream. Both read with [`spans`], so they
//! agree to the microhour.
//!
//! Hours are kept as whole microhours ([`micro_hours`]): integer sums are exact and
//! order-free, which float sums are not, and exactness is what lets a duplicate-free
//! stream of increments equal a recomputation from the activities.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};

/// Microhours in one hour.
pub const MICROS_PER_HOUR: i64 = 1_000_000;

/// Earliest and latest days an activity may have (`YYYY-MM-DD` with a 4-digit year).
pub const FIRST_DAY: NaiveDate = NaiveDate::from_ymd_opt(0, 1, 1).expect("valid day");
pub const LAST_DAY: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid day");

/// Hours as whole microhours. Non-finite hours (never accepted by validation) count 0.
pub fn micro_hours(hours: f64) -> i64 {
    if hours.is_finite() {
        // `as` saturates, so no input can overflow here.
        (hours * MICROS_PER_HOUR as f64).round() as i64
    } else {
        0
    }
}

/// Microhours as hours rounded to two decimals, which is what people read.
pub fn hours(micro_hours: i64) -> f64 {
    (micro_hours as f64 / (MICROS_PER_HOUR as f64 / 100.0)).round() / 100.0
}

/// What a rollup needs of one activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub customer: String,
    pub project: String,
    pub engineer: String,
    pub date: NaiveDate,
    pub micro_hours: i64,
}

/// What a rollup cell totals by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Customer,
    Project,
    Engineer,
    /// Every activity; the cell's value is empty.
    Total,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Customer,
        Dimension::Project,
        Dimension::Engineer,
        Dimension::Total,
    ];

    /// The name used in stored keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Project => "project",
            Self::Engineer => "engineer",
            Self::Total => "total",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    fn value(self, facts: &Facts) -> &str {
        match self {
            Self::Customer => &facts.customer,
            Self::Project => &facts.project,
            Self::Engineer => &facts.engineer,
            Self::Total => "",
        }
    }
}

/// How long a rollup cell's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `YYYY-MM-DD`
    Day,
    /// `YYYY-MM`
    Month,
    /// `YYYY`
    Year,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Day, Level::Month, Level::Year];

    /// The name used in stored keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Day => "D",
            Self::Month => "M",
            Self::Year => "Y",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The period containing `date`; periods of one level sort as text in time order.
    pub fn period(self, date: NaiveDate) -> String {
        match self {
            Self::Day => format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day()),
            Self::Month => format!("{:04}-{:02}", date.year(), date.month()),
            Self::Year => format!("{:04}", date.year()),
        }
    }
}

/// One rollup cell: the totals of one dimension's value over one period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub dimension: Dimension,
    pub level: Level,
    pub period: String,
    pub value: String,
}

/// Hours and number of activities; a change may make either negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub micro_hours: i64,
    pub count: i64,
}

impl Totals {
    pub fn add(&mut self, other: Totals) {
        self.micro_hours = self.micro_hours.saturating_add(other.micro_hours);
        self.count = self.count.saturating_add(other.count);
    }

    pub fn is_zero(&self) -> bool {
        self.micro_hours == 0 && self.count == 0
    }
}

/// The cells one activity counts in: every dimension at every level.
fn cells_of(facts: &Facts) -> impl Iterator<Item = Cell> + '_ {
    Dimension::ALL.into_iter().flat_map(move |dimension| {
        Level::ALL.into_iter().map(move |level| Cell {
            dimension,
            level,
            period: level.period(facts.date),
            value: dimension.value(facts).to_owned(),
        })
    })
}

/// The increments that turn the rollups of `old` into those of `new`: a create has no
/// `old`, a delete no `new`. Cells that do not change are left out, so an edit of the
/// description changes nothing.
pub fn changes(old: Option<&Facts>, new: Option<&Facts>) -> BTreeMap<Cell, Totals> {
    let mut changes: BTreeMap<Cell, Totals> = BTreeMap::new();
    for (facts, sign) in [(old, -1), (new, 1)] {
        let Some(facts) = facts else { continue };
        let delta = Totals {
            micro_hours: facts.micro_hours.saturating_mul(sign),
            count: sign,
        };
        for cell in cells_of(facts) {
            changes.entry(cell).or_default().add(delta);
        }
    }
    changes.retain(|_, totals| !totals.is_zero());
    changes
}

/// Consecutive periods of one level, inclusive at both ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub level: Level,
    pub first: String,
    pub last: String,
}

/// The fewest spans of days, months and years that cover `from..=to` exactly (at most
/// five: days, months, years, months, days). Empty when `from > to`.
pub fn spans(from: NaiveDate, to: NaiveDate) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let mut day = from;
    while day <= to {
        let (level, last) = if day.ordinal() == 1 && year_end(day) <= to {
            let mut last = year_end(day);
            while let Some(next) = last.succ_opt().map(year_end)
                && next <= to
            {
                last = next;
            }
            (Level::Year, last)
        } else if day.day() == 1 && month_end(day) <= to {
            let mut last = month_end(day);
            while last.month() != 12
                && let Some(next) = last.succ_opt().map(month_end)
                && next <= to
            {
                last = next;
            }
            (Level::Month, last)
        } else {
            (Level::Day, month_end(day).min(to))
        };
        spans.push(Span {
            level,
            first: level.period(day),
            last: level.period(last),
        });
        match last.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    spans
}

fn month_end(day: NaiveDate) -> NaiveDate {
    day.with_day(1)
        .and_then(|first| first.checked_add_months(Months::new(1)))
        .and_then(|next| next.pred_opt())
        .unwrap_or(LAST_DAY)
}

fn year_end(day: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(day.year(), 12, 31).unwrap_or(LAST_DAY)
}

/// The ISO 8601 week of a `YYYY-MM-DD` day period, e.g. `2026-W47`.
pub fn iso_week(day_period: &str) -> Option<String> {
    let date = NaiveDate::parse_from_str(day_period, "%Y-%m-%d").ok()?;
    let week = date.iso_week();
    Some(format!("{}-W{:02}", week.year(), week.week()))
}

/// The DynamoDB layout of rollups, in the app's single table (see `metrics-app-table`).
///
/// | item | `pk` | `sk` |
/// | --- | --- | --- |
/// | rollup cell | `ROLLUP#<dimension>#<level>` | `<period>#<value>` |
/// | stream record seen | `ROLLUP_EVENT#<eventID>` | `ROLLUP_EVENT` |
///
/// One partition per dimension and level, so a span is one `Query` with
/// `sk BETWEEN`. Cells carry [`dynamodb::MICRO_HOURS`] and [`dynamodb::COUNT`].
pub mod dynamodb {
    use super::{Cell, Dimension, Level, Span};

    /// Attribute with a cell's hours, in microhours.
    pub const MICRO_HOURS: &str = "micro_hours";
    /// Attribute with a cell's number of activities.
    pub const COUNT: &str = "count";
    /// Set on an activity once its values are counted in the rollups. The app sets it
    /// on every activity it creates; `rollups rebuild` sets it on older ones, and the
    /// function counts an image only when it carries it. So each activity is counted
    /// exactly once, whether it predates the function or not.
    pub const ROLLED_UP: &str = "rolled_up";
    /// Partition key prefix of a stream record already applied.
    pub const EVENT_PREFIX: &str = "ROLLUP_EVENT#";
    /// Sort key of a stream record already applied.
    pub const EVENT_SORT_KEY: &str = "ROLLUP_EVENT";
    /// Partition key prefix of rollup cells.
    pub const CELL_PREFIX: &str = "ROLLUP#";
    /// Stream records are kept 24 hours; a record seen is remembered twice as long.
    pub const EVENT_TTL_SECONDS: i64 = 48 * 3600;

    pub fn partition(dimension: Dimension, level: Level) -> String {
        format!("{CELL_PREFIX}{}#{}", dimension.name(), level.name())
    }

    /// `(pk, sk)` of a cell.
    pub fn key(cell: &Cell) -> (String, String) {
        (
            partition(cell.dimension, cell.level),
            format!("{}#{}", cell.period, cell.value),
        )
    }

    /// `(lowest, highest)` sort keys of the cells in a span, for `BETWEEN`.
    pub fn sort_key_range(span: &Span) -> (String, String) {
        // Periods never contain `#` or `$`, and `$` sorts right after `#`.
        (format!("{}#", span.first), format!("{}$", span.last))
    }

    /// `(period, value)` of a cell's sort key.
    pub fn parse_sort_key(sk: &str) -> Option<(&str, &str)> {
        sk.split_once('#')
    }

    /// `(pk, sk)` of the item that says a stream record was applied.
    pub fn event_key(event_id: &str) -> (String, String) {
        (
            format!("{EVENT_PREFIX}{event_id}"),
            EVENT_SORT_KEY.to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid day")
    }

    fn facts(customer: &str, date: NaiveDate, hours: f64) -> Facts {
        Facts {
            customer: customer.into(),
            project: "p".into(),
            engineer: "e".into(),
            date,
            micro_hours: micro_hours(hours),
        }
    }

    fn span(level: Level, first: &str, last: &str) -> Span {
        Span {
            level,
            first: first.into(),
            last: last.into(),
        }
    }

    #[test]
    fn an_edit_that_moves_hours_between_customers_moves_only_those_cells() {
        let old = facts("a", day(2026, 11, 20), 1.5);
        let new = facts("b", day(2026, 11, 20), 2.0);
        let changes = changes(Some(&old), Some(&new));
        let customer_day = |value: &str| Cell {
            dimension: Dimension::Customer,
            level: Level::Day,
            period: "2026-11-20".into(),
            value: value.into(),
        };
        assert_eq!(
            changes[&customer_day("a")],
            Totals {
                micro_hours: -1_500_000,
                count: -1
            }
        );
        assert_eq!(
            changes[&customer_day("b")],
            Totals {
                micro_hours: 2_000_000,
                count: 1
            }
        );
        let total_day = Cell {
            dimension: Dimension::Total,
            level: Level::Day,
            period: "2026-11-20".into(),
            value: String::new(),
        };
        assert_eq!(
            changes[&total_day],
            Totals {
                micro_hours: 500_000,
                count: 0
            }
        );
    }

    #[test]
    fn an_unchanged_activity_changes_nothing() {
        let same = facts("a", day(2026, 1, 1), 3.0);
        assert!(changes(Some(&same), Some(&same)).is_empty());
    }

    #[test]
    fn spans_use_whole_months_and_years_where_they_fit() {
        assert_eq!(
            spans(day(2024, 11, 15), day(2026, 2, 3)),
            vec![
                span(Level::Day, "2024-11-15", "2024-11-30"),
                span(Level::Month, "2024-12", "2024-12"),
                span(Level::Year, "2025", "2025"),
                span(Level::Month, "2026-01", "2026-01"),
                span(Level::Day, "2026-02-01", "2026-02-03"),
            ]
        );
        assert_eq!(
            spans(FIRST_DAY, LAST_DAY),
            vec![span(Level::Year, "0000", "9999")]
        );
        assert_eq!(
            spans(day(2026, 2, 1), day(2026, 2, 28)),
            vec![span(Level::Month, "2026-02", "2026-02")]
        );
        assert!(spans(day(2026, 2, 2), day(2026, 2, 1)).is_empty());
    }

    #[test]
    fn hours_round_to_two_decimals() {
        assert_eq!(hours(micro_hours(1.1) + micro_hours(2.2)), 3.3);
        assert_eq!(micro_hours(f64::NAN), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Create(Facts),
        Edit(usize, Facts),
        Delete(usize),
    }

    fn any_day() -> impl Strategy<Value = NaiveDate> {
        // A few years around ends of months and years, where spans change level.
        (2023i32..2027, 1u32..13, 1u32..32).prop_map(|(y, m, d)| {
            NaiveDate::from_ymd_opt(y, m, d)
                .or_else(|| NaiveDate::from_ymd_opt(y, m, 28))
                .unwrap_or(FIRST_DAY)
        })
    }

    fn any_facts() -> impl Strategy<Value = Facts> {
        (
            prop::sample::select(vec!["acme", "globex", "initech"]),
            prop::sample::select(vec!["p1", "p2"]),
            prop::sample::select(vec!["ada", "bob"]),
            any_day(),
            1i64..=24_000_000,
        )
            .prop_map(|(c, p, e, date, micro_hours)| Facts {
                customer: c.into(),
                project: p.into(),
                engineer: e.into(),
                date,
                micro_hours,
            })
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any_facts().prop_map(Op::Create),
            2 => (any::<usize>(), any_facts()).prop_map(|(i, f)| Op::Edit(i, f)),
            1 => any::<usize>().prop_map(Op::Delete),
        ]
    }

    /// Reads a span from the rollups the way the stores do: a range of periods.
    fn read(
        rollups: &BTreeMap<Cell, Totals>,
        dimension: Dimension,
        spans: &[Span],
    ) -> BTreeMap<String, Totals> {
        let mut out: BTreeMap<String, Totals> = BTreeMap::new();
        for (cell, totals) in rollups {
            let inside = spans
                .iter()
                .any(|s| s.level == cell.level && s.first <= cell.period && cell.period <= s.last);
            if cell.dimension == dimension && inside {
                out.entry(cell.value.clone()).or_default().add(*totals);
            }
        }
        out.retain(|_, t| !t.is_zero());
        out
    }

    fn brute_force(
        activities: &[Facts],
        dimension: Dimension,
        from: NaiveDate,
        to: NaiveDate,
    ) -> BTreeMap<String, Totals> {
        let mut out: BTreeMap<String, Totals> = BTreeMap::new();
        for facts in activities.iter().filter(|f| from <= f.date && f.date <= to) {
            out.entry(dimension.value(facts).to_owned())
                .or_default()
                .add(Totals {
                    micro_hours: facts.micro_hours,
                    count: 1,
                });
        }
        out
    }

    proptest! {
        #[test]
        fn rollups_equal_a_recomputation_after_any_creates_edits_and_deletes(
            ops in prop::collection::vec(any_op(), 0..60),
            from in any_day(),
            to in any_day(),
        ) {
            let mut activities: Vec<Facts> = Vec::new();
            let mut rollups: BTreeMap<Cell, Totals> = BTreeMap::new();
            for op in ops {
                let (old, new) = match op {
                    Op::Create(new) => {
                        activities.push(new.clone());
                        (None, Some(new))
                    }
                    Op::Edit(_, _) | Op::Delete(_) if activities.is_empty() => continue,
                    Op::Edit(i, new) => {
                        let i = i % activities.len();
                        let old = std::mem::replace(&mut activities[i], new.clone());
                        (Some(old), Some(new))
                    }
                    Op::Delete(i) => {
                        let old = activities.swap_remove(i % activities.len());
                        (Some(old), None)
                    }
                };
                for (cell, delta) in changes(old.as_ref(), new.as_ref()) {
                    rollups.entry(cell).or_default().add(delta);
                }
            }
            let covered = spans(from, to);
            for dimension in Dimension::ALL {
                prop_assert_eq!(
                    read(&rollups, dimension, &covered),
                    brute_force(&activities, dimension, from, to)
                );
            }
            prop_assert_eq!(
                read(&rollups, Dimension::Total, &spans(FIRST_DAY, LAST_DAY)),
                brute_force(&activities, Dimension::Total, FIRST_DAY, LAST_DAY)
            );
        }

        #[test]
        fn spans_cover_every_day_of_the_range_exactly_once(from in any_day(), to in any_day()) {
            let covered = spans(from, to);
            prop_assert!(covered.len() <= 5);
            let mut day = from;
            while day <= to {
                let containing = covered
                    .iter()
                    .filter(|s| {
                        let p = s.level.period(day);
                        s.first <= p && p <= s.last
                    })
                    .count();
                prop_assert_eq!(containing, 1, "day {}", day);
                day = day.succ_opt().unwrap_or(LAST_DAY);
            }
            for outside in [from.pred_opt(), to.succ_opt()].into_iter().flatten() {
                let outside_every_span = covered.iter().all(|s| {
                    let p = s.level.period(outside);
                    !(s.first <= p && p <= s.last)
                });
                prop_assert!(outside_every_span || from > to);
            }
        }
    }
}
