//! A failed part of a pass as its condition tells it, in one place for the table, the
//! functions and the app: from an operator error, a refused limit, or a deadline.

use std::time::Duration;

use crate::Error;
use crate::limits::Refusal;
use crate::status::Failure;

/// Terminal: retrying cannot help until the spec or the resource changes, so the part
/// is checked again only at the resync.
pub(super) fn is_terminal(error: &Error) -> bool {
    match error {
        Error::Table(error) => error.is_terminal(),
        Error::Function(error) => error.is_terminal(),
        Error::InvalidSpec(_) => true,
        Error::Kube(_)
        | Error::Finalizer(_)
        | Error::Serialize { .. }
        | Error::MissingMetadata(_)
        | Error::Config(_)
        | Error::LeaderElection(_)
        | Error::LeaseLost
        | Error::MetricsServer { .. }
        | Error::KubeConfig(_) => false,
    }
}

pub(crate) fn of_error(error: &Error) -> Failure {
    Failure {
        reason: error.reason().to_owned(),
        message: error.to_string(),
        terminal: is_terminal(error),
    }
}

/// A spec beyond the administrator's limits: terminal until the spec or the flag
/// changes.
pub(super) fn not_allowed(refusal: Refusal) -> Failure {
    Failure {
        reason: "NotAllowed".to_owned(),
        message: refusal.message,
        terminal: true,
    }
}

/// `what` did not finish within the part's deadline; retried.
pub(super) fn timed_out(what: &str, deadline: Duration) -> Failure {
    Failure {
        reason: "Timeout".to_owned(),
        message: format!("{what} did not finish within {}s", deadline.as_secs()),
        terminal: false,
    }
}
