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
