//! The `MetricsApp` custom resource: one object describes a running Metrics App and
//! the DynamoDB table it stores its data in.
//!
//! The schema is generated from these types (`metricsapp-operator crdgen`). Doc comments
//! become the field descriptions that `kubectl explain` shows, so they are written for
//! the person filling in the manifest. Bad specs are refused by the API server itself:
//! enums, ranges and patterns in the OpenAPI schema, CEL rules for cross-field and
//! immutability checks.

//!
//! One file per part of the spec (`table`, `app`, `function`) and one for the status;
//! every type is re-exported here, so users name them `crd::TableSpec`.

mod app;
mod function;
mod status;
mod table;

pub use app::*;
pub use function::*;
pub use status::*;
pub use table::*;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
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

    /// Number of app pods. 0 scales the app down and keeps the table. Ignored while
    /// `autoscaling` is set: the HorizontalPodAutoscaler owns the count then.
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

    /// A HorizontalPodAutoscaler (`autoscaling/v2`) on the app's Deployment. While it is
    /// set the operator does not own the Deployment's `replicas`, so what the autoscaler
    /// sets is never put back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,

    /// The PodDisruptionBudget that keeps node drains from taking more than
    /// `maxUnavailable` pods at once. Made whenever the app runs 2 or more pods
    /// (`replicas`, or `autoscaling.minReplicas`); never for one pod, whose budget would
    /// block every drain.
    #[serde(default, skip_serializing_if = "DisruptionSpec::is_default")]
    pub disruption: DisruptionSpec,

    /// A NetworkPolicy for the app pods, on by default: ingress only on the app's port,
    /// from pods of this namespace and of `ingressNamespaces`; egress only to DNS and to
    /// `egressPorts` (HTTPS for the AWS endpoints).
    #[serde(default, skip_serializing_if = "NetworkPolicySpec::is_default")]
    pub network_policy: NetworkPolicySpec,

    /// Where the app pods run: spread across zones and nodes by default, and the
    /// scheduling fields passed to the pods as they are.
    #[serde(default, skip_serializing_if = "PlacementSpec::is_default")]
    pub placement: PlacementSpec,

    /// When true the operator touches nothing (neither the table nor the app) until it
    /// is set back to false. Deletion still follows the table's deletion policy.
    #[serde(default)]
    pub suspend: bool,

    /// Delete this MetricsApp when it is older than this (`72h`, `30m`): for previews,
    /// so one whose pull request is never closed still goes. Its table and functions
    /// follow their deletion policies. An `ExpiresSoon` Event comes a tenth of the
    /// lifetime ahead (at most an hour); `status.expiresAt` says when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(\.[0-9]+)?(s|m|h))+$"))]
    pub expire_after: Option<String>,

    /// `Manage` (the default): the operator makes AWS and the app match the spec.
    /// `Observe`: it reads AWS, changes nothing, and lists in `status.plan` the steps
    /// `Manage` would take (the safe way to take over an existing table: observe with
    /// `table.adopt`, read the plan, then manage).
    #[serde(default, skip_serializing_if = "ManagementPolicy::is_manage")]
    pub management_policy: ManagementPolicy,
}

/// Whether the operator changes things or only reports what it would change.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ManagementPolicy {
    /// Make AWS and the app match the spec.
    #[default]
    Manage,
    /// Read and report the pending steps in `status.plan`; change nothing.
    Observe,
}

impl ManagementPolicy {
    pub fn is_manage(&self) -> bool {
        *self == ManagementPolicy::Manage
    }
}

fn default_replicas() -> i32 {
    2
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
