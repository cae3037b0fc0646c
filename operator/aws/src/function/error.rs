//! The one error type of the function module, and how an AWS SDK error (Lambda or S3)
//! becomes one of its variants. The split that matters to the controller is
//! [`Error::is_terminal`]: a terminal error will fail the same way until someone changes
//! the spec or the function, so the controller reports it and waits for a change
//! instead of retrying.

// The same types in every `aws-sdk-*` crate, so S3 errors are classified here too.
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

use super::Change;

use crate::pass::PassError;
pub use crate::sdk::AwsError;
use crate::sdk::Failed;

/// Why a function could not be brought to (or removed from) the state the spec asks
/// for.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The function exists but is not ours: owned by another MetricsApp, or by nobody
    /// and adoption was not asked for. Terminal: nothing was touched.
    #[error("function `{function}` {owner}")]
    Conflict { function: String, owner: String },

    /// The spec asks for something Lambda does not allow, found before calling AWS
    /// (`source` is `None`) or refused by AWS (InvalidParameterValueException and
    /// the like). Terminal.
    #[error("invalid function spec for `{function}`: {problem}")]
    InvalidSpec {
        function: String,
        problem: String,
        #[source]
        source: Option<AwsError>,
    },

    /// Lambda abandoned the last code or configuration update (`LastUpdateStatus:
    /// Failed`) and the spec asks for nothing new that might fix it. Terminal: the
    /// function keeps running its previous code and configuration.
    #[error("function `{function}`: the last update failed: {reason}")]
    UpdateFailed { function: String, reason: String },

    /// Creating the function failed (`State: Failed`); Lambda cannot repair such a
    /// function, it must be deleted and created again. Terminal.
    #[error(
        "function `{function}` failed to be created ({reason}); delete it to let the operator create it again"
    )]
    FunctionFailed { function: String, reason: String },

    /// The code object is not the zip the spec pins with `sha256`: found from the
    /// object's S3 checksum before deploying, or from Lambda's `CodeSha256` after.
    /// Terminal: the spec or the object must change.
    #[error("function `{function}`: {object} has SHA-256 {found}, but the spec names {expected}")]
    CodeMismatch {
        function: String,
        object: String,
        expected: String,
        found: String,
    },

    /// The S3 object (or its bucket) does not exist. Recoverable with backoff: CI often
    /// applies the MetricsApp and uploads the zip in parallel, so it may appear a
    /// moment later.
    #[error("function `{function}`: code {location} not found: {detail}")]
    CodeNotFound {
        function: String,
        location: String,
        detail: String,
        #[source]
        source: Option<AwsError>,
    },

    /// Lambda cannot assume the execution role yet, or the role lacks a permission the
    /// trigger needs. Recoverable: common right after the role or its policy was
    /// created, as IAM changes take seconds to reach Lambda.
    #[error("{operation} on function `{function}`: execution role not usable yet: {detail}")]
    RoleNotReady {
        operation: &'static str,
        function: String,
        detail: String,
        #[source]
        source: AwsError,
    },

    /// The operator's credentials are missing, wrong or lack a permission. Recoverable:
    /// the role or policy may be fixed without touching the MetricsApp.
    #[error("{operation} on function `{function}`: access denied: {detail}")]
    AccessDenied {
        operation: &'static str,
        function: String,
        detail: String,
        #[source]
        source: AwsError,
    },

    /// AWS asked us to slow down. Recoverable.
    #[error("{operation} on function `{function}`: throttled: {detail}")]
    Throttled {
        operation: &'static str,
        function: String,
        detail: String,
        #[source]
        source: AwsError,
    },

    /// The function or its trigger is busy with another change
    /// (ResourceConflictException, ResourceInUseException). Recoverable: retry once
    /// Lambda is done. The plan waits for updates to finish, so this means someone else
    /// changed the function at the same moment.
    #[error("function `{function}` is busy: {detail}")]
    FunctionBusy {
        function: String,
        detail: String,
        #[source]
        source: Option<AwsError>,
    },

    /// The function (or its trigger or URL) vanished between two calls. Recoverable:
    /// the next pass sees it absent and creates it.
    #[error("{operation} on function `{function}`: it no longer exists")]
    FunctionGone {
        operation: &'static str,
        function: String,
        #[source]
        source: AwsError,
    },

    /// AWS could not be reached, timed out, failed on its side, or refused the request
    /// for a reason not known to be permanent. Recoverable.
    #[error("{operation} on function `{function}`: AWS unavailable: {detail}")]
    AwsUnavailable {
        operation: &'static str,
        function: String,
        detail: String,
        #[source]
        source: AwsError,
    },

    /// AWS answered without a field it always sends. Recoverable: most likely a
    /// transient fault of the endpoint.
    #[error("{operation} on function `{function}`: AWS answered without {missing}")]
    UnexpectedResponse {
        operation: &'static str,
        function: String,
        missing: &'static str,
    },

    /// A pass failed after it had already changed the function: its changes were made
    /// (and deserve their Events, see [`Error::changes`]); the error inside says what
    /// then failed and decides the reason and whether to retry.
    #[error(transparent)]
    AfterChanges(PassError<Change, Error>),
}

impl Error {
    /// True when retrying cannot help until the spec or the function changes: the
    /// controller reports it and does not hot-loop. False for throttling, access
    /// denied, roles not usable yet, missing code objects, busy functions and outages:
    /// retry with capped exponential backoff.
    pub fn is_terminal(&self) -> bool {
        match self {
            Error::Conflict { .. }
            | Error::InvalidSpec { .. }
            | Error::UpdateFailed { .. }
            | Error::FunctionFailed { .. }
            | Error::CodeMismatch { .. } => true,
            Error::AfterChanges(after) => after.source.is_terminal(),
            Error::CodeNotFound { .. }
            | Error::RoleNotReady { .. }
            | Error::AccessDenied { .. }
            | Error::Throttled { .. }
            | Error::FunctionBusy { .. }
            | Error::FunctionGone { .. }
            | Error::AwsUnavailable { .. }
            | Error::UnexpectedResponse { .. } => false,
        }
    }

    /// True when a read failed for a reason that passes by itself (throttled, AWS
    /// failed on its side, timed out, could not be reached) before anything was
    /// changed: it says nothing about the function, so a function last seen settled is still
    /// taken to be so (within the controller's grace period).
    pub fn is_transient_read(&self) -> bool {
        match self {
            Error::Throttled { operation, .. } | Error::AwsUnavailable { operation, .. } => {
                crate::sdk::is_read(operation)
            }
            Error::Conflict { .. }
            | Error::InvalidSpec { .. }
            | Error::UpdateFailed { .. }
            | Error::FunctionFailed { .. }
            | Error::CodeMismatch { .. }
            | Error::CodeNotFound { .. }
            | Error::RoleNotReady { .. }
            | Error::AccessDenied { .. }
            | Error::FunctionBusy { .. }
            | Error::FunctionGone { .. }
            | Error::UnexpectedResponse { .. }
            | Error::AfterChanges { .. } => false,
        }
    }

    /// A CamelCase word for condition reasons and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Conflict { .. } => "FunctionConflict",
            Error::InvalidSpec { .. } => "InvalidFunctionSpec",
            Error::UpdateFailed { .. } => "FunctionUpdateFailed",
            Error::FunctionFailed { .. } => "FunctionFailed",
            Error::CodeMismatch { .. } => "CodeMismatch",
            Error::CodeNotFound { .. } => "CodeNotFound",
            Error::RoleNotReady { .. } => "RoleNotReady",
            Error::AccessDenied { .. } => "AccessDenied",
            Error::Throttled { .. } => "Throttled",
            Error::FunctionBusy { .. } => "FunctionBusy",
            Error::FunctionGone { .. } => "FunctionGone",
            Error::AwsUnavailable { .. } => "AwsUnavailable",
            Error::UnexpectedResponse { .. } => "UnexpectedAwsResponse",
            Error::AfterChanges(after) => after.source.reason(),
        }
    }

    /// The changes made to the function before this error, for Events: a failing pass
    /// may already have applied some of its steps.
    pub fn changes(&self) -> &[Change] {
        match self {
            Error::AfterChanges(after) => &after.changes,
            Error::Conflict { .. }
            | Error::InvalidSpec { .. }
            | Error::UpdateFailed { .. }
            | Error::FunctionFailed { .. }
            | Error::CodeMismatch { .. }
            | Error::CodeNotFound { .. }
            | Error::RoleNotReady { .. }
            | Error::AccessDenied { .. }
            | Error::Throttled { .. }
            | Error::FunctionBusy { .. }
            | Error::FunctionGone { .. }
            | Error::AwsUnavailable { .. }
            | Error::UnexpectedResponse { .. } => &[],
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

    /// Classifies an SDK error from `operation` on `function` by the error code AWS
    /// sent (or, when no answer came back, by how the request failed).
    pub(crate) fn from_sdk<E, R>(
        operation: &'static str,
        function: &str,
        error: SdkError<E, R>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let function = function.to_owned();
        let failed = Failed::read(error);
        let kind = failed.answered_code().map_or(Kind::Unavailable, |code| {
            Kind::of(code, failed.message.as_deref().unwrap_or_default())
        });
        let Failed {
            detail,
            unbuilt,
            source,
            ..
        } = failed;
        if unbuilt {
            return Error::InvalidSpec {
                function,
                problem: format!("{operation} request could not be built: {detail}"),
                source: Some(source),
            };
        }
        match kind {
            Kind::Invalid => Error::InvalidSpec {
                function,
                problem: format!("AWS refused {operation}: {detail}"),
                source: Some(source),
            },
            Kind::CodeNotFound => Error::CodeNotFound {
                function,
                location: "object".to_owned(),
                detail: format!("{operation}: {detail}"),
                source: Some(source),
            },
            Kind::RoleNotReady => Error::RoleNotReady {
                operation,
                function,
                detail,
                source,
            },
            Kind::AccessDenied => Error::AccessDenied {
                operation,
                function,
                detail,
                source,
            },
            Kind::Throttled => Error::Throttled {
                operation,
                function,
                detail,
                source,
            },
            Kind::Busy => Error::FunctionBusy {
                function,
                detail: format!("{operation}: {detail}"),
                source: Some(source),
            },
            Kind::Gone => Error::FunctionGone {
                operation,
                function,
                source,
            },
            Kind::Unavailable => Error::AwsUnavailable {
                operation,
                function,
                detail,
                source,
            },
        }
    }
}

/// What an AWS error means for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    CodeNotFound,
    RoleNotReady,
    AccessDenied,
    Throttled,
    Busy,
    Gone,
    Unavailable,
}

impl Kind {
    /// By the error code, and for InvalidParameterValueException by its message: Lambda
    /// uses that one code for a bad spec, a role IAM has not propagated yet, and an S3
    /// object it could not fetch.
    fn of(code: &str, message: &str) -> Kind {
        match code {
            "InvalidParameterValueException" => {
                if message.contains("cannot be assumed")
                    || message.contains("execution role does not have permissions")
                {
                    Kind::RoleNotReady
                } else if message.contains("NoSuchKey") || message.contains("NoSuchBucket") {
                    Kind::CodeNotFound
                } else if message.contains("S3 Error Code: AccessDenied") {
                    Kind::AccessDenied
                } else {
                    Kind::Invalid
                }
            }
            "InvalidRequestContentException"
            | "RequestTooLargeException"
            | "CodeStorageExceededException"
            | "CodeVerificationFailedException"
            | "InvalidCodeSignatureException"
            | "CodeSigningConfigNotFoundException"
            | "InvalidZipFileException"
            | "PolicyLengthExceededException"
            | "UnsupportedMediaTypeException"
            | "ValidationException" => Kind::Invalid,
            "NoSuchKey" | "NoSuchBucket" | "NotFound" => Kind::CodeNotFound,
            "AccessDeniedException"
            | "AccessDenied"
            | "Forbidden"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "InvalidAccessKeyId"
            | "MissingAuthenticationTokenException"
            | "ExpiredTokenException"
            | "ExpiredToken"
            | "IncompleteSignatureException" => Kind::AccessDenied,
            "TooManyRequestsException" | "ThrottlingException" | "SlowDown" => Kind::Throttled,
            "ResourceConflictException"
            | "ResourceInUseException"
            | "ResourceNotReadyException"
            | "PreconditionFailedException" => Kind::Busy,
            "ResourceNotFoundException" => Kind::Gone,
            // Unknown codes and server-side failures (ServiceException, EC2/ENI limits):
            // retrying with backoff is safe, and the message carries the code.
            _ => Kind::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_lambda_cannot_assume_yet_is_recoverable() {
        let kind = Kind::of(
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda.",
        );
        assert_eq!(kind, Kind::RoleNotReady);
        let kind = Kind::of(
            "InvalidParameterValueException",
            "The provided execution role does not have permissions to call GetRecords on DynamoDB",
        );
        assert_eq!(kind, Kind::RoleNotReady);
    }

    #[test]
    fn an_object_lambda_cannot_fetch_is_code_not_found() {
        let kind = Kind::of(
            "InvalidParameterValueException",
            "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist.",
        );
        assert_eq!(kind, Kind::CodeNotFound);
        assert_eq!(Kind::of("NotFound", ""), Kind::CodeNotFound);
    }

    #[test]
    fn other_invalid_parameters_are_terminal() {
        assert_eq!(
            Kind::of("InvalidParameterValueException", "MemorySize must be ..."),
            Kind::Invalid
        );
        assert_eq!(Kind::of("InvalidZipFileException", ""), Kind::Invalid);
    }

    #[test]
    fn busy_throttled_denied_and_gone_have_their_own_kind() {
        assert_eq!(Kind::of("ResourceConflictException", ""), Kind::Busy);
        assert_eq!(Kind::of("ResourceInUseException", ""), Kind::Busy);
        assert_eq!(Kind::of("TooManyRequestsException", ""), Kind::Throttled);
        assert_eq!(Kind::of("AccessDeniedException", ""), Kind::AccessDenied);
        assert_eq!(Kind::of("Forbidden", ""), Kind::AccessDenied);
        assert_eq!(Kind::of("ResourceNotFoundException", ""), Kind::Gone);
        assert_eq!(Kind::of("ServiceException", ""), Kind::Unavailable);
    }

    #[test]
    fn terminal_errors_are_the_ones_a_spec_change_must_fix() {
        let conflict = Error::Conflict {
            function: "f".into(),
            owner: "belongs to someone else".into(),
        };
        assert!(conflict.is_terminal());
        assert_eq!(conflict.reason(), "FunctionConflict");
        let missing = Error::CodeNotFound {
            function: "f".into(),
            location: "s3://b/k".into(),
            detail: "NotFound".into(),
            source: None,
        };
        assert!(!missing.is_terminal());
        assert_eq!(missing.reason(), "CodeNotFound");
        let failed = Error::UpdateFailed {
            function: "f".into(),
            reason: "EniLimitExceeded".into(),
        };
        assert!(failed.is_terminal());
        assert_eq!(failed.reason(), "FunctionUpdateFailed");
    }

    #[test]
    fn an_error_after_changes_keeps_them_and_the_cause() {
        let busy = || Error::FunctionBusy {
            function: "f".into(),
            detail: "UpdateFunctionCode: ResourceConflictException".into(),
            source: None,
        };
        assert!(busy().after(&[]).changes().is_empty());
        let changes = [Change::Adopted, Change::TriggerCreated];
        let error = busy().after(&changes);
        assert_eq!(error.changes(), changes);
        assert_eq!(error.reason(), "FunctionBusy");
        assert!(!error.is_terminal());
        assert_eq!(
            error.to_string(),
            "function `f` is busy: UpdateFunctionCode: ResourceConflictException \
             (after: function adopted (owner tags added); stream trigger created)"
        );
    }

    #[test]
    fn a_throttled_read_is_transient_and_a_throttled_write_is_not() {
        let throttled = |operation| Error::Throttled {
            operation,
            function: "f".into(),
            detail: "TooManyRequestsException: Rate exceeded".into(),
            source: "429".into(),
        };
        for read in ["GetFunction", "ListEventSourceMappings", "HeadObject"] {
            assert!(throttled(read).is_transient_read(), "{read}");
        }
        assert!(!throttled("CreateEventSourceMapping").is_transient_read());
        assert!(
            !throttled("GetFunction")
                .after(&[Change::TriggerCreated])
                .is_transient_read()
        );
    }
}
