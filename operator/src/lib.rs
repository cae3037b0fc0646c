//! The MetricsApp operator: a kube-rs controller that runs the Metrics App and owns
//! its DynamoDB table.

pub mod crd;
