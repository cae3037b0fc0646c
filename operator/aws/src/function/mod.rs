//! The app's Lambda functions: what the MetricsApp asks for, compared with what Lambda
//! describes, and the calls that close the gap. Read it beside `table`: same layout,
//! file for file.
//!
//! Layout: this file holds the plain types the controller speaks in. Pure logic, no I/O:
//! `actual` (what AWS describes, as plain data), `plan` (desired × actual × recorded →
//! the steps of this pass, what AWS is still doing, and the checks on a spec), `change`
//! (Event wording). I/O: `describe` (read the function, its trigger, URL and code
//! object), `apply` ([`reconcile`]: send the planned steps, one call each) and `delete`
//! ([`delete`]). `error` holds the one error type. [`Owner`] and its admission rule
//! (`crate::owner`) and [`DeletionPolicy`] are shared with the table: one MetricsApp
//! owns both the same way.

mod actual;
mod apply;
mod change;
mod delete;
mod describe;
mod error;
mod plan;
mod validate;

use std::collections::{BTreeMap, BTreeSet};

pub use crate::owner::Owner;
pub use crate::table::DeletionPolicy;
pub use actual::{
    ActualFunction, ActualMapping, ActualUrl, CodeObject, FunctionState, UpdateStatus,
};
pub use apply::{preview, reconcile, reconcile_since};
pub use delete::delete;
pub use error::{AwsError, Error};
pub use plan::{
    ConfigurationUpdate, MappingUpdate, Plan, Step, UrlAction, UrlPermission, check_deployed_code,
    plan, waiting_on,
};
pub use validate::validate;

/// The function a MetricsApp asks for, in plain terms (no Kubernetes, no SDK types).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DesiredFunction {
    /// The AWS function name (the controller derives it from the MetricsApp).
    pub name: String,
    pub code: Code,
    /// Base64 SHA-256 of the deployment package, as Lambda reports `CodeSha256`. When
    /// set, it pins the code: a different one running is a code change, and an object
    /// that turns out not to be this zip is refused.
    pub sha256: Option<String>,
    /// E.g. `provided.al2023`; `None` for images.
    pub runtime: Option<String>,
    /// `None` for images.
    pub handler: Option<String>,
    pub architecture: Architecture,
    pub memory_mb: i32,
    pub timeout_seconds: i32,
    /// The complete environment (the controller has already added the table name etc.).
    pub env: BTreeMap<String, String>,
    pub role_arn: String,
    /// Reserved concurrent executions; `None` leaves the function on the account pool.
    pub reserved_concurrency: Option<i32>,
    /// User tags. Owner tags are added on top (see [`Owner`]) and win on conflict.
    pub tags: BTreeMap<String, String>,
    /// The table stream that invokes the function; `None` removes the trigger.
    pub trigger: Option<StreamTrigger>,
    /// A function URL; `None` removes it.
    pub url: Option<FunctionUrl>,
}

/// Where the deployment package comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Code {
    /// A zip in S3. Without `object_version` the newest object under the key is used,
    /// and a new upload under the same key is detected by its version id or ETag.
    S3 {
        bucket: String,
        key: String,
        object_version: Option<String>,
    },
    /// A container image in ECR (`repo:tag` or `repo@sha256:…`).
    Image { uri: String },
}

impl Code {
    /// Where the code is, in the user's words: `s3://bucket/key` (with its version) or
    /// the image URI.
    pub fn location(&self) -> String {
        match self {
            Code::S3 {
                bucket,
                key,
                object_version: Some(version),
            } => format!("s3://{bucket}/{key} (version {version})"),
            Code::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
            Code::Image { uri } => uri.clone(),
        }
    }
}

/// The instruction set the function runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Architecture {
    X86_64,
    Arm64,
}

/// A DynamoDB stream event source mapping.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamTrigger {
    /// The table's `LatestStreamArn`.
    pub stream_arn: String,
    /// `None`: Lambda's default (100).
    pub batch_size: Option<i32>,
    /// Used when the mapping is created only: Lambda cannot change it on a live mapping,
    /// and re-creating the mapping would replay or skip records.
    pub starting_position: StartingPosition,
    /// `None`: Lambda's default (0).
    pub maximum_batching_window_seconds: Option<i32>,
    /// `None`: Lambda's default (-1, retry until the record expires).
    pub maximum_retry_attempts: Option<i32>,
    pub bisect_batch_on_function_error: bool,
    /// Event filter patterns (JSON), sent as `FilterCriteria`.
    pub filter_patterns: Vec<String>,
}

/// Where a new mapping starts reading the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

/// A function URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionUrl {
    pub auth_type: UrlAuth,
    /// CORS `AllowOrigins`; empty sends no CORS configuration.
    pub cors_origins: Vec<String>,
}

/// Who may call a function URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UrlAuth {
    /// Callers sign with IAM credentials.
    AwsIam,
    /// Anyone; Lambda also needs a resource policy allowing `lambda:InvokeFunctionUrl`
    /// to `*`, which the operator adds.
    None,
}

/// What the operator recorded about this function after earlier passes (the controller
/// keeps it in the MetricsApp status). Lambda does not tell which S3 object it was
/// deployed from, nor which tags the operator set, so these must be remembered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FunctionRecord {
    /// Identity of the code last deployed: `version:<id>` or `etag:<etag>` of the S3
    /// object, or the resolved image URI. `None`: not known (an existing function is
    /// then redeployed once, so that what runs is known).
    pub code_source: Option<String>,
    /// `CodeSha256` reported after the last pass. A different one now means code was
    /// deployed behind the operator's back, and it is redeployed.
    pub code_sha256: Option<String>,
    /// User tag keys the operator set before: only these are removed when they leave
    /// the spec, so tags others added (AWS Backup, cost allocation) are kept.
    pub managed_tags: BTreeSet<String>,
}

/// Where the function stands after one reconcile pass.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionReport {
    pub name: String,
    /// `None` only while AWS has not yet returned it.
    pub arn: Option<String>,
    /// As Lambda reports it: `Pending`, `Active`, `Inactive`, `Failed`.
    pub state: Option<String>,
    /// `InProgress`, `Successful` or `Failed`; `None` right after creation.
    pub last_update_status: Option<String>,
    pub code_sha256: Option<String>,
    /// What to record as [`FunctionRecord::code_source`]: the identity of the code now
    /// deployed (unchanged from the record while a newer object waits to be deployed).
    pub code_source: Option<String>,
    /// What to record as [`FunctionRecord::managed_tags`].
    pub managed_tags: BTreeSet<String>,
    pub mapping: Option<MappingReport>,
    /// The function URL, once it exists.
    pub url: Option<String>,
    /// The changes made in this pass, in the order they were made (for Events).
    pub changes: Vec<Change>,
    /// True when the function matches the spec, is Active (or idle), nothing is in
    /// progress and nothing was changed in this pass. The controller requeues with a
    /// short, growing delay while it is false.
    pub settled: bool,
    /// What AWS is still doing, one phrase each (for the condition message).
    pub waiting: Vec<String>,
    /// Set when the pass found the function settled: hand the report to
    /// [`reconcile_since`] for a next pass of one read.
    pub fingerprint: Option<crate::Fingerprint>,
}

/// The stream trigger as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MappingReport {
    pub uuid: String,
    /// `Creating`, `Enabled`, `Updating`, ...
    pub state: String,
}

/// One change the operator made to a function. `Display` says it in the words of an
/// Event message, e.g. "configuration updated: memory, timeout".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// The function did not exist and was created.
    Created,
    /// An existing function without owner tags was taken over (`adopt: true`).
    Adopted,
    /// New code deployed; `from`/`to` are code identities (see [`FunctionRecord::code_source`]).
    CodeUpdated {
        from: Option<String>,
        to: String,
    },
    /// Configuration fields changed, named in spec words (`memory`, `env`, ...).
    ConfigurationUpdated {
        fields: Vec<String>,
    },
    /// Tags added or changed (key → value) and removed (keys).
    Tags {
        set: BTreeMap<String, String>,
        removed: Vec<String>,
    },
    /// Reserved concurrency set, or removed (`None`).
    Concurrency {
        to: Option<i32>,
    },
    /// The stream trigger was created.
    TriggerCreated,
    /// Trigger settings changed, named in spec words.
    TriggerUpdated {
        fields: Vec<String>,
    },
    /// A stream trigger was removed (no longer wanted, or on a stream no longer the
    /// table's).
    TriggerDeleted,
    UrlCreated,
    /// Auth type, CORS origins or the public-access permission changed.
    UrlUpdated,
    UrlDeleted,
}

/// The outcome of deleting a MetricsApp, as far as one function is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Deletion {
    /// `Retain`: the function was left in place.
    Retained,
    /// `Delete`: the function, its triggers and URL were deleted.
    Deleted,
    /// The function no longer existed.
    AlreadyGone,
    /// The function exists but is not owned by this MetricsApp: left untouched.
    NotOwned,
}
