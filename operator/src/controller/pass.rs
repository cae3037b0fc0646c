//! What one pass concludes from its parts' outcomes, with no I/O: which stream the
//! functions follow, whether the app may roll out, which failures the status and the
//! Events report, and how soon the next pass comes. `mod.rs` does the reading and
//! writing around it.

use std::time::Duration;

use crate::crd::MetricsAppStatus;
use crate::status::{self, Failure, FunctionOutcome, PartState, TableState};

/// How soon a part wants the next pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Settled, or failed terminally: the resync period.
    Resync,
    /// Still settling: a short, growing delay.
    Settle,
    /// Failed, recoverable: backoff, at least this long.
    Retry(Duration),
}

impl Next {
    /// A failed part: terminal failures wait for the resync (they are not hot-looped
    /// against AWS), the others are retried with backoff.
    fn after(failure: &Failure) -> Next {
        if failure.terminal {
            Next::Resync
        } else {
            Next::Retry(Duration::ZERO)
        }
    }
}

/// A part's failure as the pass reports it: the condition it sets and the action its
/// Warning Event names.
pub(super) type Reported = (&'static str, &'static str, Failure);

/// What the pass concluded from its parts.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Outcome {
    /// One per part (the table, each function, the app), in that order.
    pub nexts: Vec<Next>,
    /// At most one per condition: the first failure found for it.
    pub failures: Vec<Reported>,
}

/// The stream the functions follow: the table's as read now, else the last one
/// recorded (a table that cannot be read this pass still has its stream).
pub(super) fn stream_arn(
    table: &TableState,
    recorded: Option<&MetricsAppStatus>,
) -> Option<String> {
    match table {
        TableState::Settled(table) | TableState::InProgress(table) => table.stream_arn.clone(),
        TableState::Failed { .. } | TableState::Unread(_) => recorded
            .and_then(|status| status.table.as_ref())
            .and_then(|table| table.stream_arn.clone()),
    }
}

/// The app waits only for a table that has never existed: once it has, a failing or
/// throttled table must not hold back a new image.
pub(super) fn table_known(table: &TableState, recorded: Option<&MetricsAppStatus>) -> bool {
    match table {
        TableState::Settled(_) | TableState::InProgress(_) => true,
        TableState::Failed { .. } | TableState::Unread(_) => recorded
            .and_then(|status| status.table.as_ref())
            .is_some_and(|table| table.arn.is_some()),
    }
}

/// Combines the parts' outcomes: each part's next pass, and the failures to report.
pub(super) fn combine(
    table: &TableState,
    table_next: Next,
    functions: &[FunctionOutcome],
    app_failure: Option<&Failure>,
) -> Outcome {
    let mut outcome = Outcome {
        nexts: vec![table_next],
        failures: Vec::new(),
    };
    match table {
        TableState::Failed { failure, .. } => {
            outcome.report(status::TABLE_READY, "ReconcileTable", failure);
        }
        TableState::Unread(failure) => {
            outcome.report(status::SYNCED, "ReconcileTable", failure);
        }
        TableState::Settled(_) | TableState::InProgress(_) => {}
    }
    for function in functions {
        match &function.state {
            PartState::Settled => outcome.nexts.push(Next::Resync),
            PartState::InProgress(_) => outcome.nexts.push(Next::Settle),
            PartState::Unread(failure) => {
                outcome.nexts.push(Next::Retry(Duration::ZERO));
                outcome.report(status::SYNCED, "ReconcileFunctions", failure);
            }
            PartState::Failed(failure) => {
                outcome.nexts.push(Next::after(failure));
                outcome.report(status::FUNCTIONS_READY, "ReconcileFunctions", failure);
            }
        }
    }
    if let Some(failure) = app_failure {
        outcome.nexts.push(Next::after(failure));
        outcome.report(status::AVAILABLE, "Apply", failure);
    }
    outcome
}

impl Outcome {
    fn report(&mut self, condition: &'static str, action: &'static str, failure: &Failure) {
        if !self.failures.iter().any(|(kind, ..)| *kind == condition) {
            self.failures.push((condition, action, failure.clone()));
        }
    }
}

/// What the parts' next passes ask of the delay: a retry with backoff (never shorter
/// than the longest floor a failure asked for), a settling wait, or neither.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Wait {
    pub retry: Option<Duration>,
    pub settle: bool,
}

pub(super) fn wait(nexts: &[Next]) -> Wait {
    Wait {
        retry: nexts
            .iter()
            .filter_map(|next| match next {
                Next::Retry(floor) => Some(*floor),
                Next::Resync | Next::Settle => None,
            })
            .max(),
        settle: nexts.contains(&Next::Settle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{FunctionStatus, TableStatus};

    fn failure(reason: &str, terminal: bool) -> Failure {
        Failure {
            reason: reason.into(),
            message: format!("{reason} happened"),
            terminal,
        }
    }

    fn function(state: PartState) -> FunctionOutcome {
        FunctionOutcome {
            status: FunctionStatus::default(),
            declared: true,
            state,
        }
    }

    fn recorded(arn: Option<&str>, stream: Option<&str>) -> MetricsAppStatus {
        MetricsAppStatus {
            table: Some(TableStatus {
                arn: arn.map(Into::into),
                stream_arn: stream.map(Into::into),
                ..TableStatus::default()
            }),
            ..MetricsAppStatus::default()
        }
    }

    #[test]
    fn an_unreadable_table_keeps_its_recorded_stream_and_does_not_hold_the_app_back() {
        let before = recorded(Some("arn:table"), Some("arn:stream"));
        let unread = TableState::Unread(failure("Throttled", false));
        assert_eq!(
            stream_arn(&unread, Some(&before)).as_deref(),
            Some("arn:stream")
        );
        assert!(table_known(&unread, Some(&before)));
        // A table that never existed holds the app back.
        assert!(!table_known(&unread, None));
        assert!(!table_known(&unread, Some(&recorded(None, None)),));
    }

    #[test]
    fn a_read_table_gives_its_own_stream_over_the_recorded_one() {
        let before = recorded(Some("arn:table"), Some("arn:old-stream"));
        let read = TableState::Settled(TableStatus {
            arn: Some("arn:table".into()),
            stream_arn: Some("arn:new-stream".into()),
            ..TableStatus::default()
        });
        assert_eq!(
            stream_arn(&read, Some(&before)).as_deref(),
            Some("arn:new-stream")
        );
        assert!(table_known(&read, None));
    }

    #[test]
    fn each_condition_reports_its_first_failure_only() {
        let outcome = combine(
            &TableState::Unread(failure("Throttled", false)),
            Next::Retry(Duration::ZERO),
            &[
                function(PartState::Unread(failure("LambdaThrottled", false))),
                function(PartState::Failed(failure("AccessDenied", true))),
                function(PartState::Failed(failure("ZipMissing", true))),
                function(PartState::Settled),
            ],
            Some(&failure("Forbidden", false)),
        );
        let reported: Vec<_> = outcome
            .failures
            .iter()
            .map(|(kind, action, failure)| (*kind, *action, failure.reason.as_str()))
            .collect();
        assert_eq!(
            reported,
            [
                (status::SYNCED, "ReconcileTable", "Throttled"),
                (
                    status::FUNCTIONS_READY,
                    "ReconcileFunctions",
                    "AccessDenied"
                ),
                (status::AVAILABLE, "Apply", "Forbidden"),
            ]
        );
        assert_eq!(
            outcome.nexts,
            [
                Next::Retry(Duration::ZERO),
                Next::Retry(Duration::ZERO),
                Next::Resync,
                Next::Resync,
                Next::Resync,
                Next::Retry(Duration::ZERO),
            ]
        );
    }

    #[test]
    fn a_failed_table_reports_on_its_own_condition() {
        let outcome = combine(
            &TableState::Failed {
                failure: failure("KeySchemaMismatch", true),
                table: None,
            },
            Next::Resync,
            &[function(PartState::InProgress("updating code".into()))],
            None,
        );
        assert_eq!(outcome.failures.len(), 1);
        assert_eq!(outcome.failures[0].0, status::TABLE_READY);
        assert_eq!(outcome.nexts, [Next::Resync, Next::Settle]);
    }

    #[test]
    fn the_longest_retry_floor_and_any_settling_part_shape_the_wait() {
        assert_eq!(
            wait(&[
                Next::Resync,
                Next::Retry(Duration::from_secs(5)),
                Next::Retry(Duration::from_secs(30)),
            ]),
            Wait {
                retry: Some(Duration::from_secs(30)),
                settle: false
            }
        );
        assert_eq!(
            wait(&[Next::Resync, Next::Settle]),
            Wait {
                retry: None,
                settle: true
            }
        );
        assert_eq!(
            wait(&[Next::Resync]),
            Wait {
                retry: None,
                settle: false
            }
        );
    }
}
