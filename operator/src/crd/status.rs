//! What the operator last saw and did (`status`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{DeletionPolicy, FunctionDeletionPolicy};

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

    /// When the operator deletes this MetricsApp (`spec.expireAfter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,

    /// Under `managementPolicy: Observe`: the steps `Manage` would take now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanStatus>,
}

/// The pending steps of an observed MetricsApp, as `metricsapp-operator plan` shows them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    /// At most 20 steps, `<kind> <name>: <change>`; a destructive one starts with `!`.
    #[serde(default)]
    pub steps: Vec<String>,
    /// Steps beyond those listed.
    #[serde(default)]
    pub more: i32,
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
