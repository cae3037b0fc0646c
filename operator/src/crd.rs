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
        assert_eq!(columns, ["Ready", "Table", "Image", "URL", "Age"]);
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
