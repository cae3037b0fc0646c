//! The function as AWS describes it, as plain data: assembled by `describe` from
//! GetFunction, ListEventSourceMappings, GetFunctionUrlConfig and GetPolicy (and the
//! code object from S3 HeadObject), and read by the pure `plan`, so that the
//! comparison is tested without any network.

use std::collections::BTreeMap;

use super::{Architecture, UrlAuth};

/// One existing function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActualFunction {
    pub name: String,
    pub arn: Option<String>,
    pub state: FunctionState,
    /// Why the function is Pending, Inactive or Failed, in Lambda's words.
    pub state_reason: Option<String>,
    pub last_update: UpdateStatus,
    /// Why the last update failed, in Lambda's words.
    pub last_update_reason: Option<String>,
    /// True for an image function, false for a zip.
    pub is_image: bool,
    pub code_sha256: Option<String>,
    /// The image URI as deployed (images only).
    pub image_uri: Option<String>,
    /// The image URI with its digest (images only).
    pub resolved_image_uri: Option<String>,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    /// `None` when Lambda reports an architecture this operator does not know.
    pub architecture: Option<Architecture>,
    pub memory_mb: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub env: BTreeMap<String, String>,
    pub role_arn: Option<String>,
    pub reserved_concurrency: Option<i32>,
    /// Every tag on the function, including owner tags and AWS-reserved `aws:` tags.
    pub tags: BTreeMap<String, String>,
    /// The function's DynamoDB stream mappings (other event sources are not ours).
    pub mappings: Vec<ActualMapping>,
    pub url: Option<ActualUrl>,
}

/// The function's `State`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FunctionState {
    /// Being created (or reactivated): no API action on it works yet.
    Pending,
    Active,
    /// Idle long enough for Lambda to reclaim its resources. The next invocation or
    /// update brings it back, so it takes updates like an Active function.
    Inactive,
    /// Creation failed; Lambda's answer is to delete and re-create the function.
    Failed,
    /// A state this operator does not know yet: waited for, never acted on.
    Unknown(String),
}

/// The function's `LastUpdateStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpdateStatus {
    /// Not reported (right after creation).
    None,
    Successful,
    /// An UpdateFunctionCode or UpdateFunctionConfiguration is running: another would
    /// fail with ResourceConflictException.
    InProgress,
    /// The last update was abandoned; the function runs its previous code and
    /// configuration.
    Failed,
    Unknown(String),
}

/// One DynamoDB stream event source mapping of the function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActualMapping {
    pub uuid: String,
    pub stream_arn: String,
    /// `Creating`, `Enabling`, `Enabled`, `Disabling`, `Disabled`, `Updating`,
    /// `Deleting`.
    pub state: String,
    pub batch_size: Option<i32>,
    pub maximum_batching_window_seconds: Option<i32>,
    pub maximum_retry_attempts: Option<i32>,
    pub bisect_batch_on_function_error: Option<bool>,
    pub filter_patterns: Vec<String>,
    /// `FunctionResponseTypes` includes `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
}

impl ActualMapping {
    /// True when Lambda takes an update or delete of this mapping (not mid-change).
    pub fn is_stable(&self) -> bool {
        matches!(self.state.as_str(), "Enabled" | "Disabled")
    }
}

/// The function's URL configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActualUrl {
    pub url: String,
    /// `None` when Lambda reports an auth type this operator does not know.
    pub auth_type: Option<UrlAuth>,
    pub cors_origins: Vec<String>,
    /// The operator's statements allowing anyone to invoke the URL are both in the
    /// function's resource policy.
    pub public_permission: bool,
}

/// The S3 object the spec names, as HeadObject describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodeObject {
    /// `version:<id>` in a versioned bucket, else `etag:<etag>`: a new upload under the
    /// same key changes it.
    pub source: String,
    /// Base64 SHA-256 of the whole object, when it was uploaded with that checksum.
    pub sha256: Option<String>,
}

impl ActualFunction {
    /// True when Lambda takes UpdateFunctionCode/UpdateFunctionConfiguration (and the
    /// calls on its concurrency, trigger and URL) without ResourceConflictException.
    pub fn takes_updates(&self) -> bool {
        let state = match &self.state {
            FunctionState::Active | FunctionState::Inactive => true,
            FunctionState::Pending | FunctionState::Failed | FunctionState::Unknown(_) => false,
        };
        let update = match &self.last_update {
            UpdateStatus::None | UpdateStatus::Successful | UpdateStatus::Failed => true,
            UpdateStatus::InProgress | UpdateStatus::Unknown(_) => false,
        };
        state && update
    }
}

impl FunctionState {
    pub fn as_str(&self) -> &str {
        match self {
            FunctionState::Pending => "Pending",
            FunctionState::Active => "Active",
            FunctionState::Inactive => "Inactive",
            FunctionState::Failed => "Failed",
            FunctionState::Unknown(state) => state,
        }
    }
}

impl UpdateStatus {
    /// As Lambda spells it; `None` when not reported.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            UpdateStatus::None => None,
            UpdateStatus::Successful => Some("Successful"),
            UpdateStatus::InProgress => Some("InProgress"),
            UpdateStatus::Failed => Some("Failed"),
            UpdateStatus::Unknown(status) => Some(status),
        }
    }
}
