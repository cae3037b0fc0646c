//! The error of a pass that failed part way, shared by every resource: what failed,
//! and the changes the pass had made before it (they happened, and deserve their
//! Events even though the pass failed).

use std::fmt;

/// An error that ended a pass after `changes` were made. It says the error, then the
/// changes: "… (after: point-in-time recovery enabled; tags set team=data)". The
/// error is its source, and decides the reason and whether to retry.
#[derive(Debug)]
pub struct PassError<C, E> {
    /// The changes made before the error, in the order they were made.
    pub changes: Vec<C>,
    pub source: Box<E>,
}

impl<C: fmt::Display, E: fmt::Display> fmt::Display for PassError<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (after: ", self.source)?;
        for (i, change) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{change}")?;
        }
        f.write_str(")")
    }
}

impl<C, E> std::error::Error for PassError<C, E>
where
    C: fmt::Debug + fmt::Display,
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}
