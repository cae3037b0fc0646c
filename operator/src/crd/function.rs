//! `spec.functions`: the app's Lambda functions.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
