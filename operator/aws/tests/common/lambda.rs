//! Shared by the Lambda tests against moto: Lambda, S3 and DynamoDB clients for one
//! endpoint (the role, zips and buckets come from `metricsapp-testing`), a table with a
//! stream, and a counter of the write requests a client sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_lambda::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::types::ChecksumAlgorithm;

/// Clients for one AWS-compatible endpoint, and the number of write requests
/// (anything but GET/HEAD) the Lambda client has sent.
pub struct Aws {
    pub endpoint: String,
    pub lambda: aws_sdk_lambda::Client,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    writes: Arc<AtomicUsize>,
}

impl Aws {
    /// Lambda write requests sent so far.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
}

/// Clients for the endpoint in `variable`, skipped loudly (or failing under
/// `METRICSAPP_REQUIRE_AWS=1`) like [`super::client`].
pub async fn aws(variable: &str, test: &str) -> Option<Aws> {
    let dynamodb = super::client(variable, test).await?;
    let endpoint = std::env::var(variable).expect("checked by client()");
    let config = metricsapp_testing::sdk_config(&endpoint).await;
    let writes = Arc::new(AtomicUsize::new(0));
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&config)
            .interceptor(CountWrites(writes.clone()))
            .build(),
    );
    let s3 = metricsapp_testing::s3(&config);
    Some(Aws {
        endpoint,
        lambda,
        s3,
        dynamodb,
        writes,
    })
}

#[derive(Debug)]
struct CountWrites(Arc<AtomicUsize>);

impl Intercept for CountWrites {
    fn name(&self) -> &'static str {
        "CountWrites"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if !matches!(context.request().method(), "GET" | "HEAD") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

// Each test binary uses its own subset.
#[allow(unused_imports)]
pub use metricsapp_testing::{bootstrap_zip, bucket, upload};

/// Creates an execution role Lambda may assume in moto's IAM and returns its ARN.
pub async fn role(endpoint: &str, name: &str) -> String {
    metricsapp_testing::execution_role(&metricsapp_testing::sdk_config(endpoint).await, name).await
}

/// Uploads `body` with a SHA-256 checksum S3 keeps and reports on HeadObject.
pub async fn upload_with_sha256(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(body.into())
        .send()
        .await
        .expect("PutObject with SHA-256");
}

/// Creates a table with a stream and returns its `LatestStreamArn`.
pub async fn table_with_stream(dynamodb: &aws_sdk_dynamodb::Client, name: &str) -> String {
    metricsapp_testing::app_table(dynamodb, name, true)
        .await
        .expect("LatestStreamArn")
}
