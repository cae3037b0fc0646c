//! The MetricsApp operator: a kube-rs controller that runs the Metrics App and owns
//! its DynamoDB table and Lambda functions.
//!
//! Layout: `crd` is the custom resource; `table`, `function` and `resources` turn a
//! MetricsApp into the table, functions and Kubernetes objects it asks for, and
//! `status` into the status it reports (all pure, no I/O); `controller` does the I/O
//! around them (reconcile, deletion, error policy); `aws_calls`, `metrics`, `server`,
//! `telemetry`, `leader` and `cli` run the process.

pub mod aws_calls;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod expiry;
pub mod function;
pub mod leader;
pub mod limits;
pub mod metrics;
pub mod plan;
pub mod resources;
pub mod rollback;
pub mod server;
pub mod status;
pub mod table;
pub mod telemetry;

#[cfg(test)]
mod faults;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod reconcile_tests;

/// Name of the field manager for every server-side apply, and of the Event reporter.
pub const MANAGER: &str = "metricsapp-operator";

/// Finalizer that keeps a MetricsApp until its table has been retained or deleted.
pub const FINALIZER: &str = "metricsapp.dev/cleanup";

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[source] kube::Error),

    /// A DynamoDB call or table check failed.
    #[error("{0}")]
    Table(#[source] metricsapp_aws::table::Error),

    /// A Lambda call or function check failed.
    #[error("{0}")]
    Function(#[source] metricsapp_aws::function::Error),

    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    /// A Kubernetes object could not be serialized.
    #[error("could not serialize {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// The spec asks for something the operator cannot build (normally refused by the
    /// CRD's schema already).
    #[error("invalid MetricsApp spec: {0}")]
    InvalidSpec(String),

    /// The MetricsApp lacks something the API server always sets (namespace, uid).
    #[error("MetricsApp has no {0}")]
    MissingMetadata(&'static str),

    /// Bad command-line flags or environment.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// Leader election could not start or failed.
    #[error("leader election failed: {0}")]
    LeaderElection(#[source] kube_lease_manager::LeaseManagerError),

    /// Another replica took the leader Lease (or it could not be renewed): this one
    /// stops so that it restarts as a standby.
    #[error("lost the leader Lease; exiting so that the pod restarts as a standby")]
    LeaseLost,

    /// The metrics server could not bind or serve.
    #[error("metrics server on {addr}: {source}")]
    MetricsServer {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// Connecting to the Kubernetes API (kubeconfig or in-cluster) failed.
    #[error("cannot reach the Kubernetes API: {0}")]
    KubeConfig(#[source] kube::Error),
}

impl Error {
    /// Short CamelCase label for the `reason` of `metricsapp_reconcile_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubernetesApi",
            Error::Table(error) => error.reason(),
            Error::Function(error) => error.reason(),
            Error::Finalizer(error) => match error.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.reason(),
                _ => "Finalizer",
            },
            Error::Serialize { .. } => "Serialize",
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::MissingMetadata(_) => "MissingMetadata",
            Error::Config(_) => "Config",
            Error::LeaderElection(_) => "LeaderElection",
            Error::LeaseLost => "LeaseLost",
            Error::MetricsServer { .. } => "MetricsServer",
            Error::KubeConfig(_) => "KubeConfig",
        }
    }
}

impl From<kube::Error> for Error {
    fn from(error: kube::Error) -> Self {
        Error::Kube(error)
    }
}

impl From<metricsapp_aws::function::Error> for Error {
    fn from(error: metricsapp_aws::function::Error) -> Self {
        Error::Function(error)
    }
}

impl From<metricsapp_aws::table::Error> for Error {
    fn from(error: metricsapp_aws::table::Error) -> Self {
        Error::Table(error)
    }
}
