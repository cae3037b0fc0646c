//! Shared by the Lambda tests against moto: Lambda, S3 and DynamoDB clients for one
//! endpoint, an execution role in moto's IAM, real zips in (versioned) buckets, a table
//! with a stream, and a counter of the write requests a client sends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
use aws_sdk_lambda::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::types::{BucketVersioningStatus, ChecksumAlgorithm, VersioningConfiguration};

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
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    let writes = Arc::new(AtomicUsize::new(0));
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&config)
            .interceptor(CountWrites(writes.clone()))
            .build(),
    );
    // moto serves every bucket on the one endpoint, so no virtual-host addressing.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
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

/// Creates an execution role Lambda may assume in moto's IAM and returns its ARN.
/// moto checks that the role exists; its IAM is reached with a plain Query request,
/// so the tests need no IAM SDK.
pub async fn role(endpoint: &str, name: &str) -> String {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={}",
        url_encode(policy)
    );
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {authority}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let authority = authority.to_owned();
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&authority).expect("connect to moto for IAM");
        stream
            .write_all(request.as_bytes())
            .expect("send CreateRole");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read CreateRole");
        response
    })
    .await
    .expect("CreateRole task");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "CreateRole: {response}"
    );
    let arn = response
        .split("<Arn>")
        .nth(1)
        .and_then(|rest| rest.split("</Arn>").next())
        .expect("role ARN in CreateRole response");
    arn.to_owned()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A real zip archive (entries stored, not compressed) holding `files`, each `(name,
/// contents)`; `bootstrap` entries are made executable as Lambda's custom runtimes need.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let size = data.len() as u32;
        let name = name.as_bytes();
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // stored
        out.extend_from_slice(&0u32.to_le_bytes()); // time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(data);
        // Central directory entry, made by Unix (3) so the mode bits count.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&0x031eu16.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&((0o100_755u32) << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_offset = out.len() as u32;
    let count = files.len() as u16;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip with a `bootstrap` script printing `version`, so two versions differ.
pub fn bootstrap_zip(version: &str) -> Vec<u8> {
    let script = format!("#!/bin/sh\necho {version}\n");
    zip(&[("bootstrap", script.as_bytes())])
}

/// Creates a bucket, versioned when asked.
pub async fn bucket(s3: &aws_sdk_s3::Client, name: &str, versioned: bool) {
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("CreateBucket");
    if versioned {
        s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("PutBucketVersioning");
    }
}

/// Uploads `body` under `key` and returns the new version id (versioned buckets).
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Option<String> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .expect("PutObject")
        .version_id()
        .map(str::to_owned)
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
    dynamodb
        .create_table()
        .table_name(name)
        .set_key_schema(Some(metrics_app_table::key_schema()))
        .set_attribute_definitions(Some(metrics_app_table::attribute_definitions()))
        .set_global_secondary_indexes(Some(metrics_app_table::global_secondary_indexes(None)))
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("stream specification"),
        )
        .send()
        .await
        .expect("CreateTable with stream")
        .table_description()
        .and_then(|t| t.latest_stream_arn())
        .expect("LatestStreamArn")
        .to_owned()
}
