//! The AWS resources a MetricsApp owns, with no Kubernetes in sight: the operator's
//! controller maps a MetricsApp spec to these plain types and reports what comes back.

pub mod table;
