//! `metricsapp-operator plan` as a pipeline runs it: the binary, a manifest file, moto
//! as AWS, and the exit codes of `terraform plan -detailed-exitcode`.

use std::process::Command;

use metricsapp_operator::crd::MetricsApp;
use metricsapp_operator::table;
use serde_json::{Value, json};

fn manifest(table: &str, billing: &str) -> Value {
    let mut spec = json!({
        "image": "ghcr.io/metricsapp/metrics-app:1",
        "table": {"name": table, "billingMode": billing},
    });
    if billing == "PROVISIONED" {
        spec["table"]["readCapacity"] = 5.into();
        spec["table"]["writeCapacity"] = 5.into();
    }
    json!({
        "apiVersion": "metricsapp.dev/v1alpha1",
        "kind": "MetricsApp",
        "metadata": {"name": "planned", "namespace": "team",
                     "uid": "3f0d8e4a-1c2b-4d5e-8f90-a1b2c3d4e5f6"},
        "spec": spec,
    })
}

/// Runs `plan` on `manifest` (written to a file), as JSON; returns the exit code and
/// what it printed.
fn plan(endpoint: &str, manifest: &Value) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("metricsapp.yaml");
    std::fs::write(&path, serde_yaml::to_string(manifest).expect("yaml")).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_metricsapp-operator"))
        .args(["plan", "--no-cluster", "-o", "json", "-f"])
        .arg(&path)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("run the operator binary");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn plan_exits_0_without_changes_2_with_changes_and_1_on_errors() {
    let test = "plan_exits_0_without_changes_2_with_changes_and_1_on_errors";
    let Some(endpoint) = metricsapp_testing::endpoint("MOTO_ENDPOINT", test) else {
        return;
    };
    let name = metricsapp_testing::unique("plan-cli");
    let converged = manifest(&name, "PROVISIONED");

    let (code, out, err) = plan(&endpoint, &converged);
    assert_eq!(code, 2, "a table to create is a change: {out}{err}");
    let json: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["resources"][0]["kind"], "table");
    assert_eq!(json["resources"][0]["steps"][0]["change"], "table created");

    // The controller's own pass creates it; the same manifest then plans nothing.
    let app: MetricsApp = serde_json::from_value(converged.clone()).expect("a MetricsApp");
    let config = metricsapp_testing::sdk_config(&endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    metricsapp_aws::table::reconcile(
        &dynamodb,
        &table::desired_table(&app, "").expect("desired"),
        &table::owner(&app).expect("owner"),
        false,
        &table::record(&app, "").expect("record"),
    )
    .await
    .expect("create the table");
    let (code, out, err) = plan(&endpoint, &converged);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = plan(&endpoint, &manifest(&name, "PAY_PER_REQUEST"));
    assert_eq!(code, 2, "{out}{err}");
    let json: Value = serde_json::from_str(&out).expect("JSON");
    let change = json["resources"][0]["steps"][0]["change"]
        .as_str()
        .unwrap_or_default();
    assert!(change.contains("PAY_PER_REQUEST"), "{json}");
    let described = dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe");
    let billing = described
        .table()
        .and_then(|t| t.billing_mode_summary())
        .and_then(|b| b.billing_mode())
        .map(|m| m.as_str().to_owned());
    assert_eq!(
        billing.as_deref(),
        Some("PROVISIONED"),
        "plan wrote nothing"
    );

    let (code, _, err) = plan(&endpoint, &json!({"kind": "Nothing"}));
    assert_eq!(code, 1);
    assert!(err.contains("is not a MetricsApp"), "{err}");
}
