//! What a settled pass saw, reduced to a number, so that a later pass can tell with one
//! read (DescribeTable, GetFunction) that nothing it compares has changed since.
//!
//! A full pass reads four or five APIs per resource; at a thousand apps and a resync
//! every few minutes that is most of the operator's AWS traffic and cost, for
//! resources that almost never change. The one read still catches a resource that is
//! gone, re-created, busy, or edited in anything that read returns; the settings read
//! by the other APIs (a table's tags, TTL and backups; a function's trigger, URL and
//! code object) are compared again by the next full pass, which the controller asks
//! for on its own period and after any change.

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};

/// A hash of everything a settled pass compared: the spec, the owner, what the
/// controller recorded, and what the one quick read returned. Kept in memory only:
/// the hasher's output may differ between builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(u64);

impl Fingerprint {
    pub(crate) fn of(parts: &impl Hash) -> Fingerprint {
        let mut hasher = DefaultHasher::new();
        parts.hash(&mut hasher);
        Fingerprint(hasher.finish())
    }

    /// Any fingerprint, for tests of code that keeps them.
    #[doc(hidden)]
    pub fn for_tests(value: u64) -> Fingerprint {
        Fingerprint(value)
    }
}

/// One read or a full pass, the same for every resource: when `last` (a settled report)
/// carries the fingerprint `seen` and `read` (the one read, fingerprinted; `None` when
/// the resource is gone) finds the same, `last` again; otherwise, or without a
/// fingerprint, `full`. Each is called only when needed, so that only one of their
/// futures (a full pass's is large) is alive at a time.
pub(crate) async fn one_read_or_full<R: Clone, E, Read, Full>(
    last: &R,
    seen: Option<Fingerprint>,
    read: impl FnOnce() -> Read,
    full: impl FnOnce() -> Full,
) -> Result<R, E>
where
    Read: Future<Output = Result<Option<Fingerprint>, E>>,
    Full: Future<Output = Result<R, E>>,
{
    if let Some(seen) = seen
        && read().await? == Some(seen)
    {
        return Ok(last.clone());
    }
    full().await
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Runs [`one_read_or_full`] with a read that finds `found`; says what it answered
    /// and which futures ran.
    async fn pass(seen: Option<u64>, found: Option<u64>) -> (&'static str, bool, bool) {
        let (read_ran, full_ran) = (Cell::new(false), Cell::new(false));
        let read = || async {
            read_ran.set(true);
            Ok::<_, ()>(found.map(Fingerprint))
        };
        let full = || async {
            full_ran.set(true);
            Ok("full")
        };
        let answer = one_read_or_full(&"last", seen.map(Fingerprint), read, full)
            .await
            .unwrap();
        (answer, read_ran.get(), full_ran.get())
    }

    #[tokio::test]
    async fn the_same_fingerprint_answers_after_one_read() {
        assert_eq!(pass(Some(1), Some(1)).await, ("last", true, false));
    }

    #[tokio::test]
    async fn a_change_a_gone_resource_or_no_fingerprint_means_a_full_pass() {
        assert_eq!(pass(Some(1), Some(2)).await, ("full", true, true));
        assert_eq!(pass(Some(1), None).await, ("full", true, true));
        assert_eq!(pass(None, Some(1)).await, ("full", false, true));
    }
}
