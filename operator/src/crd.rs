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

/// The Metrics App and its DynamoDB table. The operator creates the table, a
/// Deployment, Service, ConfigMap and ServiceAccount named after this object, and keeps
/// them as described here.
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
    /// Table name. Defaults to `<namespace>-<name>` of this MetricsApp. Immutable once
    /// the MetricsApp exists: DynamoDB cannot rename a table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[a-zA-Z0-9_.-]{3,255}$"), length(max = 255))]
    pub name: Option<String>,

    /// `PAY_PER_REQUEST` (on-demand, the default) or `PROVISIONED` (set readCapacity
    /// and writeCapacity).
    #[serde(default)]
    pub billing_mode: BillingMode,

    /// Read capacity units of the table and its index. Required exactly when
    /// billingMode is `PROVISIONED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub read_capacity: Option<i64>,

    /// Write capacity units of the table and its index. Required exactly when
    /// billingMode is `PROVISIONED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
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

    /// Take over an existing table that was not created by this MetricsApp. Without
    /// it such a table is left untouched and the TableReady condition reports a
    /// TableConflict.
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
    "!(has(self.maxSurge) && has(self.maxUnavailable) && (type(self.maxSurge) == int ? self.maxSurge == 0 : self.maxSurge == '0%') && (type(self.maxUnavailable) == int ? self.maxUnavailable == 0 : self.maxUnavailable == '0%'))"
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
}

impl Default for RolloutSpec {
    fn default() -> Self {
        RolloutSpec {
            max_surge: default_max_surge(),
            max_unavailable: default_max_unavailable(),
        }
    }
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

    /// Service type: `ClusterIP` (the default), `NodePort` or `LoadBalancer`.
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

/// What the operator last saw and did. Written by the operator only.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricsAppStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` (everything below is true), `TableReady` (the table exists, matches the
    /// spec and is ACTIVE) and `Available` (the Deployment has its minimum of ready
    /// pods). Reasons tell terminal problems (fix the spec or the table) from
    /// recoverable ones (retried with backoff).
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
}

/// The CRD as YAML, exactly as `crds/metricsapp.yaml` holds it.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&MetricsApp::crd())
}
