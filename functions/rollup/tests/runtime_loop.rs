//! The real runtime loop: `cargo lambda watch` serves the Lambda runtime API, the
//! function's own binary (the one built for this test run, so no extra build) polls it
//! through `lambda_runtime`, and `cargo lambda invoke --data-file` sends a stream event
//! and prints the response the runtime posted back. DynamoDB is moto.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

/// Kills a child process when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn required(test: &str, what: &str) -> bool {
    assert!(
        std::env::var("METRICSAPP_REQUIRE_AWS").as_deref() != Ok("1"),
        "{test} needs {what}, and METRICSAPP_REQUIRE_AWS=1 forbids skipping it"
    );
    eprintln!("SKIPPED: {test} needs {what} (run ./scripts/test)");
    false
}

/// `cargo-lambda` from PATH or the project's `.tools/venv`, where the test command puts it.
fn cargo_lambda() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/cargo-lambda");
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("cargo-lambda"))
        .chain([venv])
        .find(|path| path.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_stream_event_goes_through_the_lambda_runtime_loop() {
    let test = "a_stream_event_goes_through_the_lambda_runtime_loop";
    let Some(endpoint) = metricsapp_testing::endpoint("MOTO_ENDPOINT", test) else {
        return;
    };
    let Some(cargo_lambda) = cargo_lambda() else {
        required(test, "cargo-lambda (pip install cargo-lambda)");
        return;
    };

    let client = aws_sdk_dynamodb::Client::new(&metricsapp_testing::sdk_config(&endpoint).await);
    let table = metricsapp_testing::unique("rollup-loop");
    metricsapp_testing::app_table(&client, &table, false).await;

    let port = free_port();
    let manifest = env!("CARGO_MANIFEST_DIR");
    let _emulator = Running(
        Command::new(&cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(manifest)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cargo lambda watch"),
    );
    wait_for_port(port);
    let _function = Running(
        Command::new(env!("CARGO_BIN_EXE_rollup"))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("METRICS_APP_TABLE", &table)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the function"),
    );

    let image = json!({
        "pk": {"S": "ACTIVITY#loop"}, "sk": {"S": "ACTIVITY"}, "id": {"S": "loop"},
        "customer": {"S": "Acme"}, "project": {"S": "Data"}, "engineer": {"S": "ada"},
        "date": {"S": "2026-11-20"}, "hours": {"N": "1.5"}, "rolled_up": {"BOOL": true}
    });
    let record = |seq: &str| {
        json!({
            "eventID": format!("loop-{seq}"), "eventName": "INSERT", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "eventSourceARN": format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/x"),
            "dynamodb": {
                "ApproximateCreationDateTime": 1_780_000_000,
                "Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image,
                "SequenceNumber": seq, "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        })
    };
    // The same record twice: delivered again, it must not count again.
    let event = json!({"Records": [record("100"), record("100")]});
    let dir = tempfile_dir();
    let data_file = dir.join("event.json");
    std::fs::write(&data_file, event.to_string()).expect("write the event");

    let output = Command::new(&cargo_lambda)
        .args(["lambda", "invoke", "_", "-A", "127.0.0.1", "-P"])
        .arg(port.to_string())
        .arg("--data-file")
        .arg(&data_file)
        .args(["--output-format", "json"])
        .current_dir(manifest)
        .output()
        .expect("run cargo lambda invoke");
    assert!(
        output.status.success(),
        "cargo lambda invoke failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response: Value = serde_json::from_slice(&output.stdout).expect("JSON response");
    assert_eq!(response, json!({"batchItemFailures": []}));

    let cell = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("ROLLUP#customer#D".into()))
        .key("sk", AttributeValue::S("2026-11-20#Acme".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("read the cell");
    let item = cell.item().expect("the cell exists");
    assert_eq!(
        item.get("micro_hours"),
        Some(&AttributeValue::N("1500000".into()))
    );
    assert_eq!(item.get("count"), Some(&AttributeValue::N("1".into())));
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollup-loop-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
