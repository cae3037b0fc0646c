//! What the workspace's AWS-backed tests share, in one place: the endpoint of the
//! AWS-compatible server the test command started (a test without it fails under
//! `METRICSAPP_REQUIRE_AWS=1` and otherwise says loudly that it was skipped), SDK
//! clients for it, an execution role Lambda may assume, and real zips in S3.

use std::io::Write;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

/// The endpoint in `variable` (`MOTO_ENDPOINT`, `DYNALITE_ENDPOINT`), or `None` after
/// saying that `test` was skipped. Panics instead when `METRICSAPP_REQUIRE_AWS=1`: the
/// test command sets it, so a missing server fails the run rather than passing it.
pub fn endpoint(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ => {
            assert!(
                std::env::var("METRICSAPP_REQUIRE_AWS").as_deref() != Ok("1"),
                "{test} needs {variable}, and METRICSAPP_REQUIRE_AWS=1 forbids skipping (run ./scripts/test)"
            );
            eprintln!("SKIPPED: {test} needs {variable} (run ./scripts/test)");
            None
        }
    }
}

/// SDK configuration for `endpoint` with the test credentials and region.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// An S3 client for `config`. The test servers serve every bucket on one endpoint, so
/// no virtual-host addressing.
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates `name` with the app's key layout (`metrics-app-table`, as the operator
/// creates it), on demand, with a `NEW_AND_OLD_IMAGES` stream when asked; returns the
/// stream's ARN when there is one.
pub async fn app_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
    stream: bool,
) -> Option<String> {
    use aws_sdk_dynamodb::types::{BillingMode, StreamSpecification, StreamViewType};
    let specification = stream.then(|| {
        StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .expect("stream specification")
    });
    dynamodb
        .create_table()
        .table_name(name)
        .set_key_schema(Some(metrics_app_table::key_schema()))
        .set_attribute_definitions(Some(metrics_app_table::attribute_definitions()))
        .set_global_secondary_indexes(Some(metrics_app_table::global_secondary_indexes(None)))
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(specification)
        .send()
        .await
        .unwrap_or_else(|error| panic!("create the test table {name}: {error:?}"))
        .table_description()
        .and_then(|table| table.latest_stream_arn())
        .map(str::to_owned)
}

/// Creates an execution role that Lambda may assume (moto's CreateFunction checks that
/// the role exists) and returns its ARN.
pub async fn execution_role(config: &SdkConfig, name: &str) -> String {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    aws_sdk_iam::Client::new(config)
        .create_role()
        .role_name(name)
        .assume_role_policy_document(policy)
        .send()
        .await
        .expect("CreateRole")
        .role()
        .map(|role| role.arn().to_owned())
        .expect("role ARN in CreateRole's answer")
}

/// A real zip archive holding `files`, each `(name, contents)`; a `bootstrap` entry is
/// executable, as Lambda's `provided.*` runtimes need.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, contents) in files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .unix_permissions(if *name == "bootstrap" { 0o755 } else { 0o644 });
        archive.start_file(*name, options).expect("zip entry");
        archive.write_all(contents).expect("zip contents");
    }
    archive.finish().expect("zip archive").into_inner()
}

/// A zip with a `bootstrap` script whose output names `version`, so each version is a
/// different object with a different CodeSha256.
pub fn bootstrap_zip(version: &str) -> Vec<u8> {
    let script = format!("#!/bin/sh\necho {version}\n");
    zip(&[("bootstrap", script.as_bytes())])
}

/// Creates `bucket`, versioned when asked (a new object under the same key then gets a
/// new version id).
pub async fn bucket(s3: &aws_sdk_s3::Client, bucket: &str, versioned: bool) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("CreateBucket");
    if versioned {
        s3.put_bucket_versioning()
            .bucket(bucket)
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

/// Uploads `body` to `bucket`/`key`; returns the version id when the bucket has one.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Option<String> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("PutObject")
        .version_id()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zip_is_a_real_archive_with_an_executable_bootstrap() {
        let bytes = bootstrap_zip("1");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let entry = archive.by_name("bootstrap").unwrap();
        assert_eq!(entry.unix_mode().map(|mode| mode & 0o777), Some(0o755));
        assert_ne!(bootstrap_zip("1"), bootstrap_zip("2"));
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique("t"), unique("t"));
    }
}
