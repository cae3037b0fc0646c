//! The `MetricsApp` custom resource: one object describes a running Metrics App and
//! the DynamoDB table it stores its data in.
//!
//! The schema is generated from these types (`metricsapp-operator crdgen`). Doc comments
//! become the field descriptions that `kubectl explain` shows, so they are written for
//! the person filling in the manifest. Bad specs are refused by the API server itself:
//! enums, ranges and patterns in the OpenAPI schema, CEL rules for cross-field and
//! immutability checks.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Metrics App, its DynamoDB table and its Lambda functions. The operator creates
/// the table, the functions, a Deployment, Service, ConfigMap and ServiceAccount named
/// after this object, and keeps them as described here.
// Each printcolumn(...) repeats the same keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "metricsapp.dev",
    version = "v1alpha1",
    kind = "MetricsApp",
    plural = "metricsapps",
    shortname = "mapp",
    namespaced,
    status = "MetricsAppStatus",
    derive = "PartialEq",
    // Only metadata.name is visible to rules at the root (not the namespace): this
    // refuses the default AWS function names that are too long even in a one-letter
    // namespace; the operator checks the full name (InvalidSpec) for the rest.
    validation = kube::core::Rule::new(
        "!has(self.spec.functions) || self.spec.functions.all(f, has(f.functionName) || size(self.metadata.name) + size(f.name) + 4 <= 64)"
    )
    .message("spec.functions[].name: the default AWS function name <namespace>-<metadata.name>-<name> must fit in 64 characters; shorten the name or set functionName")
    .reason(kube::core::Reason::FieldValueInvalid),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the table is ready and the app available"
    ),
    printcolumn(
        name = "Table",
        type_ = "string",
        json_path = ".status.table.name",
        description = "DynamoDB table of the app"
    ),
    printcolumn(
        name = "Functions",
        type_ = "string",
        json_path = ".status.functionsReady",
        description = "Lambda functions that match the spec, of those declared"
    ),
    printcolumn(
        name = "Image",
        type_ = "string",
        json_path = ".status.image",
        description = "Image the Deployment runs"
    ),
    printcolumn(
        name = "URL",
        type_ = "string",
        json_path = ".status.url",
        description = "In-cluster URL of the app"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(
        "!has(self.functions) || self.functions.all(f, !has(f.trigger) || !has(f.trigger.tableStream) || (has(self.table) && has(self.table.stream)))"
    )
    .message("functions[].trigger.tableStream needs the table's stream: set table.stream (NEW_AND_OLD_IMAGES for the rollup function)")
    .field_path(".functions")
    .reason(kube::core::Reason::FieldValueInvalid)
)]
pub struct MetricsAppSpec {
    /// Container image of the Metrics App, best pinned by digest
    /// (`ghcr.io/metricsapp/metrics-app@sha256:...`). Changing it rolls the Deployment,
    /// one pod at a time with no unavailable replica by default.
    #[schemars(length(min = 1))]
    pub image: String,

    /// Number of app pods. 0 scales the app down and keeps the table.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0))]
    #[x_kube(validation = kube::core::Rule::new("self >= 0").message("replicas must be 0 or more"))]
    pub replicas: i32,

    /// The DynamoDB table the app stores its data in.
    #[serde(default)]
    pub table: TableSpec,

    /// The app's AWS Lambda functions, keyed by name. Each is created, kept as declared
    /// (drift reverted on resync) and deleted when removed from this list (per its
    /// deletionPolicy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]), length(max = 20))]
    pub functions: Vec<FunctionSpec>,

    /// How a new image or configuration replaces running pods.
    #[serde(default)]
    pub rollout: RolloutSpec,

    /// The Service in front of the app pods.
    #[serde(default)]
    pub service: ServiceSpec,

    /// CPU and memory requests and limits of the app container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Extra environment variables for the app container, added after the ones the
    /// operator sets (table name, listen address, region, log format).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,

    /// Who may write to the app: `none` (anyone who reaches it; for a laptop), `token`
    /// (API tokens from a Secret, the operator creates one with an admin token when
    /// none is named) or `proxy` (an authenticating proxy in front sets the engineer
    /// in a header).
    #[serde(default)]
    pub auth: AuthSpec,

    /// The Kubernetes ServiceAccount the app pods run as (created by the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountSpec>,

    /// When true the operator touches nothing (neither the table nor the app) until it
    /// is set back to false. Deletion still follows the table's deletion policy.
    #[serde(default)]
    pub suspend: bool,
}

fn default_replicas() -> i32 {
    2
}

/// The app's DynamoDB table.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(
        "self.billingMode == 'PROVISIONED' ? (has(self.readCapacity) && has(self.writeCapacity)) : (!has(self.readCapacity) && !has(self.writeCapacity))"
    )
    .message("table.readCapacity and table.writeCapacity are required when table.billingMode is PROVISIONED, and not allowed when it is PAY_PER_REQUEST")
    .reason(kube::core::Reason::FieldValueInvalid),
    validation = kube::core::Rule::new(
        "has(oldSelf.name) == has(self.name) && (!has(self.name) || self.name == oldSelf.name)"
    )
    .message("table.name is immutable: it can only be set when the MetricsApp is created")
    .field_path(".name")
    .reason(kube::core::Reason::FieldValueForbidden)
)]
pub struct TableSpec {
    /// Table name. Defaults to `<namespace>-<name>` of this MetricsApp; the operator
    /// puts its administrator's prefix (`--name-prefix`) in front. Immutable once the
    /// MetricsApp exists: DynamoDB cannot rename a table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[a-zA-Z0-9_.-]{3,255}$"), length(max = 255))]
    pub name: Option<String>,

    /// `PAY_PER_REQUEST` (on-demand, the default) or `PROVISIONED` (set readCapacity
    /// and writeCapacity).
    #[serde(default)]
    pub billing_mode: BillingMode,

    /// Read capacity units of the table and its index, 1 to 40000 (DynamoDB's
    /// per-table quota). Required exactly when billingMode is `PROVISIONED`; the
    /// operator's administrator may allow less (`--max-read-capacity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 40000))]
    pub read_capacity: Option<i64>,

    /// Write capacity units of the table and its index, 1 to 40000 (DynamoDB's
    /// per-table quota). Required exactly when billingMode is `PROVISIONED`; the
    /// operator's administrator may allow less (`--max-write-capacity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 40000))]
    pub write_capacity: Option<i64>,

    /// Continuous backups with point-in-time recovery.
    #[serde(default)]
    pub point_in_time_recovery: bool,

    /// Attribute holding each item's expiry time (epoch seconds). Unset turns TTL off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub ttl_attribute: Option<String>,

    /// Turns the table's stream on with this view type. Unset turns the stream off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamViewType>,

    /// Tags put on the table, on top of the operator's ownership tags
    /// (`metricsapp.dev/namespace`, `metricsapp.dev/name`, `metricsapp.dev/uid`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,

    /// What happens to the table when the MetricsApp is deleted: `Retain` keeps the
    /// table and its items, `Delete` deletes it (after a backup, see
    /// backupBeforeDelete). Unset uses the operator's default, which is `Retain` unless
    /// its administrator changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Take an on-demand backup before deleting the table (deletionPolicy `Delete`).
    #[serde(default = "default_true")]
    pub backup_before_delete: bool,

    /// Take over an existing table that was not created by this MetricsApp (only when
    /// the operator's administrator allows it: `--allow-adopt`). Without it such a
    /// table is left untouched and the TableReady condition reports a TableConflict.
    #[serde(default)]
    pub adopt: bool,
}

impl Default for TableSpec {
    fn default() -> Self {
        TableSpec {
            name: None,
            billing_mode: BillingMode::default(),
            read_capacity: None,
            write_capacity: None,
            point_in_time_recovery: false,
            ttl_attribute: None,
            stream: None,
            tags: BTreeMap::new(),
            deletion_policy: None,
            backup_before_delete: true,
            adopt: false,
        }
    }
}

fn default_true() -> bool {
    true
}

/// How the table is billed: `PAY_PER_REQUEST` (on-demand, the default) or
/// `PROVISIONED` (set readCapacity and writeCapacity).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BillingMode {
    /// On-demand: pay per request, no capacity to plan.
    #[default]
    #[serde(rename = "PAY_PER_REQUEST")]
    PayPerRequest,
    /// Fixed read and write capacity units.
    #[serde(rename = "PROVISIONED")]
    Provisioned,
}

/// Turns the table's stream on with this view type: what the stream carries for each
/// change (`KEYS_ONLY`, `NEW_IMAGE`, `OLD_IMAGE` or `NEW_AND_OLD_IMAGES`). Unset turns the
/// stream off.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamViewType {
    /// Only the key attributes of the changed item.
    #[serde(rename = "KEYS_ONLY")]
    KeysOnly,
    /// The item as it is after the change.
    #[serde(rename = "NEW_IMAGE")]
    NewImage,
    /// The item as it was before the change.
    #[serde(rename = "OLD_IMAGE")]
    OldImage,
    /// The item before and after the change.
    #[serde(rename = "NEW_AND_OLD_IMAGES")]
    NewAndOldImages,
}

/// What happens to the table when the MetricsApp is deleted: `Retain` keeps the table
/// and its items, `Delete` deletes it (after an on-demand backup unless
/// backupBeforeDelete is false). Unset uses the operator's default, which is `Retain`
/// unless its administrator changed it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Keep the table and its items.
    Retain,
    /// Delete the table, after an on-demand backup unless backupBeforeDelete is false.
    Delete,
}

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

/// A Lambda function of the app.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(
        "has(oldSelf.functionName) == has(self.functionName) && (!has(self.functionName) || self.functionName == oldSelf.functionName)"
    )
    .message("functions[].functionName is immutable: Lambda cannot rename a function")
    .field_path(".functionName")
    .reason(kube::core::Reason::FieldValueForbidden),
    validation = kube::core::Rule::new(
        "!has(self.code.imageUri) || (!has(self.runtime) && !has(self.handler))"
    )
    .message("functions[].runtime and functions[].handler are for zip code (code.s3): an image brings its own")
    .reason(kube::core::Reason::FieldValueInvalid)
)]
pub struct FunctionSpec {
    /// Name of the function within this MetricsApp: 1 to 40 characters of a-z, 0-9 and
    /// `-`. Removing an entry deletes its function (see deletionPolicy).
    #[schemars(length(min = 1, max = 40), pattern(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub name: String,

    /// The function's name in AWS. Defaults to `<namespace>-<metadata.name>-<name>`,
    /// which must then fit in 64 characters. Immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-]{1,64}$"))]
    pub function_name: Option<String>,

    /// The code: a zip in S3 (`s3`) or a container image (`imageUri`), exactly one.
    pub code: FunctionCode,

    /// Lambda runtime of zip code. Defaults to `provided.al2023` (Rust and other
    /// compiled code). Not allowed with an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<FunctionRuntime>,

    /// Entry point of zip code. Defaults to `bootstrap`, the executable of `provided.*`
    /// runtimes. Not allowed with an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub handler: Option<String>,

    /// Instruction set the code is built for: `x86_64` (the default) or `arm64`.
    #[serde(default)]
    pub architecture: FunctionArchitecture,

    /// Memory in MB, 128 to 10240 (CPU grows with it). Default 128.
    #[serde(default = "default_memory_mb", rename = "memoryMB")]
    #[schemars(range(min = 128, max = 10240))]
    pub memory_mb: i32,

    /// Longest run of one invocation, 1 to 900 seconds. Default 10.
    #[serde(default = "default_function_timeout")]
    #[schemars(range(min = 1, max = 900))]
    pub timeout_seconds: i32,

    /// Environment variables. The operator adds `METRICS_APP_TABLE` (the app's table
    /// name); names reserved by Lambda (`AWS_REGION`, `AWS_LAMBDA_*`, `_HANDLER`, ...)
    /// are refused by the operator (FunctionsReady: InvalidFunctionSpec). Not a CEL
    /// rule: map keys have no length bound, so its estimated cost would exceed what the
    /// API server allows a rule.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50))]
    pub env: BTreeMap<String, String>,

    /// ARN of the function's execution role (the operator passes it to Lambda: its own
    /// role needs `iam:PassRole` on it).
    #[schemars(pattern(r"^arn:[a-z0-9-]+:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: String,

    /// Concurrent executions reserved for this function (0 stops it from running).
    /// Unset: the account's unreserved pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub reserved_concurrency: Option<i32>,

    /// Tags put on the function, on top of the operator's ownership tags. Tags added by
    /// others (AWS Backup, cost allocation) are left alone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,

    /// What invokes the function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<FunctionTrigger>,

    /// An HTTPS endpoint for the function (a function URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<FunctionUrlSpec>,

    /// What happens to the function when it is removed from this list or the
    /// MetricsApp is deleted: `Delete` (the default: a function holds no data) or
    /// `Retain`.
    #[serde(default)]
    pub deletion_policy: FunctionDeletionPolicy,

    /// Take over an existing function that was not created by this MetricsApp. Without
    /// it such a function is left untouched and FunctionsReady reports a
    /// FunctionConflict.
    #[serde(default)]
    pub adopt: bool,
}

fn default_memory_mb() -> i32 {
    128
}

fn default_function_timeout() -> i32 {
    10
}

/// The function's code: a zip in S3 (`s3`) or a container image (`imageUri`), exactly
/// one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("has(self.s3) != has(self.imageUri)")
        .message("functions[].code needs exactly one of code.s3 and code.imageUri")
        .reason(kube::core::Reason::FieldValueInvalid)
)]
pub struct FunctionCode {
    /// A zip in S3. A new object uploaded under the same key is deployed on the next
    /// resync (the operator compares the object's version or ETag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Code>,

    /// A container image in ECR, best pinned by digest (`...@sha256:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image_uri: Option<String>,

    /// SHA-256 of the code (base64, as Lambda reports `CodeSha256`). When set, the
    /// operator deploys the code until Lambda runs exactly this, and reports a mismatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[A-Za-z0-9+/]{43}=$"))]
    pub sha256: Option<String>,
}

/// A zip in S3.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3Code {
    /// Bucket, in the operator's region.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Object key of the zip.
    #[schemars(length(min = 1, max = 1024))]
    pub key: String,
    /// Object version (versioned buckets). Unset: the current object under the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub object_version: Option<String>,
}

/// Lambda runtimes for zip code.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionRuntime {
    /// Amazon Linux 2023, for compiled code with a `bootstrap` (Rust, Go).
    #[serde(rename = "provided.al2023")]
    ProvidedAl2023,
    /// Amazon Linux 2, for compiled code with a `bootstrap`.
    #[serde(rename = "provided.al2")]
    ProvidedAl2,
    /// Node.js 22.
    #[serde(rename = "nodejs22.x")]
    Nodejs22,
    /// Node.js 20.
    #[serde(rename = "nodejs20.x")]
    Nodejs20,
    /// Python 3.13.
    #[serde(rename = "python3.13")]
    Python313,
    /// Python 3.12.
    #[serde(rename = "python3.12")]
    Python312,
    /// Python 3.11.
    #[serde(rename = "python3.11")]
    Python311,
    /// Java 21.
    #[serde(rename = "java21")]
    Java21,
    /// Java 17.
    #[serde(rename = "java17")]
    Java17,
    /// .NET 8.
    #[serde(rename = "dotnet8")]
    Dotnet8,
    /// Ruby 3.3.
    #[serde(rename = "ruby3.3")]
    Ruby33,
}

impl FunctionRuntime {
    /// The identifier Lambda uses.
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionRuntime::ProvidedAl2023 => "provided.al2023",
            FunctionRuntime::ProvidedAl2 => "provided.al2",
            FunctionRuntime::Nodejs22 => "nodejs22.x",
            FunctionRuntime::Nodejs20 => "nodejs20.x",
            FunctionRuntime::Python313 => "python3.13",
            FunctionRuntime::Python312 => "python3.12",
            FunctionRuntime::Python311 => "python3.11",
            FunctionRuntime::Java21 => "java21",
            FunctionRuntime::Java17 => "java17",
            FunctionRuntime::Dotnet8 => "dotnet8",
            FunctionRuntime::Ruby33 => "ruby3.3",
        }
    }

    /// True for the runtimes whose entry point is the `bootstrap` executable.
    pub fn is_provided(self) -> bool {
        match self {
            FunctionRuntime::ProvidedAl2023 | FunctionRuntime::ProvidedAl2 => true,
            FunctionRuntime::Nodejs22
            | FunctionRuntime::Nodejs20
            | FunctionRuntime::Python313
            | FunctionRuntime::Python312
            | FunctionRuntime::Python311
            | FunctionRuntime::Java21
            | FunctionRuntime::Java17
            | FunctionRuntime::Dotnet8
            | FunctionRuntime::Ruby33 => false,
        }
    }
}

/// Instruction set of the code: `x86_64` (the default) or `arm64`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FunctionArchitecture {
    /// 64-bit x86.
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    /// 64-bit ARM (Graviton).
    #[serde(rename = "arm64")]
    Arm64,
}

/// What invokes the function.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionTrigger {
    /// Invoke the function with batches of changes from this MetricsApp's own table
    /// stream (needs table.stream). Partial batch failures are reported per record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_stream: Option<TableStreamTrigger>,
}

/// An event source mapping from the app's table stream.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TableStreamTrigger {
    /// Records per invocation, 1 to 10000. Unset: Lambda's default (100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub batch_size: Option<i32>,

    /// Where a new mapping starts reading: `TRIM_HORIZON` (the oldest record kept,
    /// the default) or `LATEST`.
    #[serde(default)]
    pub starting_position: StartingPosition,

    /// Seconds to gather records before invoking, 0 to 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 300))]
    pub maximum_batching_window_seconds: Option<i32>,

    /// Retries of a failing batch, -1 (until the record expires) to 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1, max = 10000))]
    pub maximum_retry_attempts: Option<i32>,

    /// Split a failing batch in two and retry each half.
    #[serde(default)]
    pub bisect_batch_on_function_error: bool,

    /// Event filter patterns (JSON, Lambda's filter syntax); only matching records
    /// invoke the function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub filter_patterns: Vec<String>,
}

/// Where a new stream mapping starts reading.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record the stream keeps (24 hours).
    #[default]
    #[serde(rename = "TRIM_HORIZON")]
    TrimHorizon,
    /// Only records written after the mapping starts.
    #[serde(rename = "LATEST")]
    Latest,
}

/// A function URL.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlSpec {
    /// `AWS_IAM` (the default: callers sign requests) or `NONE` (public).
    #[serde(default)]
    pub auth_type: UrlAuthType,

    /// Origins allowed to call the URL from a browser (CORS), e.g.
    /// `https://metrics.example.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub cors_origins: Vec<String>,
}

/// Who may call a function URL.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UrlAuthType {
    /// Callers sign requests with AWS credentials allowed to invoke the function.
    #[default]
    #[serde(rename = "AWS_IAM")]
    AwsIam,
    /// Anyone on the internet.
    #[serde(rename = "NONE")]
    None,
}

/// What happens to a function removed from the list or of a deleted MetricsApp.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FunctionDeletionPolicy {
    /// Delete the function, its trigger and its URL.
    #[default]
    Delete,
    /// Leave the function in AWS.
    Retain,
}

/// What the operator last saw and did. Written by the operator only.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricsAppStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (everything below is true), `TableReady` (the table exists, matches the
    /// spec and is ACTIVE), `FunctionsReady` (every function matches the spec and is
    /// Active), `Available` (the Deployment has its minimum of ready pods) and
    /// `Terminal` (True when a problem will not go away by retrying: fix the spec or
    /// the AWS resource). Each part's reason names its problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,

    /// The DynamoDB table as AWS last described it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableStatus>,

    /// In-cluster URL of the app: `http://<name>.<namespace>.svc:<port>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,

    /// Image the Deployment runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// Ready app pods, as the Deployment reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,

    /// The Lambda functions, as Lambda last described them; also those removed from
    /// the spec and not yet deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<FunctionStatus>,

    /// Functions matching the spec, of those declared, e.g. `2/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions_ready: Option<String>,

    /// Set when the operator rolled the app back: the image of the spec failed its
    /// rollout and the last image that reached Ready runs again, until the spec
    /// changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackStatus>,
}

/// An automatic rollback.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RollbackStatus {
    /// The MetricsApp generation whose image failed; a new generation ends the
    /// rollback.
    pub generation: i64,
    /// The image that did not become ready within the progress deadline.
    pub failed_image: String,
    /// The image running again: the last one that reached Ready.
    pub restored_image: String,
}

/// A Lambda function as Lambda last described it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStatus {
    /// Name in spec.functions.
    pub name: String,
    /// Name of the function in AWS.
    pub function_name: String,
    /// Function ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `Pending`, `Active`, `Inactive` or `Failed`, as Lambda reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `Successful`, `InProgress` or `Failed`: the last code or configuration update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_status: Option<String>,
    /// SHA-256 (base64) of the code Lambda runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
    /// The code deployed: S3 object version or ETag, or the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_source: Option<String>,
    /// UUID of the table stream's event source mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_uuid: Option<String>,
    /// State of the mapping: `Creating`, `Enabled`, `Updating`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_state: Option<String>,
    /// The function URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The deletion policy in force, kept for a function removed from the spec.
    #[serde(default)]
    pub deletion_policy: FunctionDeletionPolicy,
    /// Tag keys the operator manages on the function (others are left alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_tags: Vec<String>,
}

/// The DynamoDB table as AWS last described it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TableStatus {
    /// Table name.
    pub name: String,
    /// Table ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Table status as AWS reports it: `CREATING`, `UPDATING`, `ACTIVE`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// ARN of the table's stream, when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The deletion policy fixed when the table was created or adopted: a later change
    /// of the operator's default does not change what happens to this table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Tag keys the operator manages on the table (others are left alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_tags: Vec<String>,
}

/// The CRD as YAML, exactly as `crds/metricsapp.yaml` holds it.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&MetricsApp::crd())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use kube::CustomResourceExt;
    use serde_json::Value;

    use super::*;

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn schema() -> Value {
        let crd = serde_json::to_value(MetricsApp::crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    #[test]
    fn crd_file_is_the_output_of_crdgen() {
        let path = repo_root().join("crds/metricsapp.yaml");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == crd_yaml().unwrap(),
            "{} is not the output of crdgen; regenerate it with\n  cargo run -p metricsapp-operator -- crdgen > crds/metricsapp.yaml",
            path.display()
        );
    }

    #[test]
    fn names_scope_subresource_and_printer_columns() {
        let crd = serde_json::to_value(MetricsApp::crd()).unwrap();
        assert_eq!(crd["metadata"]["name"], "metricsapps.metricsapp.dev");
        assert_eq!(
            crd["spec"]["names"]["shortNames"],
            serde_json::json!(["mapp"])
        );
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert!(version["subresources"]["status"].is_object());
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|column| column["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            columns,
            ["Ready", "Table", "Functions", "Image", "URL", "Age"]
        );
    }

    /// Every node the API server sees must have a type (or be int-or-string): the
    /// API server rejects non-structural schemas.
    #[test]
    fn schema_is_structural() {
        fn walk(node: &Value, path: &str, problems: &mut Vec<String>) {
            let Some(object) = node.as_object() else {
                return;
            };
            let typed = object.contains_key("type")
                || object.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
                || object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if !typed {
                problems.push(format!("{path}: no type"));
            }
            for forbidden in ["$ref", "anyOf", "oneOf", "allOf", "definitions", "$defs"] {
                if object.contains_key(forbidden) {
                    problems.push(format!("{path}: {forbidden}"));
                }
            }
            if let Some(properties) = object.get("properties").and_then(Value::as_object) {
                for (name, child) in properties {
                    walk(child, &format!("{path}.{name}"), problems);
                }
            }
            for key in ["items", "additionalProperties"] {
                if let Some(child) = object.get(key).filter(|child| child.is_object()) {
                    walk(child, &format!("{path}[{key}]"), problems);
                }
            }
        }
        let mut problems = Vec::new();
        walk(&schema(), "", &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    /// `kubectl explain` shows these descriptions: every field of ours has one.
    #[test]
    fn every_field_of_ours_is_described() {
        fn walk(node: &Value, path: &str, missing: &mut Vec<String>) {
            let Some(properties) = node.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (name, child) in properties {
                let path = format!("{path}.{name}");
                let described = child["description"]
                    .as_str()
                    .is_some_and(|d| !d.trim().is_empty());
                if !described {
                    missing.push(path.clone());
                }
                // Kubernetes' own types (EnvVar, ResourceRequirements, Condition) bring
                // their own documentation.
                if !matches!(name.as_str(), "env" | "resources" | "conditions") {
                    walk(child, &path, missing);
                }
            }
        }
        let schema = schema();
        let mut missing = Vec::new();
        walk(&schema["properties"]["spec"], "spec", &mut missing);
        walk(&schema["properties"]["status"], "status", &mut missing);
        assert!(
            missing.is_empty(),
            "fields without a description: {missing:#?}"
        );
    }

    fn rules(node: &Value) -> Vec<String> {
        node["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|rule| rule["rule"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn cel_rules_guard_cross_field_and_immutable_settings() {
        let spec = &schema()["properties"]["spec"];
        let table = &spec["properties"]["table"];
        let table_rules = rules(table).join("\n");
        assert!(
            table_rules.contains("self.billingMode == 'PROVISIONED'"),
            "{table_rules}"
        );
        assert!(table_rules.contains("has(self.readCapacity) && has(self.writeCapacity)"));
        assert!(
            table_rules.contains("self.name == oldSelf.name"),
            "{table_rules}"
        );
        let rollout_rules = rules(&spec["properties"]["rollout"]).join("\n");
        assert!(
            rollout_rules.contains("string(self.maxSurge) in ['0', '0%']"),
            "{rollout_rules}"
        );
        assert!(
            rollout_rules.contains("string(self.maxUnavailable) in ['0', '0%']"),
            "{rollout_rules}"
        );
        assert_eq!(rules(&spec["properties"]["replicas"]), ["self >= 0"]);
        assert_eq!(
            rules(&spec["properties"]["service"]["properties"]["port"]),
            ["self >= 1 && self <= 65535"]
        );
        for rule in table["x-kubernetes-validations"].as_array().unwrap() {
            assert!(
                rule["message"].as_str().unwrap().contains("table."),
                "{rule}"
            );
        }
    }

    #[test]
    fn schema_holds_enums_patterns_ranges_and_defaults() {
        let spec = schema()["properties"]["spec"].clone();
        let table = &spec["properties"]["table"]["properties"];
        assert_eq!(table["name"]["pattern"], "^[a-zA-Z0-9_.-]{3,255}$");
        assert_eq!(
            table["billingMode"]["enum"],
            serde_json::json!(["PAY_PER_REQUEST", "PROVISIONED"])
        );
        assert_eq!(table["billingMode"]["default"], "PAY_PER_REQUEST");
        assert_eq!(
            table["stream"]["enum"],
            serde_json::json!(["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
        );
        assert_eq!(
            table["deletionPolicy"]["enum"],
            serde_json::json!(["Retain", "Delete"])
        );
        assert_eq!(table["backupBeforeDelete"]["default"], true);
        assert_eq!(table["adopt"]["default"], false);
        assert_eq!(table["readCapacity"]["minimum"], 1.0);
        assert_eq!(spec["properties"]["replicas"]["default"], 2);
        assert_eq!(spec["properties"]["replicas"]["minimum"], 0.0);
        assert_eq!(spec["properties"]["image"]["minLength"], 1);
        assert_eq!(spec["required"], serde_json::json!(["image"]));
        let service = &spec["properties"]["service"]["properties"];
        assert_eq!(service["port"]["default"], 80);
        assert_eq!(service["port"]["maximum"], 65535.0);
        assert_eq!(
            service["type"]["enum"],
            serde_json::json!(["ClusterIP", "NodePort", "LoadBalancer"])
        );
        let rollout = &spec["properties"]["rollout"]["properties"];
        assert_eq!(rollout["maxUnavailable"]["default"], 0);
        assert_eq!(rollout["maxSurge"]["default"], "25%");
    }

    mod cel {
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        use kube::core::cel::{validate_cel, validate_cel_update};

        use super::super::{
            AuthMode, FunctionTrigger, ProxyAuthSpec, SecretRef, StartingPosition,
            TableStreamTrigger,
        };

        use super::super::*;
        use crate::fixtures::MetricsAppExt;

        fn refused(app: &MetricsApp) -> String {
            validate_cel(app)
                .expect_err("the CEL rules must refuse this")
                .to_string()
        }

        #[test]
        fn a_default_app_passes_every_rule() {
            validate_cel(&MetricsApp::test()).unwrap();
        }

        #[test]
        fn provisioned_needs_both_capacities_and_on_demand_allows_none() {
            let mut app = MetricsApp::test();
            app.spec.table.billing_mode = BillingMode::Provisioned;
            app.spec.table.read_capacity = Some(5);
            assert!(refused(&app).contains("table.readCapacity and table.writeCapacity"));
            app.spec.table.write_capacity = Some(5);
            validate_cel(&app).unwrap();
            app.spec.table.billing_mode = BillingMode::PayPerRequest;
            assert!(refused(&app).contains("PAY_PER_REQUEST"));
        }

        #[test]
        fn rollout_cannot_have_both_surge_and_unavailable_at_zero() {
            let mut app = MetricsApp::test();
            app.spec.rollout.max_surge = Some(IntOrString::Int(0));
            app.spec.rollout.max_unavailable = Some(IntOrString::Int(0));
            assert!(refused(&app).contains("rollout.maxSurge and rollout.maxUnavailable"));
            app.spec.rollout.max_surge = Some(IntOrString::String("0%".into()));
            assert!(refused(&app).contains("cannot both be 0"));
            app.spec.rollout.max_unavailable = Some(IntOrString::Int(1));
            validate_cel(&app).unwrap();
        }

        #[test]
        fn negative_replicas_and_out_of_range_ports_are_refused() {
            let mut app = MetricsApp::test();
            app.spec.replicas = -1;
            assert!(refused(&app).contains("replicas must be 0 or more"));
            let mut app = MetricsApp::test();
            app.spec.service.port = 70000;
            assert!(refused(&app).contains("service.port"));
        }

        fn with_function(mut app: MetricsApp) -> MetricsApp {
            app.spec
                .functions
                .push(crate::fixtures::function_spec("rollup"));
            app
        }

        #[test]
        fn a_function_with_two_code_sources_or_none_is_refused() {
            let mut app = with_function(MetricsApp::test());
            validate_cel(&app).unwrap();
            app.spec.functions[0].code.image_uri = Some("image@sha256:ab".into());
            assert!(refused(&app).contains("exactly one of code.s3 and code.imageUri"));
            app.spec.functions[0].code.s3 = None;
            validate_cel(&app).unwrap();
            app.spec.functions[0].code.image_uri = None;
            assert!(refused(&app).contains("exactly one"));
        }

        #[test]
        fn a_stream_trigger_needs_the_tables_stream() {
            let mut app = with_function(MetricsApp::test());
            app.spec.functions[0].trigger = Some(FunctionTrigger {
                table_stream: Some(TableStreamTrigger {
                    batch_size: None,
                    starting_position: StartingPosition::default(),
                    maximum_batching_window_seconds: None,
                    maximum_retry_attempts: None,
                    bisect_batch_on_function_error: false,
                    filter_patterns: Vec::new(),
                }),
            });
            assert!(refused(&app).contains("trigger.tableStream needs the table's stream"));
            app.spec.table.stream = Some(StreamViewType::NewAndOldImages);
            validate_cel(&app).unwrap();
        }

        #[test]
        fn an_image_function_takes_no_runtime_or_handler() {
            let mut app = with_function(MetricsApp::test());
            app.spec.functions[0].code.s3 = None;
            app.spec.functions[0].code.image_uri = Some("image@sha256:ab".into());
            app.spec.functions[0].handler = Some("bootstrap".into());
            assert!(refused(&app).contains("runtime and functions[].handler are for zip code"));
        }

        #[test]
        fn a_default_function_name_too_long_for_lambda_is_refused() {
            let mut app = with_function(MetricsApp::test());
            app.metadata.name = Some("m".repeat(30));
            app.spec.functions[0].name = "f".repeat(31);
            assert!(refused(&app).contains("must fit in 64 characters"));
            app.spec.functions[0].function_name = Some("short".into());
            validate_cel(&app).unwrap();
        }

        #[test]
        fn proxy_auth_needs_the_proxys_addresses_and_a_token_secret_needs_token_mode() {
            let mut app = MetricsApp::test();
            app.spec.auth.mode = AuthMode::Proxy;
            assert!(refused(&app).contains("auth.proxy.trustedCIDRs is required"));
            app.spec.auth.proxy = Some(ProxyAuthSpec {
                header: "X-Auth-Request-Email".into(),
                trusted_cidrs: vec!["10.0.0.0/8".into()],
            });
            validate_cel(&app).unwrap();
            app.spec.auth.token_secret_ref = Some(SecretRef {
                name: "tokens".into(),
            });
            assert!(refused(&app).contains("auth.tokenSecretRef is for auth.mode token"));
            app.spec.auth.mode = AuthMode::Token;
            validate_cel(&app).unwrap();
        }

        #[test]
        fn function_name_is_immutable_once_set() {
            let mut old = with_function(MetricsApp::test());
            old.spec.functions[0].function_name = Some("metrics-rollup".into());
            let mut renamed = old.clone();
            renamed.spec.functions[0].function_name = Some("metrics-rollup-2".into());
            let error = validate_cel_update(&renamed, &old).unwrap_err().to_string();
            assert!(error.contains("functionName is immutable"), "{error}");
            validate_cel_update(&old.clone(), &old).unwrap();
        }

        #[test]
        fn table_name_is_immutable_once_the_app_exists() {
            let old = MetricsApp::test().with_table("activities");
            let mut renamed = old.clone();
            renamed.spec.table.name = Some("activities-v2".into());
            let error = validate_cel_update(&renamed, &old).unwrap_err().to_string();
            assert!(error.contains("table.name is immutable"), "{error}");
            validate_cel_update(&old.clone(), &old).unwrap();

            let unnamed = MetricsApp::test();
            let named_later = unnamed.clone().with_table("activities");
            assert!(validate_cel_update(&named_later, &unnamed).is_err());
            assert!(validate_cel_update(&unnamed, &old).is_err());
        }
    }

    /// The examples must be MetricsApps this version understands, with no field it
    /// would silently drop.
    #[test]
    fn examples_are_metricsapps_without_unknown_fields() {
        fn keys(value: &Value, path: &str, out: &mut Vec<String>) {
            if let Some(object) = value.as_object() {
                for (key, child) in object {
                    let path = format!("{path}.{key}");
                    out.push(path.clone());
                    keys(child, &path, out);
                }
            } else if let Some(items) = value.as_array() {
                for (index, child) in items.iter().enumerate() {
                    keys(child, &format!("{path}[{index}]"), out);
                }
            }
        }
        let examples = repo_root().join("examples");
        let mut files = vec![examples.join("metricsapp.yaml")];
        for environment in ["dev", "staging", "prod"] {
            let file = examples.join(environment).join("metricsapp.yaml");
            if file.exists() {
                files.push(file);
            }
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let source: Value = serde_yaml::from_str(&text).unwrap();
            let app: MetricsApp = serde_json::from_value(source.clone())
                .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
            let round_trip = serde_json::to_value(&app).unwrap();
            let (mut given, mut kept) = (Vec::new(), Vec::new());
            keys(&source["spec"], "spec", &mut given);
            keys(&round_trip["spec"], "spec", &mut kept);
            let dropped: Vec<&String> = given.iter().filter(|key| !kept.contains(key)).collect();
            assert!(
                dropped.is_empty(),
                "{}: unknown fields {dropped:?}",
                file.display()
            );
        }
    }
}
