//! The AWS resources a MetricsApp owns, with no Kubernetes in sight: the operator's
//! controller maps a MetricsApp spec to these plain types (the app's DynamoDB table and
//! its Lambda functions) and reports what comes back.
//!
//! Each resource takes one shape, file for file: plain types (`mod.rs`), `describe`
//! (read AWS into an `Actual…`), `plan` (pure: desired × actual × record → steps,
//! what comes later, what AWS is busy with; ownership decided there), `apply` (send the
//! steps), `change` (Event wording), `error`. What is the same for both lives here
//! once: `owner` (owner tags and `admit`), `tags` (limits and the one
//! `TagChange` diff), `pass` (the error of a pass that failed after
//! changes), `fingerprint` (the one-read pass) and `sdk` (reading SDK errors).

mod fingerprint;
pub mod function;
mod owner;
mod pass;
mod sdk;
pub mod table;
mod tags;

pub use fingerprint::Fingerprint;
pub use pass::PassError;
