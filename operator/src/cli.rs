//! Flags and environment of `metricsapp-operator run`, and the settings derived from
//! them (checked here, so bad configuration stops the process with a clear message
//! before it touches anything).

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use k8s_openapi::jiff::SignedDuration;
use metricsapp_aws::table::DeletionPolicy;

use crate::crd::ServiceType;
use crate::limits::Limits;
use crate::{Error, Result};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(long, env = "METRICSAPP_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Namespace to watch; empty watches all namespaces.
    #[arg(long = "namespace", env = "WATCH_NAMESPACE", default_value = "")]
    pub namespace: String,

    /// How often every MetricsApp is checked again even when nothing changed (finds
    /// table drift), e.g. `30s`, `5m`, `1h`.
    #[arg(long, env = "METRICSAPP_RESYNC_PERIOD", default_value = "5m", value_parser = parse_period)]
    pub resync_period: Duration,

    /// Deletion policy for MetricsApps that leave `table.deletionPolicy` unset.
    #[arg(
        long,
        env = "METRICSAPP_DEFAULT_DELETION_POLICY",
        default_value = "Retain",
        ignore_case = true
    )]
    pub default_deletion_policy: DeletionPolicyArg,

    /// MetricsApps reconciled at once; the others wait their turn. Bounds the
    /// operator's memory and its rate of AWS and Kubernetes calls.
    #[arg(long, env = "METRICSAPP_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Longest time one AWS call may take (all retries included), e.g. `20s`.
    #[arg(long, env = "METRICSAPP_AWS_CALL_TIMEOUT", default_value = "20s", value_parser = parse_period)]
    pub aws_call_timeout: Duration,

    /// Longest time the AWS side of one part of a pass (the table, the functions) may
    /// take; past it the part reports Timeout and is retried.
    #[arg(long, env = "METRICSAPP_AWS_DEADLINE", default_value = "60s", value_parser = parse_period)]
    pub aws_deadline: Duration,

    /// How often each table and function is read in full (every setting, its tags,
    /// its trigger and URL, the code object in S3). In between, a pass at rest reads
    /// each resource once (DescribeTable, GetFunction) and reads in full only when
    /// that read, the spec or the record changed. `0s` reads in full on every pass.
    #[arg(long, env = "METRICSAPP_AWS_FULL_READ_PERIOD", default_value = "1h", value_parser = parse_period_or_zero)]
    pub aws_full_read_period: Duration,

    /// How long a table or function last seen settled keeps its condition, and the
    /// app its `Ready`, while reads of it fail for passing reasons (throttled, AWS 5xx,
    /// timeouts); the failure shows on `Synced` meanwhile. `0s`: at once.
    #[arg(long, env = "METRICSAPP_TRANSIENT_GRACE_PERIOD", default_value = "10m", value_parser = parse_period_or_zero)]
    pub transient_grace_period: Duration,

    /// Attempts per AWS call for throttling and other retryable errors (the SDK's
    /// adaptive retry mode, which also slows the client down while AWS throttles);
    /// all attempts together are bounded by --aws-call-timeout.
    #[arg(long, env = "METRICSAPP_AWS_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub aws_max_attempts: u32,

    /// Put in front of every AWS name the operator makes (tables, functions), so that
    /// its IAM policy can be scoped to `<prefix>*`. Names recorded in a MetricsApp's
    /// status when its resources were created are kept.
    #[arg(long, env = "METRICSAPP_NAME_PREFIX", default_value = "", value_parser = parse_prefix)]
    pub name_prefix: String,

    /// Highest provisioned read capacity a MetricsApp's table may ask for.
    #[arg(long, env = "METRICSAPP_MAX_READ_CAPACITY", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_read_capacity: i64,

    /// Highest provisioned write capacity a MetricsApp's table may ask for.
    #[arg(long, env = "METRICSAPP_MAX_WRITE_CAPACITY", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_write_capacity: i64,

    /// Honour `adopt: true`: let a MetricsApp take over an existing table or function
    /// that no MetricsApp owns.
    #[arg(long, env = "METRICSAPP_ALLOW_ADOPT", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_adopt: bool,

    /// Let `deletionPolicy: Delete` skip the backup (`backupBeforeDelete: false`);
    /// otherwise a backup is taken anyway.
    #[arg(long, env = "METRICSAPP_ALLOW_DELETE_WITHOUT_BACKUP", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_delete_without_backup: bool,

    /// Service types a MetricsApp may ask for, comma-separated: `ClusterIP`,
    /// `NodePort`, `LoadBalancer`.
    #[arg(long, env = "METRICSAPP_ALLOWED_SERVICE_TYPES", default_value = "ClusterIP", value_delimiter = ',', value_parser = parse_service_type)]
    pub allowed_service_types: Vec<ServiceType>,

    /// Longest `expireAfter` a MetricsApp may ask for (e.g. `168h`); a longer one is
    /// refused as a whole. Unset: any.
    #[arg(long, env = "METRICSAPP_MAX_EXPIRE_AFTER", value_parser = parse_period)]
    pub max_expire_after: Option<Duration>,

    /// Most MetricsApps with `expireAfter` (previews) per namespace; the oldest keep
    /// running and newer ones beyond the number are refused as a whole. Unset: any.
    #[arg(long, env = "METRICSAPP_MAX_PREVIEWS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_previews: Option<u32>,

    /// Run the controller only while holding a Lease, so that several replicas can run
    /// with one active.
    #[arg(long, env = "METRICSAPP_LEADER_ELECTION", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub leader_election: bool,

    /// Name of the Lease used for leader election.
    #[arg(
        long,
        env = "METRICSAPP_LEASE_NAME",
        default_value = "metricsapp-operator"
    )]
    pub lease_name: String,

    /// Namespace of the Lease (required with --leader-election; normally the
    /// operator's own namespace through the downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// Identity of this replica in the Lease (default: the hostname).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,

    /// Log format.
    #[arg(
        long,
        env = "METRICSAPP_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionPolicyArg {
    #[value(name = "Retain")]
    Retain,
    #[value(name = "Delete")]
    Delete,
}

impl From<DeletionPolicyArg> for DeletionPolicy {
    fn from(policy: DeletionPolicyArg) -> Self {
        match policy {
            DeletionPolicyArg::Retain => DeletionPolicy::Retain,
            DeletionPolicyArg::Delete => DeletionPolicy::Delete,
        }
    }
}

/// Where and as whom to hold the leader Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub identity: String,
}

impl RunArgs {
    /// The administrator's limits from the flags.
    pub fn limits(&self) -> Limits {
        Limits {
            max_read_capacity: self.max_read_capacity,
            max_write_capacity: self.max_write_capacity,
            allow_adopt: self.allow_adopt,
            allow_delete_without_backup: self.allow_delete_without_backup,
            service_types: self.allowed_service_types.clone(),
            max_expire_after: self.max_expire_after,
            max_previews: self.max_previews.map(|max| max as usize),
        }
    }

    /// The namespace to watch, `None` for all.
    pub fn watched_namespace(&self) -> Option<&str> {
        let namespace = self.namespace.trim();
        (!namespace.is_empty()).then_some(namespace)
    }

    /// The Lease to hold, or `None` when leader election is off.
    pub fn lease(&self) -> Result<Option<LeaseSettings>> {
        if !self.leader_election {
            return Ok(None);
        }
        let namespace = self
            .lease_namespace
            .clone()
            .filter(|namespace| !namespace.trim().is_empty())
            .ok_or_else(|| {
                Error::Config(
                    "--leader-election needs --lease-namespace or POD_NAMESPACE (the namespace of the Lease)".into(),
                )
            })?;
        let identity = match self.pod_name.clone().filter(|name| !name.trim().is_empty()) {
            Some(name) => name,
            None => hostname::get()
                .map_err(|error| Error::Config(format!("no POD_NAME and no hostname: {error}")))?
                .to_string_lossy()
                .into_owned(),
        };
        Ok(Some(LeaseSettings {
            name: self.lease_name.clone(),
            namespace,
            identity,
        }))
    }
}

/// Parses a period such as `30s`, `5m`, `1h30m`; it must be at least one second.
fn parse_service_type(text: &str) -> std::result::Result<ServiceType, String> {
    match text.trim() {
        "ClusterIP" => Ok(ServiceType::ClusterIP),
        "NodePort" => Ok(ServiceType::NodePort),
        "LoadBalancer" => Ok(ServiceType::LoadBalancer),
        other => Err(format!(
            "`{other}` is not a Service type: ClusterIP, NodePort or LoadBalancer"
        )),
    }
}

/// A prefix keeps names valid for both DynamoDB and Lambda: letters, digits, `-`, `_`.
pub(crate) fn parse_prefix(text: &str) -> std::result::Result<String, String> {
    if text.len() <= 20
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}`: a name prefix is at most 20 characters of letters, digits, `-` and `_`"
        ))
    }
}

pub fn parse_period(text: &str) -> std::result::Result<Duration, String> {
    let period = SignedDuration::from_str(text.trim())
        .map_err(|error| format!("`{text}` is not a period like 30s, 5m or 1h: {error}"))?;
    let period = Duration::try_from(period)
        .map_err(|_| format!("`{text}` is negative: give a period like 30s or 5m"))?;
    if period < Duration::from_secs(1) {
        return Err(format!("`{text}` is shorter than one second"));
    }
    Ok(period)
}

/// [`parse_period`], or `0s` for "never".
pub fn parse_period_or_zero(text: &str) -> std::result::Result<Duration, String> {
    match SignedDuration::from_str(text.trim()) {
        Ok(period) if period.is_zero() => Ok(Duration::ZERO),
        _ => parse_period(text),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> std::result::Result<RunArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied())).map(|cli| cli.run)
    }

    #[test]
    fn defaults_match_the_contract() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.metrics_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(args.watched_namespace(), None);
        assert_eq!(args.resync_period, Duration::from_secs(300));
        assert_eq!(args.default_deletion_policy, DeletionPolicyArg::Retain);
        assert!(!args.leader_election);
        assert_eq!(args.lease_name, "metricsapp-operator");
        assert_eq!(args.log_format, LogFormat::Text);
        assert_eq!(args.lease().unwrap(), None);
    }

    #[test]
    fn the_administrators_limits_default_to_the_safe_side_and_parse() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.limits(), Limits::default());
        assert_eq!(args.name_prefix, "");
        assert_eq!(args.concurrency, 8);
        let args = parse(&[
            "--name-prefix=metricsapp-",
            "--max-read-capacity=500",
            "--max-write-capacity=50",
            "--allow-adopt",
            "--allow-delete-without-backup=true",
            "--allowed-service-types=ClusterIP,LoadBalancer",
            "--max-expire-after=168h",
            "--max-previews=5",
        ])
        .unwrap();
        let limits = args.limits();
        assert_eq!(
            limits.max_expire_after,
            Some(Duration::from_secs(168 * 3600))
        );
        assert_eq!(limits.max_previews, Some(5));
        assert_eq!(args.name_prefix, "metricsapp-");
        assert_eq!(
            (limits.max_read_capacity, limits.max_write_capacity),
            (500, 50)
        );
        assert!(limits.allow_adopt && limits.allow_delete_without_backup);
        assert_eq!(
            limits.service_types,
            [ServiceType::ClusterIP, ServiceType::LoadBalancer]
        );
        for bad in [
            "--allowed-service-types=Public",
            "--name-prefix=has space",
            "--max-read-capacity=0",
            "--concurrency=0",
            "--max-previews=0",
            "--max-expire-after=soon",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn periods_parse_in_human_units() {
        assert_eq!(parse_period("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_period("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_period("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_period("soon").unwrap_err().contains("soon"));
        assert!(parse_period("-5m").is_err());
        assert!(
            parse_period("10ms")
                .unwrap_err()
                .contains("shorter than one second")
        );
        assert_eq!(parse_period_or_zero("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_period_or_zero("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_period_or_zero("10ms").is_err());
        let args = parse(&[]).unwrap();
        assert_eq!(args.aws_full_read_period, Duration::from_secs(3600));
        let args = parse(&["--aws-full-read-period", "0s"]).unwrap();
        assert_eq!(args.aws_full_read_period, Duration::ZERO);
    }

    #[test]
    fn flags_override_defaults() {
        let args = parse(&[
            "--namespace",
            "team",
            "--resync-period",
            "30s",
            "--default-deletion-policy",
            "Delete",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(args.watched_namespace(), Some("team"));
        assert_eq!(args.resync_period, Duration::from_secs(30));
        assert_eq!(
            DeletionPolicy::from(args.default_deletion_policy),
            DeletionPolicy::Delete
        );
        assert_eq!(args.log_format, LogFormat::Json);
        assert!(parse(&["--default-deletion-policy", "Forget"]).is_err());
    }

    #[test]
    fn leader_election_needs_a_lease_namespace() {
        let error = parse(&["--leader-election"]).unwrap().lease().unwrap_err();
        assert!(error.to_string().contains("POD_NAMESPACE"), "{error}");
    }

    #[test]
    fn leader_election_uses_pod_name_as_identity() {
        let args = parse(&[
            "--leader-election=true",
            "--lease-namespace",
            "metricsapp-system",
            "--pod-name",
            "metricsapp-operator-7d9f-abcde",
            "--lease-name",
            "lock",
        ])
        .unwrap();
        assert_eq!(
            args.lease().unwrap(),
            Some(LeaseSettings {
                name: "lock".into(),
                namespace: "metricsapp-system".into(),
                identity: "metricsapp-operator-7d9f-abcde".into(),
            })
        );
    }

    #[test]
    fn leader_election_falls_back_to_the_hostname() {
        let args = parse(&["--leader-election", "--lease-namespace", "ops"]).unwrap();
        let lease = args.lease().unwrap().unwrap();
        assert!(!lease.identity.is_empty());
        assert_eq!(lease.namespace, "ops");
    }
}
