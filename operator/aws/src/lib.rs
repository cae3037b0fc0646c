//! The AWS resources a MetricsApp owns, with no Kubernetes in sight: the operator's
//! controller maps a MetricsApp spec to these plain types (the app's DynamoDB table and
//! its Lambda functions) and reports what comes back.

mod fingerprint;
pub mod function;
mod owner;
mod pass;
mod sdk;
pub mod table;
mod tags;

pub use fingerprint::Fingerprint;
pub use pass::PassError;
