//! The one error type of the table module, and how an AWS SDK error becomes one of its
//! variants. The split that matters to the controller is [`Error::is_terminal`]: a
//! terminal error will fail the same way until someone changes the spec or the table,
//! so the controller reports it and waits for a change instead of retrying.

use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use super::{Change, RECREATE_ANNOTATION};

/// The least wait before retrying after LimitExceededException. The limits DynamoDB
/// reports with it clear as other control-plane work finishes (tables CREATING,
/// UPDATING or DELETING at once; concurrent index or stream changes), which takes
/// minutes rather than the seconds of a throttling backoff: retrying sooner only adds
/// to the operations that keep the limit reached.
const LIMIT_EXCEEDED_RETRY_AFTER: Duration = Duration::from_secs(60);

use crate::pass::PassError;
pub use crate::sdk::AwsError;
use crate::sdk::Failed;

/// Why a table could not be brought to (or removed from) the state the spec asks for.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The table exists but is not ours: owned by another MetricsApp, or by nobody and
    /// adoption was not asked for. Terminal: nothing was touched.
    #[error("table `{table}` {owner}")]
    Conflict { table: String, owner: String },

    /// The table exists but its keys or index differ from the app's layout. Keys cannot
    /// change on a live table, so the operator never tries. Terminal.
    #[error("table `{table}` does not have the app's key layout: {differences}")]
    IncompatibleTable { table: String, differences: String },

    /// The spec asks for something DynamoDB does not allow, found before calling AWS
    /// (`source` is `None`) or refused by AWS (ValidationException). Terminal.
    #[error("invalid table spec for `{table}`: {problem}")]
    InvalidSpec {
        table: String,
        problem: String,
        #[source]
        source: Option<AwsError>,
    },

    /// The credentials are missing, wrong or lack a permission. Recoverable: the role or
    /// policy may be fixed without touching the MetricsApp.
    #[error("{operation} on table `{table}`: access denied: {detail}")]
    AccessDenied {
        operation: &'static str,
        table: String,
        detail: String,
        #[source]
        source: AwsError,
    },

    /// A DynamoDB limit was reached (LimitExceededException): too many tables CREATING
    /// at once, too many concurrent control-plane operations. These clear by themselves
    /// as other operations finish. Recoverable, but not soon: see
    /// [`Error::retry_after`]. For a limit that does not clear (an account's table
    /// quota) the slow retry costs little and the message carries AWS's words.
    #[error(
        "{operation} on table `{table}`: a DynamoDB limit was reached (retrying later): {detail}"
    )]
    LimitExceeded {
        operation: &'static str,
        table: String,
        detail: String,
        #[source]
        source: AwsError,
    },

    /// AWS asked us to slow down. Recoverable.
    #[error("{operation} on table `{table}`: throttled: {detail}")]
    Throttled {
        operation: &'static str,
        table: String,
        detail: String,
        #[source]
        source: AwsError,
    },

    /// The table (or its backup) is busy with another change, or not ACTIVE when it
    /// must be. Recoverable: retry once AWS is done.
    #[error("table `{table}` is busy ({status}); waiting for it to become ACTIVE")]
    TableBusy {
        table: String,
        status: String,
        #[source]
        source: Option<AwsError>,
    },

    /// The table vanished between two calls (deleted behind our back). Recoverable: the
    /// next pass sees it absent, and creates it or reports [`Error::TableLost`].
    #[error("{operation} on table `{table}`: the table no longer exists")]
    TableGone {
        operation: &'static str,
        table: String,
        #[source]
        source: AwsError,
    },

    /// A table the operator created or adopted (recorded with `arn`) no longer exists:
    /// it was deleted, and its items with it. Terminal: an empty table in its place
    /// would hide the loss, so the operator creates one only when the user asks
    /// (the [`RECREATE_ANNOTATION`] annotation on the MetricsApp).
    #[error(
        "table `{table}` ({arn}) was created or adopted by this operator but no longer exists: it was \
         deleted, and the data it held is gone from that table. The operator will not \
         create an empty table in its place on its own. To get the data back, restore a \
         backup to a table named `{table}` and set table.adopt: true; to start again with \
         an empty table, run `kubectl annotate mapp <this MetricsApp> {annotation}={table}`",
        annotation = RECREATE_ANNOTATION
    )]
    TableLost { table: String, arn: String },

    /// The endpoint does not implement an operation the operator needs (dynalite has no
    /// TTL, point-in-time recovery or backups). Terminal: retrying will not add it.
    #[error("{operation} on table `{table}`: not supported by this DynamoDB endpoint: {detail}")]
    Unsupported {
        operation: &'static str,
        table: String,
        detail: String,
        #[source]
        source: AwsError,
    },

    /// AWS could not be reached, timed out, failed on its side, or refused the request
    /// for a reason not known to be permanent. Recoverable.
    #[error("{operation} on table `{table}`: AWS unavailable: {detail}")]
    AwsUnavailable {
        operation: &'static str,
        table: String,
        detail: String,
        #[source]
        source: AwsError,
    },

    /// AWS answered without a field it always sends (e.g. DescribeTable without the
    /// table). Recoverable: most likely a transient fault of the endpoint.
    #[error("{operation} on table `{table}`: AWS answered without {missing}")]
    UnexpectedResponse {
        operation: &'static str,
        table: String,
        missing: &'static str,
    },

    /// A pass failed after it had already changed the table: its changes were made
    /// (and deserve their Events, see [`Error::changes`]); the error inside says what
    /// then failed and decides the reason and whether to retry.
    #[error(transparent)]
    AfterChanges(PassError<Change, Error>),
}

impl Error {
    /// True when retrying cannot help until the spec or the table changes: the
    /// controller reports it and does not hot-loop. False for throttling, access
    /// denied, busy tables and outages: retry with capped exponential backoff.
    pub fn is_terminal(&self) -> bool {
        match self {
            Error::Conflict { .. }
            | Error::IncompatibleTable { .. }
            | Error::InvalidSpec { .. }
            | Error::TableLost { .. }
            | Error::Unsupported { .. } => true,
            Error::AfterChanges(after) => after.source.is_terminal(),
            Error::AccessDenied { .. }
            | Error::LimitExceeded { .. }
            | Error::Throttled { .. }
            | Error::TableBusy { .. }
            | Error::TableGone { .. }
            | Error::AwsUnavailable { .. }
            | Error::UnexpectedResponse { .. } => false,
        }
    }

    /// True when a read failed for a reason that passes by itself (throttled, AWS
    /// failed on its side, timed out, could not be reached) before anything was
    /// changed: it says nothing about the table, so a table last seen settled is still
    /// taken to be so (within the controller's grace period).
    pub fn is_transient_read(&self) -> bool {
        match self {
            Error::Throttled { operation, .. } | Error::AwsUnavailable { operation, .. } => {
                crate::sdk::is_read(operation)
            }
            Error::Conflict { .. }
            | Error::IncompatibleTable { .. }
            | Error::InvalidSpec { .. }
            | Error::AccessDenied { .. }
            | Error::LimitExceeded { .. }
            | Error::TableBusy { .. }
            | Error::TableGone { .. }
            | Error::TableLost { .. }
            | Error::Unsupported { .. }
            | Error::UnexpectedResponse { .. }
            | Error::AfterChanges { .. } => false,
        }
    }

    /// A CamelCase word for condition reasons and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Conflict { .. } => "TableConflict",
            Error::IncompatibleTable { .. } => "IncompatibleTable",
            Error::InvalidSpec { .. } => "InvalidTableSpec",
            Error::AccessDenied { .. } => "AccessDenied",
            Error::LimitExceeded { .. } => "LimitExceeded",
            Error::Throttled { .. } => "Throttled",
            Error::TableBusy { .. } => "TableBusy",
            Error::TableGone { .. } => "TableGone",
            Error::TableLost { .. } => "TableLost",
            Error::Unsupported { .. } => "UnsupportedOperation",
            Error::AwsUnavailable { .. } => "AwsUnavailable",
            Error::UnexpectedResponse { .. } => "UnexpectedAwsResponse",
            Error::AfterChanges(after) => after.source.reason(),
        }
    }

    /// The changes made to the table before this error, for Events: a failing pass
    /// may already have applied some of its steps.
    pub fn changes(&self) -> &[Change] {
        match self {
            Error::AfterChanges(after) => &after.changes,
            Error::Conflict { .. }
            | Error::IncompatibleTable { .. }
            | Error::InvalidSpec { .. }
            | Error::AccessDenied { .. }
            | Error::LimitExceeded { .. }
            | Error::Throttled { .. }
            | Error::TableBusy { .. }
            | Error::TableGone { .. }
            | Error::TableLost { .. }
            | Error::Unsupported { .. }
            | Error::AwsUnavailable { .. }
            | Error::UnexpectedResponse { .. } => &[],
        }
    }

    /// The least time to wait before retrying, when this error needs longer than the
    /// controller's usual backoff (the controller uses it as the minimum): 60 s for
    /// [`Error::LimitExceeded`], whose limits clear as other table operations finish,
    /// which takes minutes. `None` for every other error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::LimitExceeded { .. } => Some(LIMIT_EXCEEDED_RETRY_AFTER),
            Error::AfterChanges(after) => after.source.retry_after(),
            Error::Conflict { .. }
            | Error::IncompatibleTable { .. }
            | Error::InvalidSpec { .. }
            | Error::AccessDenied { .. }
            | Error::Throttled { .. }
            | Error::TableBusy { .. }
            | Error::TableGone { .. }
            | Error::TableLost { .. }
            | Error::Unsupported { .. }
            | Error::AwsUnavailable { .. }
            | Error::UnexpectedResponse { .. } => None,
        }
    }

    /// `self`, wrapped so that the changes already made are not lost.
    pub(crate) fn after(self, changes: &[Change]) -> Self {
        if changes.is_empty() {
            return self;
        }
        Error::AfterChanges(PassError {
            changes: changes.to_vec(),
            source: Box::new(self),
        })
    }

    /// Classifies an SDK error from `operation` on `table` by the error code AWS sent
    /// (or, when no answer came back, by how the request failed).
    pub(crate) fn from_sdk<E, R>(
        operation: &'static str,
        table: &str,
        error: SdkError<E, R>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let table = table.to_owned();
        let failed = Failed::read(error);
        let kind = failed
            .answered_code()
            .map_or(Kind::Unavailable, Kind::of_code);
        let Failed {
            detail,
            unbuilt,
            source,
            ..
        } = failed;
        if unbuilt {
            return Error::InvalidSpec {
                table,
                problem: format!("{operation} request could not be built: {detail}"),
                source: Some(source),
            };
        }
        match kind {
            Kind::Invalid => Error::InvalidSpec {
                table,
                problem: format!("AWS refused {operation}: {detail}"),
                source: Some(source),
            },
            Kind::AccessDenied => Error::AccessDenied {
                operation,
                table,
                detail,
                source,
            },
            Kind::LimitExceeded => Error::LimitExceeded {
                operation,
                table,
                detail,
                source,
            },
            Kind::Throttled => Error::Throttled {
                operation,
                table,
                detail,
                source,
            },
            Kind::Busy => Error::TableBusy {
                table,
                status: format!("{operation}: {detail}"),
                source: Some(source),
            },
            Kind::Gone => Error::TableGone {
                operation,
                table,
                source,
            },
            Kind::Unsupported => Error::Unsupported {
                operation,
                table,
                detail,
                source,
            },
            Kind::Unavailable => Error::AwsUnavailable {
                operation,
                table,
                detail,
                source,
            },
        }
    }
}

/// What an AWS error code means for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    AccessDenied,
    LimitExceeded,
    Throttled,
    Busy,
    Gone,
    Unsupported,
    Unavailable,
}

impl Kind {
    fn of_code(code: &str) -> Kind {
        match code {
            "ValidationException" | "SerializationException" => Kind::Invalid,
            "LimitExceededException" => Kind::LimitExceeded,
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "MissingAuthenticationTokenException"
            | "ExpiredTokenException"
            | "IncompleteSignatureException" => Kind::AccessDenied,
            "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded" => Kind::Throttled,
            "ResourceInUseException"
            | "BackupInUseException"
            | "ContinuousBackupsUnavailableException" => Kind::Busy,
            "ResourceNotFoundException" | "TableNotFoundException" => Kind::Gone,
            "UnknownOperationException" => Kind::Unsupported,
            // Unknown codes and server-side failures: retrying with backoff is safe, and
            // the condition message carries the code for a human to read.
            _ => Kind::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_that_retrying_cannot_fix_are_terminal() {
        for code in ["ValidationException", "UnknownOperationException"] {
            let kind = Kind::of_code(code);
            assert!(
                matches!(kind, Kind::Invalid | Kind::Unsupported),
                "{code} → {kind:?}"
            );
        }
    }

    #[test]
    fn throttling_and_credentials_are_recoverable_with_their_own_reason() {
        assert_eq!(Kind::of_code("ThrottlingException"), Kind::Throttled);
        assert_eq!(
            Kind::of_code("ProvisionedThroughputExceededException"),
            Kind::Throttled
        );
        assert_eq!(Kind::of_code("RequestLimitExceeded"), Kind::Throttled);
        assert_eq!(Kind::of_code("AccessDeniedException"), Kind::AccessDenied);
        assert_eq!(
            Kind::of_code("UnrecognizedClientException"),
            Kind::AccessDenied
        );
        assert_eq!(Kind::of_code("ResourceInUseException"), Kind::Busy);
        assert_eq!(Kind::of_code("InternalServerError"), Kind::Unavailable);
    }

    /// An SDK error as DynamoDB would answer it, with `code`.
    fn service_error(
        code: &str,
    ) -> SdkError<aws_sdk_dynamodb::operation::create_table::CreateTableError, ()> {
        let metadata = aws_sdk_dynamodb::error::ErrorMetadata::builder()
            .code(code)
            .message("Subscriber limit exceeded: too many tables in CREATING")
            .build();
        SdkError::service_error(
            aws_sdk_dynamodb::operation::create_table::CreateTableError::generic(metadata),
            (),
        )
    }

    #[test]
    fn limit_exceeded_is_retried_no_sooner_than_its_floor() {
        assert_eq!(Kind::of_code("LimitExceededException"), Kind::LimitExceeded);
        let error = Error::from_sdk("CreateTable", "t", service_error("LimitExceededException"));
        assert!(
            matches!(
                error,
                Error::LimitExceeded {
                    operation: "CreateTable",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            !error.is_terminal(),
            "the limit clears as other operations finish"
        );
        assert_eq!(error.reason(), "LimitExceeded");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));
        assert!(error.to_string().contains("too many tables"), "{error}");

        let after = error.after(&[Change::Adopted]);
        assert_eq!(after.reason(), "LimitExceeded");
        assert!(!after.is_terminal());
        assert_eq!(after.retry_after(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn only_a_failed_read_for_a_passing_reason_is_a_transient_read() {
        for code in ["ThrottlingException", "InternalServerError"] {
            let read = Error::from_sdk("DescribeTimeToLive", "t", service_error(code));
            assert!(read.is_transient_read(), "{read:?}");
            let write = Error::from_sdk("UpdateTable", "t", service_error(code));
            assert!(!write.is_transient_read(), "{write:?}");
            assert!(!read.after(&[Change::Created]).is_transient_read());
        }
        let gone = Error::from_sdk("DescribeTable", "t", service_error("AccessDeniedException"));
        assert!(!gone.is_transient_read());
    }

    #[test]
    fn only_limit_exceeded_asks_for_a_longer_wait() {
        let throttled = Error::from_sdk("CreateTable", "t", service_error("ThrottlingException"));
        assert_eq!(throttled.reason(), "Throttled");
        assert_eq!(throttled.retry_after(), None);
        let invalid = Error::from_sdk("CreateTable", "t", service_error("ValidationException"));
        assert!(invalid.is_terminal());
        assert_eq!(invalid.retry_after(), None);
    }

    #[test]
    fn terminal_errors_are_the_ones_a_spec_change_must_fix() {
        let conflict = Error::Conflict {
            table: "t".into(),
            owner: "belongs to someone else".into(),
        };
        assert!(conflict.is_terminal());
        assert_eq!(conflict.reason(), "TableConflict");
        let busy = Error::TableBusy {
            table: "t".into(),
            status: "UPDATING".into(),
            source: None,
        };
        assert!(!busy.is_terminal());
        assert_eq!(busy.reason(), "TableBusy");
    }

    #[test]
    fn an_error_after_changes_keeps_them_and_the_cause() {
        let busy = || Error::TableBusy {
            table: "t".into(),
            status: "UPDATING".into(),
            source: None,
        };
        assert!(busy().after(&[]).changes().is_empty());

        let changes = [Change::PointInTimeRecovery { to: true }, Change::Adopted];
        let error = busy().after(&changes);
        assert_eq!(error.changes(), changes);
        assert_eq!(error.reason(), "TableBusy");
        assert!(!error.is_terminal());
        assert_eq!(
            error.to_string(),
            "table `t` is busy (UPDATING); waiting for it to become ACTIVE \
             (after: point-in-time recovery enabled; table adopted (owner tags added))"
        );
        let source = std::error::Error::source(&error).expect("cause kept");
        assert_eq!(source.to_string(), busy().to_string());
    }
}
