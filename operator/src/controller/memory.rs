//! What one operator process remembers between passes, and forgets when a MetricsApp
//! goes: what it applied to each app object (to tell a hand edit from its own write),
//! and the last settled report of each AWS resource (so that a pass at rest reads
//! each resource once; see `metricsapp_aws::Fingerprint`).
//!
//! Nothing here is needed for correctness after a restart: an empty memory means
//! re-applying each object once and a full AWS read of each resource once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use metricsapp_aws::function::FunctionReport;
use metricsapp_aws::table::TableReport;

use super::children::Applied;

/// Everything remembered, keyed by `Kind/namespace/name` for applied objects, by
/// `namespace/name` for tables and `namespace/name/function` for functions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memory {
    pub(super) applied: HashMap<String, Applied>,
    tables: HashMap<String, Settled<TableReport>>,
    functions: HashMap<String, Settled<FunctionReport>>,
}

/// A settled report and when the full read behind it was made.
#[derive(Debug, Clone)]
struct Settled<R> {
    report: R,
    read_fully_at: Instant,
}

impl Memory {
    /// The table's last settled report, to check against with one read, while its full
    /// read is younger than `period` (zero: always read fully).
    pub(super) fn settled_table(&self, app: &str, period: Duration) -> Option<TableReport> {
        young(self.tables.get(app), period)
    }

    pub(super) fn settled_function(
        &self,
        app: &str,
        function: &str,
        period: Duration,
    ) -> Option<FunctionReport> {
        young(self.functions.get(&function_key(app, function)), period)
    }

    /// Keeps the table's report when it can start a one-read pass, else forgets.
    pub(super) fn keep_table(&mut self, app: &str, report: Option<&TableReport>) {
        let report = report.filter(|r| r.fingerprint.is_some());
        keep(&mut self.tables, app.to_owned(), report);
    }

    pub(super) fn keep_function(
        &mut self,
        app: &str,
        function: &str,
        report: Option<&FunctionReport>,
    ) {
        let report = report.filter(|r| r.fingerprint.is_some());
        keep(&mut self.functions, function_key(app, function), report);
    }

    /// The same memory with nothing remembered of AWS, as after the full-read period.
    #[cfg(test)]
    pub(crate) fn without_aws(&self) -> Memory {
        Memory {
            applied: self.applied.clone(),
            ..Memory::default()
        }
    }

    /// Forgets everything about the MetricsApp `namespace/name`.
    pub(super) fn forget(&mut self, app: &str) {
        let suffix = format!("/{app}");
        let prefix = format!("{app}/");
        self.applied.retain(|record, _| !record.ends_with(&suffix));
        self.tables.remove(app);
        self.functions.retain(|key, _| !key.starts_with(&prefix));
    }
}

fn function_key(app: &str, function: &str) -> String {
    format!("{app}/{function}")
}

fn young<R: Clone>(settled: Option<&Settled<R>>, period: Duration) -> Option<R> {
    settled
        .filter(|s| s.read_fully_at.elapsed() < period)
        .map(|s| s.report.clone())
}

/// A report equal to the one kept came from the one-read check: the full read behind
/// it keeps its time, so that the next full read still comes on schedule.
fn keep<R: PartialEq + Clone>(
    map: &mut HashMap<String, Settled<R>>,
    key: String,
    report: Option<&R>,
) {
    match report {
        None => {
            map.remove(&key);
        }
        Some(report) => {
            if map.get(&key).is_some_and(|kept| kept.report == *report) {
                return;
            }
            map.insert(
                key,
                Settled {
                    report: report.clone(),
                    read_fully_at: Instant::now(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(name: &str) -> TableReport {
        TableReport {
            name: name.to_owned(),
            arn: None,
            stream_arn: None,
            status: "ACTIVE".to_owned(),
            changes: Vec::new(),
            settled: true,
            managed_tags: Default::default(),
            fingerprint: Some(metricsapp_aws::Fingerprint::for_tests(7)),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_settled_report_is_offered_until_its_full_read_is_a_period_old() {
        let mut memory = Memory::default();
        memory.keep_table("team/metrics", Some(&settled("t")));
        assert_eq!(
            memory.settled_table("team/metrics", HOUR),
            Some(settled("t"))
        );
        assert_eq!(memory.settled_table("team/metrics", Duration::ZERO), None);
        assert_eq!(memory.settled_table("team/other", HOUR), None);
    }

    #[test]
    fn the_same_report_again_keeps_the_time_of_the_full_read() {
        let mut memory = Memory::default();
        memory.keep_table("team/metrics", Some(&settled("t")));
        let first = memory.tables["team/metrics"].read_fully_at;
        std::thread::sleep(Duration::from_millis(5));
        memory.keep_table("team/metrics", Some(&settled("t")));
        assert_eq!(memory.tables["team/metrics"].read_fully_at, first);
        memory.keep_table("team/metrics", Some(&settled("t2")));
        assert!(memory.tables["team/metrics"].read_fully_at > first);
    }

    #[test]
    fn a_report_without_fingerprint_or_a_failure_forgets() {
        let mut memory = Memory::default();
        memory.keep_table("team/metrics", Some(&settled("t")));
        let unsettled = TableReport {
            fingerprint: None,
            settled: false,
            ..settled("t")
        };
        memory.keep_table("team/metrics", Some(&unsettled));
        assert_eq!(memory.settled_table("team/metrics", HOUR), None);
        memory.keep_table("team/metrics", Some(&settled("t")));
        memory.keep_table("team/metrics", None);
        assert_eq!(memory.settled_table("team/metrics", HOUR), None);
    }

    #[test]
    fn forgetting_an_app_leaves_the_others() {
        let mut memory = Memory::default();
        memory.keep_table("team/metrics", Some(&settled("a")));
        memory.keep_table("team/metrics-2", Some(&settled("b")));
        memory.forget("team/metrics");
        assert_eq!(memory.settled_table("team/metrics", HOUR), None);
        assert_eq!(
            memory.settled_table("team/metrics-2", HOUR),
            Some(settled("b"))
        );
    }
}
