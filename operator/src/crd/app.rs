//! The app's workload: its rollout, Service, sign-in, ServiceAccount and placement.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, Toleration};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::table::default_true;

/// How a new image or configuration replaces running pods (the Deployment's rolling
/// update).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "!(has(self.maxSurge) && has(self.maxUnavailable) && string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])"
)
.message("rollout.maxSurge and rollout.maxUnavailable cannot both be 0: the rollout could never start")
.reason(kube::core::Reason::FieldValueInvalid))]
pub struct RolloutSpec {
    /// Pods created above the desired number during a rollout: a count or a
    /// percentage such as `25%` (the default).
    #[serde(default = "default_max_surge")]
    pub max_surge: Option<IntOrString>,

    /// Pods that may be unavailable during a rollout: a count or a percentage. The
    /// default 0 keeps every replica serving while new pods start.
    #[serde(default = "default_max_unavailable")]
    pub max_unavailable: Option<IntOrString>,

    /// Seconds a rollout may go without progress before the Deployment reports it
    /// failed (`ProgressDeadlineExceeded`). Default 600.
    #[serde(default = "default_progress_deadline")]
    #[schemars(range(min = 10, max = 86400))]
    pub progress_deadline_seconds: i32,

    /// When a new image fails its rollout, put back the last image that reached Ready
    /// (the app keeps serving it) and report `RolledBack` until the spec changes.
    /// Default true.
    #[serde(default = "default_true")]
    pub auto_rollback: bool,
}

impl Default for RolloutSpec {
    fn default() -> Self {
        RolloutSpec {
            max_surge: default_max_surge(),
            max_unavailable: default_max_unavailable(),
            progress_deadline_seconds: default_progress_deadline(),
            auto_rollback: true,
        }
    }
}

fn default_progress_deadline() -> i32 {
    600
}

fn default_max_surge() -> Option<IntOrString> {
    Some(IntOrString::String("25%".to_owned()))
}

fn default_max_unavailable() -> Option<IntOrString> {
    Some(IntOrString::Int(0))
}

/// The Service in front of the app pods.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Port the Service listens on (it forwards to the app's port 8080).
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 65535").message("service.port must be between 1 and 65535"))]
    pub port: i32,

    /// Service type: `ClusterIP` (the default), `NodePort` or `LoadBalancer` — the
    /// last two only where the operator's administrator allows them
    /// (`--allowed-service-types`).
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            port: default_port(),
            type_: ServiceType::default(),
        }
    }
}

fn default_port() -> i32 {
    80
}

/// Service type: `ClusterIP` (the default, reachable inside the cluster), `NodePort` or
/// `LoadBalancer`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServiceType {
    /// Reachable inside the cluster only.
    #[default]
    ClusterIP,
    /// Also on a port of every node.
    NodePort,
    /// Also through a cloud load balancer.
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// Who may write to the app.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(
        "self.mode != 'proxy' || (has(self.proxy) && has(self.proxy.trustedCIDRs) && size(self.proxy.trustedCIDRs) > 0)"
    )
    .message("auth.proxy.trustedCIDRs is required with auth.mode proxy: the engineer header is trusted only from the proxy's addresses")
    .reason(kube::core::Reason::FieldValueRequired),
    validation = kube::core::Rule::new("self.mode == 'token' || !has(self.tokenSecretRef)")
        .message("auth.tokenSecretRef is for auth.mode token")
        .reason(kube::core::Reason::FieldValueInvalid)
)]
pub struct AuthSpec {
    /// `none` (the default), `token` or `proxy`.
    #[serde(default)]
    pub mode: AuthMode,

    /// The Secret holding the API tokens (key `tokens`: one `<engineer> <role>
    /// <sha256-hex>` line per token, role `engineer` or `admin`) and the key that signs
    /// session cookies (key `session-key`: at least 32 random bytes as hex, e.g.
    /// `openssl rand -hex 32`), labelled `metricsapp.dev/tokens`; both keys are mounted
    /// read-only and re-read by the app when they change. Unset with mode `token`: the
    /// operator creates `<name>-auth` once, with one generated admin token (key
    /// `admin-token`) and a session key, never overwrites it, and adds a new session key
    /// when that key is deleted (which ends every session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretRef>,

    /// The authenticating proxy (mode `proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyAuthSpec>,
}

/// How the app authenticates writes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Anyone who reaches the app may write (the pages say so).
    #[default]
    None,
    /// `Authorization: Bearer` API tokens, and a sign-in form for the pages.
    Token,
    /// The engineer comes from a header set by an authenticating proxy.
    Proxy,
}

impl AuthMode {
    /// The value of the app's `METRICS_APP_AUTH`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Token => "token",
            AuthMode::Proxy => "proxy",
        }
    }
}

/// A Secret in the MetricsApp's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(
        length(min = 1, max = 253),
        pattern(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
}

/// The authenticating proxy in front of the app (oauth2-proxy, an ingress with OIDC).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProxyAuthSpec {
    /// Header carrying the signed-in engineer. Default `X-Auth-Request-Email`
    /// (oauth2-proxy).
    #[serde(default = "default_proxy_header")]
    #[schemars(length(min = 1, max = 128), pattern(r"^[A-Za-z0-9-]+$"))]
    pub header: String,

    /// Addresses of the proxy (CIDRs, e.g. `10.0.0.0/8`): the header is trusted only
    /// on requests from these.
    #[serde(default, rename = "trustedCIDRs")]
    #[schemars(length(max = 32))]
    pub trusted_cidrs: Vec<String>,
}

fn default_proxy_header() -> String {
    "X-Auth-Request-Email".to_owned()
}

/// The ServiceAccount the app pods run as.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSpec {
    /// IAM role for the app pods (IRSA on EKS): written as the
    /// `eks.amazonaws.com/role-arn` annotation of the ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^arn:[a-z0-9-]+:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: Option<String>,
}

/// Where the app pods run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSpec {
    /// Spread the pods across zones and across nodes (`topologySpreadConstraints` on
    /// `topology.kubernetes.io/zone` and `kubernetes.io/hostname`, `maxSkew: 1`,
    /// `whenUnsatisfiable: ScheduleAnyway`, so a one-zone or one-node cluster still runs
    /// them; each rollout's pods are spread on their own). On by default.
    #[serde(default = "default_true")]
    pub spread: bool,

    /// Passed to the pods as `nodeSelector`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Passed to the pods as `tolerations`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub tolerations: Vec<Toleration>,

    /// Passed to the pods as `affinity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
}

impl Default for PlacementSpec {
    fn default() -> Self {
        Self {
            spread: true,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            affinity: None,
        }
    }
}

impl PlacementSpec {
    /// Nothing asked beyond the defaults (not written back into manifests).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// How the app scales with its load.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.minReplicas <= self.maxReplicas")
    .message("autoscaling.minReplicas must not exceed autoscaling.maxReplicas")
    .reason(kube::core::Reason::FieldValueInvalid))]
pub struct AutoscalingSpec {
    /// Fewest pods.
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: i32,

    /// Most pods.
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,

    /// Average CPU use the autoscaler keeps the pods at, in percent of their CPU
    /// request (set `resources.requests.cpu`).
    #[serde(
        default = "default_cpu_target",
        rename = "targetCPUUtilizationPercentage"
    )]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization_percentage: i32,

    /// Average memory use to keep the pods at, in percent of their memory request; unset:
    /// CPU only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_memory_utilization_percentage: Option<i32>,
}

fn default_cpu_target() -> i32 {
    70
}

/// How many app pods a voluntary disruption (a node drain) may take at once.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DisruptionSpec {
    /// Pods that may be unavailable at once during a drain: a number or a percentage
    /// (`25%`). Default 1.
    #[serde(default = "default_max_disrupted")]
    pub max_unavailable: IntOrString,
}

impl Default for DisruptionSpec {
    fn default() -> Self {
        Self {
            max_unavailable: default_max_disrupted(),
        }
    }
}

impl DisruptionSpec {
    /// The default budget (not written back into manifests).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn default_max_disrupted() -> IntOrString {
    IntOrString::Int(1)
}

/// Who may reach the app pods, and where they may connect.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Make the NetworkPolicy (default true). False removes it.
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// Namespaces whose pods may reach the app's port besides this one's: the ingress
    /// controller's or the gateway's, and the metrics scraper's (the app serves
    /// `/metrics` on the same port).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ingress_namespaces: Vec<String>,

    /// TCP ports the pods may connect to anywhere, besides DNS (default 443: AWS).
    #[serde(default = "default_egress_ports")]
    #[schemars(length(min = 1, max = 16), inner(range(min = 1, max = 65535)))]
    pub egress_ports: Vec<i32>,
}

fn default_egress_ports() -> Vec<i32> {
    vec![443]
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            ingress_namespaces: Vec::new(),
            egress_ports: default_egress_ports(),
        }
    }
}

impl NetworkPolicySpec {
    /// The default policy (not written back into manifests).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}
