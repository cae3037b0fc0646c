//! Desired × actual × recorded, with no I/O: who owns the function, the steps of this
//! pass and those left for later, what AWS is still doing, and the checks on a spec
//! before any call. Every policy decision lives here so it is tested without a network;
//! `apply` only sends what this returns.
//!
//! The rules:
//! - Nothing is changed while Lambda is busy (`State` not Active/Inactive, or
//!   `LastUpdateStatus: InProgress`): another update would fail with
//!   ResourceConflictException. The plan waits and says on what.
//! - A pass sends tag changes, then concurrency, trigger and URL changes (their own
//!   APIs, which leave the function's update status alone), then at most one function
//!   update, last, because it puts the function InProgress. Code goes before
//!   configuration; the other waits for a later pass.
//! - A zip's code is out of date when the S3 object's identity (version id or ETag)
//!   differs from the one recorded at the last deploy, when Lambda's `CodeSha256`
//!   differs from the pinned `sha256` or from the one recorded (someone deployed other
//!   code), or when the architecture differs.

use std::collections::{BTreeMap, BTreeSet};

use super::actual::{
    ActualFunction, ActualMapping, ActualUrl, CodeObject, FunctionState, UpdateStatus,
};
use super::{
    Architecture, Change, Code, DesiredFunction, Error, FunctionRecord, FunctionUrl, Owner,
    StreamTrigger, UrlAuth,
};
use crate::Fingerprint;
use crate::owner::{Admission, admit, owner_tags};
use crate::tags::TagChange;

/// One call (or short sequence of calls on one resource) that moves the function
/// towards the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// CreateFunction from the spec, with these tags (user tags and owner tags).
    Create { tags: BTreeMap<String, String> },
    /// TagResource with the owner tags of a function taken over with `adopt: true`.
    Adopt { tags: BTreeMap<String, String> },
    /// TagResource with `set`, UntagResource with `removed`.
    Tags {
        set: BTreeMap<String, String>,
        removed: Vec<String>,
    },
    /// PutFunctionConcurrency, or DeleteFunctionConcurrency for `None`.
    Concurrency { to: Option<i32> },
    /// CreateEventSourceMapping on the trigger's stream.
    CreateMapping(StreamTrigger),
    /// UpdateEventSourceMapping with the settings that differ.
    UpdateMapping(MappingUpdate),
    /// DeleteEventSourceMapping: no trigger is wanted, or the mapping reads a stream
    /// that is no longer the table's (the table or its stream was re-created).
    DeleteMapping { uuid: String },
    /// The function URL and its public-access permission.
    Url {
        action: UrlAction,
        permission: Option<UrlPermission>,
    },
    /// UpdateFunctionCode; `from`/`to` are code identities for the Event.
    UpdateCode {
        code: Code,
        architecture: Architecture,
        from: Option<String>,
        to: String,
    },
    /// UpdateFunctionConfiguration with the fields that differ.
    UpdateConfiguration(ConfigurationUpdate),
}

/// The settings of an UpdateEventSourceMapping request: `Some` for each that differs,
/// with the value to send (Lambda's default when the spec leaves it out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingUpdate {
    pub uuid: String,
    pub batch_size: Option<i32>,
    pub maximum_batching_window_seconds: Option<i32>,
    pub maximum_retry_attempts: Option<i32>,
    pub bisect_batch_on_function_error: Option<bool>,
    pub filter_patterns: Option<Vec<String>>,
    /// Send `FunctionResponseTypes=[ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// Send `Enabled=true`: someone disabled the mapping.
    pub enable: bool,
}

/// The fields of an UpdateFunctionConfiguration request: `Some` for each that differs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigurationUpdate {
    pub memory_mb: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub env: Option<BTreeMap<String, String>>,
    pub role_arn: Option<String>,
    pub runtime: Option<String>,
    pub handler: Option<String>,
}

/// What to do with the URL configuration itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlAction {
    /// CreateFunctionUrlConfig.
    Create(FunctionUrl),
    /// UpdateFunctionUrlConfig (auth type or CORS origins differ).
    Update(FunctionUrl),
    /// DeleteFunctionUrlConfig.
    Delete,
    /// The configuration matches; only the permission changes.
    Keep,
}

/// The resource-policy statements that let anyone invoke a URL with auth type NONE,
/// which Lambda requires besides the URL configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPermission {
    /// AddPermission twice, principal `*`: `lambda:InvokeFunctionUrl` for auth type
    /// NONE, and `lambda:InvokeFunction` when invoked via the URL.
    Allow,
    /// RemovePermission of both statements.
    Revoke,
}

/// The outcome of planning one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The steps to send in this pass, in order.
    pub steps: Vec<Step>,
    /// Differences left for a later pass: the second function update, or everything
    /// while Lambda is busy.
    pub later: Vec<Step>,
    /// What AWS is still doing, one phrase each.
    pub waiting: Vec<String>,
    /// The code identity to report once `steps` are sent (see
    /// [`FunctionRecord::code_source`]).
    pub code_source: Option<String>,
    /// The user tag keys to report once `steps` are sent.
    pub managed_tags: BTreeSet<String>,
}

impl Plan {
    /// True when nothing is to be done, now or later, and AWS is not busy.
    pub fn is_settled(&self) -> bool {
        self.steps.is_empty() && self.later.is_empty() && self.waiting.is_empty()
    }
}

/// What a settled pass compared, as one number: the spec, the owner, the record, and
/// the part of `actual` that GetFunction returns (the stream mappings and the URL left
/// out, as the one-read check does not read them).
pub fn fingerprint(
    desired: &DesiredFunction,
    owner: &Owner,
    adopt: bool,
    recorded: &FunctionRecord,
    actual: &ActualFunction,
) -> Fingerprint {
    let described = ActualFunction {
        mappings: Vec::new(),
        url: None,
        ..actual.clone()
    };
    Fingerprint::of(&(desired, owner, adopt, recorded, described))
}

impl Step {
    /// True for UpdateFunctionCode and UpdateFunctionConfiguration, of which one is
    /// allowed per pass.
    pub fn is_function_update(&self) -> bool {
        match self {
            Step::UpdateCode { .. } | Step::UpdateConfiguration(_) => true,
            Step::Create { .. }
            | Step::Adopt { .. }
            | Step::Tags { .. }
            | Step::Concurrency { .. }
            | Step::CreateMapping(_)
            | Step::UpdateMapping(_)
            | Step::DeleteMapping { .. }
            | Step::Url { .. } => false,
        }
    }

    /// The change this step makes, as reported in Events.
    pub fn change(&self) -> Change {
        match self {
            Step::Create { .. } => Change::Created,
            Step::Adopt { .. } => Change::Adopted,
            Step::Tags { set, removed } => Change::Tags {
                set: set.clone(),
                removed: removed.clone(),
            },
            Step::Concurrency { to } => Change::Concurrency { to: *to },
            Step::CreateMapping(_) => Change::TriggerCreated,
            Step::UpdateMapping(update) => Change::TriggerUpdated {
                fields: update.fields(),
            },
            Step::DeleteMapping { .. } => Change::TriggerDeleted,
            Step::Url { action, .. } => match action {
                UrlAction::Create(_) => Change::UrlCreated,
                UrlAction::Update(_) | UrlAction::Keep => Change::UrlUpdated,
                UrlAction::Delete => Change::UrlDeleted,
            },
            Step::UpdateCode { from, to, .. } => Change::CodeUpdated {
                from: from.clone(),
                to: to.clone(),
            },
            Step::UpdateConfiguration(update) => Change::ConfigurationUpdated {
                fields: update.fields(),
            },
        }
    }
}

impl MappingUpdate {
    /// The settings that change, in spec words.
    pub fn fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        let mut field = |changes: bool, name: &str| {
            if changes {
                fields.push(name.to_owned());
            }
        };
        field(self.batch_size.is_some(), "batch size");
        field(
            self.maximum_batching_window_seconds.is_some(),
            "batching window",
        );
        field(self.maximum_retry_attempts.is_some(), "retry attempts");
        field(
            self.bisect_batch_on_function_error.is_some(),
            "bisect on error",
        );
        field(self.filter_patterns.is_some(), "filter patterns");
        field(self.report_batch_item_failures, "batch item failures");
        field(self.enable, "enabled");
        fields
    }

    fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }
}

impl ConfigurationUpdate {
    /// The fields that change, in spec words.
    pub fn fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        let mut field = |changes: bool, name: &str| {
            if changes {
                fields.push(name.to_owned());
            }
        };
        field(self.memory_mb.is_some(), "memory");
        field(self.timeout_seconds.is_some(), "timeout");
        field(self.env.is_some(), "env");
        field(self.role_arn.is_some(), "role");
        field(self.runtime.is_some(), "runtime");
        field(self.handler.is_some(), "handler");
        fields
    }
}

/// Lambda's defaults for a DynamoDB stream mapping, compared with when the spec leaves
/// a setting out, so that removing it from the spec reverts it.
const DEFAULT_BATCH_SIZE: i32 = 100;
const DEFAULT_BATCHING_WINDOW: i32 = 0;
const DEFAULT_RETRY_ATTEMPTS: i32 = -1;

/// Plans one pass over the function `desired.name`: `actual` is `None` when it does
/// not exist; `object` is the S3 object the spec names (`None` for images).
///
/// Errors, touching nothing: [`Error::Conflict`] for a function that is not ours (and
/// not adopted), [`Error::InvalidSpec`] for a zip/image switch Lambda cannot make,
/// [`Error::FunctionFailed`] for a function whose creation failed,
/// [`Error::UpdateFailed`] when the last update failed and nothing new is asked for,
/// and [`Error::CodeMismatch`] when the object's own checksum already shows it is not
/// the pinned zip.
pub fn plan(
    desired: &DesiredFunction,
    actual: Option<&ActualFunction>,
    object: Option<&CodeObject>,
    recorded: &FunctionRecord,
    owner: &Owner,
    adopt: bool,
) -> Result<Plan, Error> {
    let identity = identity(&desired.code, object);
    let owned = owner_tags(owner);
    let desired_keys: BTreeSet<String> = desired
        .tags
        .keys()
        .filter(|key| !owned.contains_key(*key))
        .cloned()
        .collect();
    let Some(actual) = actual else {
        check_object(desired, object)?;
        return Ok(Plan {
            steps: vec![Step::Create {
                tags: wanted_tags(desired, owner),
            }],
            later: Vec::new(),
            waiting: Vec::new(),
            code_source: Some(identity),
            managed_tags: desired_keys,
        });
    };

    let adopting = match admit(&actual.tags, owner, adopt) {
        Admission::Ours => false,
        Admission::Adopt => true,
        Admission::Unowned => {
            return Err(Error::Conflict {
                function: actual.name.clone(),
                owner: "already exists and has no metricsapp.dev/uid owner tag; \
                        set adopt: true to take it over"
                    .to_owned(),
            });
        }
        Admission::Other(who) => {
            return Err(Error::Conflict {
                function: actual.name.clone(),
                owner: format!("belongs to {who}"),
            });
        }
    };
    let wants_image = match desired.code {
        Code::S3 { .. } => false,
        Code::Image { .. } => true,
    };
    if wants_image != actual.is_image {
        let (is, wants) = if actual.is_image {
            ("an image", "a zip")
        } else {
            ("a zip", "an image")
        };
        return Err(Error::InvalidSpec {
            function: actual.name.clone(),
            problem: format!(
                "the function is {is} function and the spec asks for {wants}; Lambda cannot \
                 change a function's package type, so delete the function to re-create it"
            ),
            source: None,
        });
    }
    if actual.state == FunctionState::Failed {
        return Err(Error::FunctionFailed {
            function: actual.name.clone(),
            reason: actual
                .state_reason
                .clone()
                .unwrap_or_else(|| "no reason given".to_owned()),
        });
    }

    let mut candidates = Vec::new();
    let mut tags_seen = actual.tags.clone();
    if adopting {
        let tags = owner_tags(owner);
        tags_seen.extend(tags.clone());
        candidates.push(Step::Adopt { tags });
    }
    let tag_change = TagChange::between(
        &wanted_tags(desired, owner),
        &tags_seen,
        &recorded.managed_tags,
    );
    let removals = tag_change
        .as_ref()
        .map(|change| change.removed.clone())
        .unwrap_or_default();
    candidates.extend(tag_change.map(|TagChange { set, removed }| Step::Tags { set, removed }));
    if actual.reserved_concurrency != desired.reserved_concurrency {
        candidates.push(Step::Concurrency {
            to: desired.reserved_concurrency,
        });
    }
    candidates.extend(mappings(desired.trigger.as_ref(), &actual.mappings));
    candidates.extend(url(desired.url.as_ref(), actual.url.as_ref()));
    let code = code_update(desired, actual, object, &identity, recorded);
    let code_differs = code.is_some();
    candidates.extend(code);
    candidates.extend(configuration_update(desired, actual).map(Step::UpdateConfiguration));

    if candidates.is_empty() && actual.last_update == UpdateStatus::Failed {
        return Err(Error::UpdateFailed {
            function: actual.name.clone(),
            reason: actual
                .last_update_reason
                .clone()
                .unwrap_or_else(|| "no reason given".to_owned()),
        });
    }

    let (steps, later) = if actual.takes_updates() {
        split_one_update(candidates)
    } else {
        (Vec::new(), candidates)
    };
    let deploys = steps
        .iter()
        .any(|step| matches!(step, Step::UpdateCode { .. }));
    if deploys {
        check_object(desired, object)?;
    }
    let tags_sent = steps.iter().any(|step| matches!(step, Step::Tags { .. }));
    let mut managed_tags = desired_keys;
    if !tags_sent {
        managed_tags.extend(removals);
    }
    Ok(Plan {
        steps,
        later,
        waiting: waiting_on(desired, actual),
        code_source: if deploys || !code_differs {
            Some(identity)
        } else {
            recorded.code_source.clone()
        },
        managed_tags,
    })
}

/// Everything up to and including the first function update goes now; a second one
/// waits, because the first puts the function InProgress.
fn split_one_update(candidates: Vec<Step>) -> (Vec<Step>, Vec<Step>) {
    let mut now = Vec::new();
    let mut later = Vec::new();
    let mut updating = false;
    for step in candidates {
        if step.is_function_update() {
            if updating {
                later.push(step);
                continue;
            }
            updating = true;
        }
        now.push(step);
    }
    (now, later)
}

/// What AWS is still doing, one phrase each; empty when nothing is in progress.
pub fn waiting_on(desired: &DesiredFunction, actual: &ActualFunction) -> Vec<String> {
    let mut waiting = Vec::new();
    let reason = actual
        .state_reason
        .as_deref()
        .map(|reason| format!(" ({reason})"))
        .unwrap_or_default();
    match &actual.state {
        FunctionState::Active | FunctionState::Inactive | FunctionState::Failed => {}
        FunctionState::Pending => waiting.push(format!("function is Pending{reason}")),
        FunctionState::Unknown(state) => waiting.push(format!("function is {state}{reason}")),
    }
    match &actual.last_update {
        UpdateStatus::None | UpdateStatus::Successful | UpdateStatus::Failed => {}
        UpdateStatus::InProgress => {
            waiting.push("an update of the function is in progress".to_owned())
        }
        UpdateStatus::Unknown(status) => waiting.push(format!("last update is {status}")),
    }
    for mapping in &actual.mappings {
        if !mapping.is_stable() {
            let which = match &desired.trigger {
                Some(trigger) if trigger.stream_arn == mapping.stream_arn => "stream trigger",
                _ => "old stream trigger",
            };
            waiting.push(format!("{which} {} is {}", mapping.uuid, mapping.state));
        }
    }
    waiting
}

/// The code identity the spec names now: the S3 object's `version:`/`etag:` identity
/// (its location when HeadObject was not asked), or the image URI.
fn identity(code: &Code, object: Option<&CodeObject>) -> String {
    match (code, object) {
        (Code::S3 { .. }, Some(object)) => object.source.clone(),
        (Code::S3 { bucket, key, .. }, None) => format!("s3://{bucket}/{key}"),
        (Code::Image { uri }, _) => uri.clone(),
    }
}

fn code_update(
    desired: &DesiredFunction,
    actual: &ActualFunction,
    object: Option<&CodeObject>,
    identity: &str,
    recorded: &FunctionRecord,
) -> Option<Step> {
    let (source_differs, from) = match &desired.code {
        Code::S3 { .. } => (
            object.is_none() || recorded.code_source.as_deref() != Some(identity),
            recorded.code_source.clone(),
        ),
        Code::Image { uri } => (
            actual.image_uri.as_deref() != Some(uri.as_str()),
            actual.image_uri.clone(),
        ),
    };
    let running = actual.code_sha256.as_deref();
    let pin_differs = desired
        .sha256
        .as_deref()
        .is_some_and(|pin| running != Some(pin));
    // After a failed update Lambda reports the code it kept, not the one recorded; that
    // case is [`Error::UpdateFailed`], not drift.
    let drifted = match actual.last_update {
        UpdateStatus::None | UpdateStatus::Successful => recorded
            .code_sha256
            .as_deref()
            .is_some_and(|sha| running != Some(sha)),
        UpdateStatus::InProgress | UpdateStatus::Failed | UpdateStatus::Unknown(_) => false,
    };
    let architecture_differs = actual.architecture != Some(desired.architecture);
    (source_differs || pin_differs || drifted || architecture_differs).then(|| Step::UpdateCode {
        code: desired.code.clone(),
        architecture: desired.architecture,
        from,
        to: identity.to_owned(),
    })
}

fn configuration_update(
    desired: &DesiredFunction,
    actual: &ActualFunction,
) -> Option<ConfigurationUpdate> {
    let update = ConfigurationUpdate {
        memory_mb: (actual.memory_mb != Some(desired.memory_mb)).then_some(desired.memory_mb),
        timeout_seconds: (actual.timeout_seconds != Some(desired.timeout_seconds))
            .then_some(desired.timeout_seconds),
        env: (actual.env != desired.env).then(|| desired.env.clone()),
        role_arn: (actual.role_arn.as_deref() != Some(desired.role_arn.as_str()))
            .then(|| desired.role_arn.clone()),
        runtime: desired
            .runtime
            .clone()
            .filter(|runtime| actual.runtime.as_ref() != Some(runtime)),
        handler: desired
            .handler
            .clone()
            .filter(|handler| actual.handler.as_ref() != Some(handler)),
    };
    (!update.fields().is_empty()).then_some(update)
}

/// The one mapping on the trigger's stream that is kept: a second one is made when
/// CreateEventSourceMapping succeeded but its answer was lost (an AWS 500 after the
/// fact, a timeout) and the call was retried. The smallest UUID of those not being
/// deleted, so that every pass keeps the same one.
pub(super) fn kept_mapping<'a>(
    trigger: &StreamTrigger,
    actual: &'a [ActualMapping],
) -> Option<&'a ActualMapping> {
    actual
        .iter()
        .filter(|m| m.stream_arn == trigger.stream_arn && m.state != "Deleting")
        .min_by(|a, b| a.uuid.cmp(&b.uuid))
}

/// The steps for the function's DynamoDB stream mappings: keep (or update) one on the
/// trigger's stream, delete the others, create it when missing. Mappings that are
/// mid-change are left alone (see [`waiting_on`]).
fn mappings(desired: Option<&StreamTrigger>, actual: &[ActualMapping]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut found = false;
    let kept = desired.and_then(|trigger| kept_mapping(trigger, actual));
    for mapping in actual {
        let wanted = desired.filter(|trigger| trigger.stream_arn == mapping.stream_arn);
        found |= wanted.is_some();
        if !mapping.is_stable() {
            continue;
        }
        match wanted.filter(|_| kept.is_some_and(|kept| kept.uuid == mapping.uuid)) {
            Some(trigger) => {
                let update = mapping_update(trigger, mapping);
                if !update.is_empty() {
                    steps.push(Step::UpdateMapping(update));
                }
            }
            None => steps.push(Step::DeleteMapping {
                uuid: mapping.uuid.clone(),
            }),
        }
    }
    if let Some(trigger) = desired
        && !found
    {
        steps.push(Step::CreateMapping(trigger.clone()));
    }
    steps
}

fn mapping_update(trigger: &StreamTrigger, mapping: &ActualMapping) -> MappingUpdate {
    let differs = |want: Option<i32>, have: Option<i32>, default: i32| {
        let want = want.unwrap_or(default);
        (have.unwrap_or(default) != want).then_some(want)
    };
    let bisect = trigger.bisect_batch_on_function_error;
    MappingUpdate {
        uuid: mapping.uuid.clone(),
        batch_size: differs(trigger.batch_size, mapping.batch_size, DEFAULT_BATCH_SIZE),
        maximum_batching_window_seconds: differs(
            trigger.maximum_batching_window_seconds,
            mapping.maximum_batching_window_seconds,
            DEFAULT_BATCHING_WINDOW,
        ),
        maximum_retry_attempts: differs(
            trigger.maximum_retry_attempts,
            mapping.maximum_retry_attempts,
            DEFAULT_RETRY_ATTEMPTS,
        ),
        bisect_batch_on_function_error: (mapping.bisect_batch_on_function_error.unwrap_or(false)
            != bisect)
            .then_some(bisect),
        filter_patterns: (sorted(&trigger.filter_patterns) != sorted(&mapping.filter_patterns))
            .then(|| trigger.filter_patterns.clone()),
        report_batch_item_failures: !mapping.report_batch_item_failures,
        enable: mapping.state == "Disabled",
    }
}

fn url(desired: Option<&FunctionUrl>, actual: Option<&ActualUrl>) -> Option<Step> {
    match (desired, actual) {
        (None, None) => None,
        (None, Some(actual)) => Some(Step::Url {
            action: UrlAction::Delete,
            permission: actual.public_permission.then_some(UrlPermission::Revoke),
        }),
        (Some(want), None) => Some(Step::Url {
            action: UrlAction::Create(want.clone()),
            permission: (want.auth_type == UrlAuth::None).then_some(UrlPermission::Allow),
        }),
        (Some(want), Some(actual)) => {
            let differs = actual.auth_type != Some(want.auth_type)
                || sorted(&actual.cors_origins) != sorted(&want.cors_origins);
            let public = want.auth_type == UrlAuth::None;
            let permission = match (public, actual.public_permission) {
                (true, false) => Some(UrlPermission::Allow),
                (false, true) => Some(UrlPermission::Revoke),
                (true, true) | (false, false) => None,
            };
            let action = if differs {
                UrlAction::Update(want.clone())
            } else {
                UrlAction::Keep
            };
            (differs || permission.is_some()).then_some(Step::Url { action, permission })
        }
    }
}

fn sorted(items: &[String]) -> Vec<&String> {
    let mut items: Vec<&String> = items.iter().collect();
    items.sort();
    items
}

/// User tags plus owner tags; owner tags win.
pub fn wanted_tags(desired: &DesiredFunction, owner: &Owner) -> BTreeMap<String, String> {
    crate::tags::wanted(&desired.tags, owner)
}

/// Refuses to deploy an object whose own S3 checksum shows it is not the pinned zip.
fn check_object(desired: &DesiredFunction, object: Option<&CodeObject>) -> Result<(), Error> {
    match (
        desired.sha256.as_deref(),
        object.and_then(|o| o.sha256.as_deref()),
    ) {
        (Some(pin), Some(found)) if pin != found => Err(mismatch(desired, pin, found)),
        _ => Ok(()),
    }
}

/// After CreateFunction or UpdateFunctionCode: the code Lambda now reports must be the
/// pinned zip, else the object is not what the spec names.
pub fn check_deployed_code(
    desired: &DesiredFunction,
    code_sha256: Option<&str>,
) -> Result<(), Error> {
    match (desired.sha256.as_deref(), code_sha256) {
        (Some(pin), Some(found)) if pin != found => Err(mismatch(desired, pin, found)),
        _ => Ok(()),
    }
}

fn mismatch(desired: &DesiredFunction, pin: &str, found: &str) -> Error {
    Error::CodeMismatch {
        function: desired.name.clone(),
        object: desired.code.location(),
        expected: pin.to_owned(),
        found: found.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::StartingPosition;
    use crate::function::validate::validate;

    const SHA_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const SHA_B: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";
    const STREAM: &str =
        "arn:aws:dynamodb:us-east-1:123456789012:table/team-metrics/stream/2026-01-01T00:00:00.000";
    const OLD_STREAM: &str =
        "arn:aws:dynamodb:us-east-1:123456789012:table/team-metrics/stream/2025-01-01T00:00:00.000";
    const ROLE: &str = "arn:aws:iam::123456789012:role/rollup";

    fn desired() -> DesiredFunction {
        DesiredFunction {
            name: "team-metrics-rollup".into(),
            code: Code::S3 {
                bucket: "code".into(),
                key: "rollup.zip".into(),
                object_version: None,
            },
            sha256: None,
            runtime: Some("provided.al2023".into()),
            handler: Some("bootstrap".into()),
            architecture: Architecture::Arm64,
            memory_mb: 256,
            timeout_seconds: 30,
            env: BTreeMap::from([("TABLE".into(), "team-metrics".into())]),
            role_arn: ROLE.into(),
            reserved_concurrency: None,
            tags: BTreeMap::new(),
            trigger: None,
            url: None,
        }
    }

    fn trigger() -> StreamTrigger {
        StreamTrigger {
            stream_arn: STREAM.into(),
            batch_size: None,
            starting_position: StartingPosition::TrimHorizon,
            maximum_batching_window_seconds: None,
            maximum_retry_attempts: None,
            bisect_batch_on_function_error: false,
            filter_patterns: Vec::new(),
        }
    }

    /// An Active function matching [`desired`], deployed from [`object`].
    fn actual() -> ActualFunction {
        ActualFunction {
            name: "team-metrics-rollup".into(),
            arn: Some("arn:aws:lambda:us-east-1:123456789012:function:team-metrics-rollup".into()),
            state: FunctionState::Active,
            state_reason: None,
            last_update: UpdateStatus::Successful,
            last_update_reason: None,
            is_image: false,
            code_sha256: Some(SHA_A.into()),
            image_uri: None,
            resolved_image_uri: None,
            runtime: Some("provided.al2023".into()),
            handler: Some("bootstrap".into()),
            architecture: Some(Architecture::Arm64),
            memory_mb: Some(256),
            timeout_seconds: Some(30),
            env: BTreeMap::from([("TABLE".into(), "team-metrics".into())]),
            role_arn: Some(ROLE.into()),
            reserved_concurrency: None,
            tags: owner_tags(&Owner::test()),
            mappings: Vec::new(),
            url: None,
        }
    }

    fn mapping(state: &str) -> ActualMapping {
        ActualMapping {
            uuid: "m-1".into(),
            stream_arn: STREAM.into(),
            state: state.into(),
            batch_size: Some(100),
            maximum_batching_window_seconds: None,
            maximum_retry_attempts: Some(-1),
            bisect_batch_on_function_error: Some(false),
            filter_patterns: Vec::new(),
            report_batch_item_failures: true,
        }
    }

    fn object() -> CodeObject {
        CodeObject {
            source: "etag:one".into(),
            sha256: None,
        }
    }

    fn recorded() -> FunctionRecord {
        FunctionRecord {
            code_source: Some("etag:one".into()),
            code_sha256: Some(SHA_A.into()),
            managed_tags: BTreeSet::new(),
        }
    }

    fn run(desired: &DesiredFunction, actual: &ActualFunction) -> Result<Plan, Error> {
        plan(
            desired,
            Some(actual),
            Some(&object()),
            &recorded(),
            &Owner::test(),
            false,
        )
    }

    fn steps(desired: &DesiredFunction, actual: &ActualFunction) -> Vec<Step> {
        run(desired, actual).expect("plan").steps
    }

    fn memory(update: ConfigurationUpdate) -> Step {
        Step::UpdateConfiguration(update)
    }

    #[test]
    fn a_matching_function_needs_nothing() {
        let plan = run(&desired(), &actual()).unwrap();
        assert_eq!(plan.steps, vec![]);
        assert!(plan.is_settled());
        assert_eq!(plan.code_source.as_deref(), Some("etag:one"));
    }

    #[test]
    fn an_idle_inactive_function_is_settled() {
        let mut idle = actual();
        idle.state = FunctionState::Inactive;
        assert!(run(&desired(), &idle).unwrap().is_settled());
    }

    #[test]
    fn an_absent_function_is_created_with_user_and_owner_tags() {
        let want = DesiredFunction {
            tags: BTreeMap::from([
                ("team".into(), "data".into()),
                ("metricsapp.dev/uid".into(), "spoof".into()),
            ]),
            ..desired()
        };
        let plan = plan(
            &want,
            None,
            Some(&object()),
            &FunctionRecord::default(),
            &Owner::test(),
            false,
        )
        .unwrap();
        let mut tags = owner_tags(&Owner::test());
        tags.insert("team".into(), "data".into());
        assert_eq!(plan.steps, vec![Step::Create { tags }]);
        assert_eq!(plan.code_source.as_deref(), Some("etag:one"));
        assert_eq!(plan.managed_tags, BTreeSet::from(["team".into()]));
    }

    #[test]
    fn a_new_object_under_the_same_key_is_deployed() {
        let new = CodeObject {
            source: "etag:two".into(),
            sha256: None,
        };
        let plan = plan(
            &desired(),
            Some(&actual()),
            Some(&new),
            &recorded(),
            &Owner::test(),
            false,
        )
        .unwrap();
        assert_eq!(
            plan.steps,
            vec![Step::UpdateCode {
                code: desired().code,
                architecture: Architecture::Arm64,
                from: Some("etag:one".into()),
                to: "etag:two".into(),
            }]
        );
        assert_eq!(plan.code_source.as_deref(), Some("etag:two"));
    }

    #[test]
    fn an_existing_function_without_a_record_is_deployed_once() {
        let plan = plan(
            &desired(),
            Some(&actual()),
            Some(&object()),
            &FunctionRecord::default(),
            &Owner::test(),
            false,
        )
        .unwrap();
        assert!(matches!(
            plan.steps.as_slice(),
            [Step::UpdateCode { from: None, .. }]
        ));
    }

    #[test]
    fn a_pinned_sha_that_differs_from_what_runs_is_deployed() {
        let want = DesiredFunction {
            sha256: Some(SHA_B.into()),
            ..desired()
        };
        assert!(matches!(
            steps(&want, &actual()).as_slice(),
            [Step::UpdateCode { .. }]
        ));
        let matching = DesiredFunction {
            sha256: Some(SHA_A.into()),
            ..desired()
        };
        assert_eq!(steps(&matching, &actual()), vec![]);
    }

    #[test]
    fn an_object_whose_checksum_is_not_the_pinned_zip_is_refused_before_deploying() {
        let want = DesiredFunction {
            sha256: Some(SHA_B.into()),
            ..desired()
        };
        let new = CodeObject {
            source: "version:v2".into(),
            sha256: Some(SHA_A.into()),
        };
        let error = plan(
            &want,
            Some(&actual()),
            Some(&new),
            &recorded(),
            &Owner::test(),
            false,
        )
        .unwrap_err();
        assert_eq!(error.reason(), "CodeMismatch");
        assert!(error.is_terminal());
        assert!(
            error.to_string().contains("s3://code/rollup.zip"),
            "{error}"
        );
    }

    #[test]
    fn deployed_code_is_checked_against_the_pin() {
        let want = DesiredFunction {
            sha256: Some(SHA_B.into()),
            ..desired()
        };
        assert!(check_deployed_code(&want, Some(SHA_B)).is_ok());
        assert!(check_deployed_code(&desired(), Some(SHA_A)).is_ok());
        let error = check_deployed_code(&want, Some(SHA_A)).unwrap_err();
        assert_eq!(error.reason(), "CodeMismatch");
        assert_eq!(
            error.to_string(),
            format!(
                "function `team-metrics-rollup`: s3://code/rollup.zip has SHA-256 {SHA_A}, \
                 but the spec names {SHA_B}"
            )
        );
    }

    #[test]
    fn code_deployed_behind_the_operators_back_is_redeployed() {
        let mut drifted = actual();
        drifted.code_sha256 = Some(SHA_B.into());
        let steps = steps(&desired(), &drifted);
        assert!(matches!(steps.as_slice(), [Step::UpdateCode { .. }]));
        assert_eq!(steps[0].change().to_string(), "code redeployed (etag:one)");
    }

    #[test]
    fn an_architecture_change_is_a_code_update() {
        let want = DesiredFunction {
            architecture: Architecture::X86_64,
            ..desired()
        };
        assert!(matches!(
            steps(&want, &actual()).as_slice(),
            [Step::UpdateCode {
                architecture: Architecture::X86_64,
                ..
            }]
        ));
    }

    #[test]
    fn an_image_uri_change_is_a_code_update() {
        let want = DesiredFunction {
            code: Code::Image {
                uri: "123.dkr.ecr.us-east-1.amazonaws.com/rollup:2".into(),
            },
            runtime: None,
            handler: None,
            ..desired()
        };
        let mut image = actual();
        image.is_image = true;
        image.image_uri = Some("123.dkr.ecr.us-east-1.amazonaws.com/rollup:1".into());
        image.runtime = None;
        image.handler = None;
        let plan = plan(
            &want,
            Some(&image),
            None,
            &recorded(),
            &Owner::test(),
            false,
        )
        .unwrap();
        assert_eq!(
            plan.steps[0].change(),
            Change::CodeUpdated {
                from: Some("123.dkr.ecr.us-east-1.amazonaws.com/rollup:1".into()),
                to: "123.dkr.ecr.us-east-1.amazonaws.com/rollup:2".into(),
            }
        );
    }

    #[test]
    fn switching_between_zip_and_image_is_refused() {
        let want = DesiredFunction {
            code: Code::Image {
                uri: "repo:1".into(),
            },
            runtime: None,
            handler: None,
            ..desired()
        };
        let error = run(&want, &actual()).unwrap_err();
        assert_eq!(error.reason(), "InvalidFunctionSpec");
        assert!(error.to_string().contains("package type"), "{error}");
    }

    #[test]
    fn configuration_changes_name_their_fields() {
        let want = DesiredFunction {
            memory_mb: 512,
            timeout_seconds: 60,
            env: BTreeMap::new(),
            role_arn: "arn:aws:iam::123456789012:role/other".into(),
            runtime: Some("provided.al2".into()),
            handler: Some("main".into()),
            ..desired()
        };
        let steps = steps(&want, &actual());
        assert_eq!(
            steps,
            vec![memory(ConfigurationUpdate {
                memory_mb: Some(512),
                timeout_seconds: Some(60),
                env: Some(BTreeMap::new()),
                role_arn: Some("arn:aws:iam::123456789012:role/other".into()),
                runtime: Some("provided.al2".into()),
                handler: Some("main".into()),
            })]
        );
        assert_eq!(
            steps[0].change().to_string(),
            "configuration updated: memory, timeout, env, role, runtime, handler"
        );
    }

    #[test]
    fn memory_drift_is_reverted() {
        let mut drifted = actual();
        drifted.memory_mb = Some(1024);
        assert_eq!(
            steps(&desired(), &drifted),
            vec![memory(ConfigurationUpdate {
                memory_mb: Some(256),
                ..ConfigurationUpdate::default()
            })]
        );
    }

    #[test]
    fn code_and_configuration_together_go_code_first_and_config_later() {
        let want = DesiredFunction {
            memory_mb: 512,
            ..desired()
        };
        let new = CodeObject {
            source: "etag:two".into(),
            sha256: None,
        };
        let plan = plan(
            &want,
            Some(&actual()),
            Some(&new),
            &recorded(),
            &Owner::test(),
            false,
        )
        .unwrap();
        assert!(matches!(plan.steps.as_slice(), [Step::UpdateCode { .. }]));
        assert_eq!(
            plan.later,
            vec![memory(ConfigurationUpdate {
                memory_mb: Some(512),
                ..ConfigurationUpdate::default()
            })]
        );
        assert!(!plan.is_settled());
    }

    #[test]
    fn nothing_is_sent_while_an_update_is_in_progress() {
        let want = DesiredFunction {
            memory_mb: 512,
            reserved_concurrency: Some(5),
            ..desired()
        };
        let mut busy = actual();
        busy.last_update = UpdateStatus::InProgress;
        let new = CodeObject {
            source: "etag:two".into(),
            sha256: None,
        };
        let plan = plan(
            &want,
            Some(&busy),
            Some(&new),
            &recorded(),
            &Owner::test(),
            false,
        )
        .unwrap();
        assert_eq!(plan.steps, vec![]);
        assert_eq!(plan.later.len(), 3, "{:?}", plan.later);
        assert_eq!(
            plan.waiting,
            vec!["an update of the function is in progress"]
        );
        assert_eq!(
            plan.code_source.as_deref(),
            Some("etag:one"),
            "the new object is not deployed yet: keep the old record"
        );
    }

    #[test]
    fn nothing_is_sent_while_the_function_is_pending() {
        let mut pending = actual();
        pending.state = FunctionState::Pending;
        pending.state_reason = Some("The function is being created.".into());
        let want = DesiredFunction {
            memory_mb: 512,
            ..desired()
        };
        let plan = run(&want, &pending).unwrap();
        assert_eq!(plan.steps, vec![]);
        assert_eq!(
            plan.waiting,
            vec!["function is Pending (The function is being created.)"]
        );
        assert!(!plan.is_settled());
    }

    #[test]
    fn a_failed_update_with_nothing_new_is_a_terminal_error_naming_lambdas_reason() {
        let mut failed = actual();
        failed.last_update = UpdateStatus::Failed;
        failed.last_update_reason = Some("Lambda was unable to configure access to your environment variables because the KMS key is invalid".into());
        // Lambda kept the previous code: not drift.
        failed.code_sha256 = Some(SHA_B.into());
        let error = run(&desired(), &failed).unwrap_err();
        assert_eq!(error.reason(), "FunctionUpdateFailed");
        assert!(error.is_terminal());
        assert!(error.to_string().contains("KMS key is invalid"), "{error}");
    }

    #[test]
    fn a_failed_update_with_a_new_change_applies_it() {
        let mut failed = actual();
        failed.last_update = UpdateStatus::Failed;
        let want = DesiredFunction {
            memory_mb: 512,
            ..desired()
        };
        assert_eq!(
            steps(&want, &failed),
            vec![memory(ConfigurationUpdate {
                memory_mb: Some(512),
                ..ConfigurationUpdate::default()
            })]
        );
    }

    #[test]
    fn a_function_whose_creation_failed_is_a_terminal_error() {
        let mut failed = actual();
        failed.state = FunctionState::Failed;
        failed.state_reason = Some("subnet has no free IP addresses".into());
        let error = run(&desired(), &failed).unwrap_err();
        assert_eq!(error.reason(), "FunctionFailed");
        assert!(error.is_terminal());
        assert!(error.to_string().contains("no free IP"), "{error}");
    }

    #[test]
    fn an_inactive_function_takes_updates() {
        let mut idle = actual();
        idle.state = FunctionState::Inactive;
        let want = DesiredFunction {
            timeout_seconds: 60,
            ..desired()
        };
        assert_eq!(steps(&want, &idle).len(), 1);
    }

    #[test]
    fn an_unowned_function_is_a_conflict_unless_adopted() {
        let mut unowned = actual();
        unowned.tags = BTreeMap::from([("team".into(), "web".into())]);
        let error = run(&desired(), &unowned).unwrap_err();
        assert_eq!(error.reason(), "FunctionConflict");
        assert!(error.is_terminal());
        assert!(error.to_string().contains("adopt: true"), "{error}");

        let plan = plan(
            &desired(),
            Some(&unowned),
            Some(&object()),
            &recorded(),
            &Owner::test(),
            true,
        )
        .unwrap();
        assert_eq!(
            plan.steps,
            vec![Step::Adopt {
                tags: owner_tags(&Owner::test())
            }],
            "the tags someone else set are kept"
        );
    }

    #[test]
    fn a_function_of_another_app_is_a_conflict_naming_it_even_with_adopt() {
        let mut other = Owner::test();
        other.uid = "uid-2".into();
        other.namespace = "other".into();
        let mut theirs = actual();
        theirs.tags = owner_tags(&other);
        let error = plan(
            &desired(),
            Some(&theirs),
            Some(&object()),
            &recorded(),
            &Owner::test(),
            true,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "function `team-metrics-rollup` belongs to MetricsApp other/metrics (uid uid-2)"
        );
    }

    #[test]
    fn only_tags_the_operator_set_are_removed() {
        let want = DesiredFunction {
            tags: BTreeMap::from([("team".into(), "data".into())]),
            ..desired()
        };
        let mut function = actual();
        function.tags.insert("team".into(), "web".into());
        function.tags.insert("old".into(), "x".into());
        function.tags.insert("backup-plan".into(), "daily".into());
        function
            .tags
            .insert("aws:cloudformation:stack-name".into(), "s".into());
        let record = FunctionRecord {
            managed_tags: BTreeSet::from(["old".into(), "team".into(), "gone".into()]),
            ..recorded()
        };
        let plan = plan(
            &want,
            Some(&function),
            Some(&object()),
            &record,
            &Owner::test(),
            false,
        )
        .unwrap();
        assert_eq!(
            plan.steps,
            vec![Step::Tags {
                set: BTreeMap::from([("team".into(), "data".into())]),
                removed: vec!["old".into()],
            }]
        );
        assert_eq!(plan.managed_tags, BTreeSet::from(["team".into()]));
    }

    /// The same tags and record as the table's
    /// `tags_added_changed_and_removed_when_managed_but_aws_tags_kept`, with the same
    /// step: both resources diff tags with [`TagChange::between`].
    #[test]
    fn a_managed_aws_tag_is_kept_as_on_the_table() {
        let want = DesiredFunction {
            tags: BTreeMap::from([
                ("team".into(), "data".into()),
                ("cost-center".into(), "42".into()),
            ]),
            ..desired()
        };
        let mut function = actual();
        function.tags.insert("team".into(), "web".into());
        function.tags.insert("old".into(), "x".into());
        function
            .tags
            .insert("aws:cloudformation:stack-name".into(), "s".into());
        let record = FunctionRecord {
            managed_tags: BTreeSet::from([
                "team".into(),
                "old".into(),
                "aws:cloudformation:stack-name".into(),
            ]),
            ..recorded()
        };
        let plan = plan(
            &want,
            Some(&function),
            Some(&object()),
            &record,
            &Owner::test(),
            false,
        )
        .unwrap();
        assert_eq!(
            plan.steps,
            vec![Step::Tags {
                set: BTreeMap::from([
                    ("cost-center".into(), "42".into()),
                    ("team".into(), "data".into()),
                ]),
                removed: vec!["old".into()],
            }]
        );
    }

    #[test]
    fn tag_keys_still_to_remove_stay_managed_while_waiting() {
        let mut busy = actual();
        busy.last_update = UpdateStatus::InProgress;
        busy.tags.insert("old".into(), "x".into());
        let record = FunctionRecord {
            managed_tags: BTreeSet::from(["old".into()]),
            ..recorded()
        };
        let plan = plan(
            &desired(),
            Some(&busy),
            Some(&object()),
            &record,
            &Owner::test(),
            false,
        )
        .unwrap();
        assert_eq!(plan.steps, vec![]);
        assert_eq!(plan.managed_tags, BTreeSet::from(["old".into()]));
    }

    #[test]
    fn concurrency_is_set_and_removed() {
        let want = DesiredFunction {
            reserved_concurrency: Some(5),
            ..desired()
        };
        assert_eq!(
            steps(&want, &actual()),
            vec![Step::Concurrency { to: Some(5) }]
        );
        let mut reserved = actual();
        reserved.reserved_concurrency = Some(5);
        assert_eq!(
            steps(&desired(), &reserved),
            vec![Step::Concurrency { to: None }]
        );
    }

    #[test]
    fn a_missing_trigger_is_created() {
        let want = DesiredFunction {
            trigger: Some(trigger()),
            ..desired()
        };
        assert_eq!(
            steps(&want, &actual()),
            vec![Step::CreateMapping(trigger())]
        );
        let mut mapped = actual();
        mapped.mappings = vec![mapping("Enabled")];
        assert_eq!(steps(&want, &mapped), vec![]);
    }

    #[test]
    fn changed_trigger_settings_update_only_what_differs() {
        let want = DesiredFunction {
            trigger: Some(StreamTrigger {
                batch_size: Some(50),
                bisect_batch_on_function_error: true,
                filter_patterns: vec![r#"{"eventName":["INSERT"]}"#.into()],
                ..trigger()
            }),
            ..desired()
        };
        let mut mapped = actual();
        mapped.mappings = vec![mapping("Disabled")];
        mapped.mappings[0].report_batch_item_failures = false;
        let steps = steps(&want, &mapped);
        assert_eq!(
            steps,
            vec![Step::UpdateMapping(MappingUpdate {
                uuid: "m-1".into(),
                batch_size: Some(50),
                bisect_batch_on_function_error: Some(true),
                filter_patterns: Some(vec![r#"{"eventName":["INSERT"]}"#.into()]),
                report_batch_item_failures: true,
                enable: true,
                ..MappingUpdate::default()
            })]
        );
        assert_eq!(
            steps[0].change().to_string(),
            "stream trigger updated: batch size, bisect on error, filter patterns, \
             batch item failures, enabled"
        );
    }

    #[test]
    fn a_setting_left_out_of_the_spec_reverts_to_lambdas_default() {
        let mut mapped = actual();
        mapped.mappings = vec![mapping("Enabled")];
        mapped.mappings[0].batch_size = Some(10);
        mapped.mappings[0].maximum_retry_attempts = Some(3);
        let want = DesiredFunction {
            trigger: Some(trigger()),
            ..desired()
        };
        assert_eq!(
            steps(&want, &mapped),
            vec![Step::UpdateMapping(MappingUpdate {
                uuid: "m-1".into(),
                batch_size: Some(100),
                maximum_retry_attempts: Some(-1),
                ..MappingUpdate::default()
            })]
        );
    }

    #[test]
    fn a_trigger_mid_change_is_waited_for() {
        let want = DesiredFunction {
            trigger: Some(StreamTrigger {
                batch_size: Some(50),
                ..trigger()
            }),
            ..desired()
        };
        for state in ["Creating", "Updating", "Enabling"] {
            let mut mapped = actual();
            mapped.mappings = vec![mapping(state)];
            let plan = run(&want, &mapped).unwrap();
            assert_eq!(plan.steps, vec![], "{state}");
            assert_eq!(plan.waiting, vec![format!("stream trigger m-1 is {state}")]);
        }
    }

    #[test]
    fn a_trigger_no_longer_wanted_or_on_an_old_stream_is_deleted() {
        let mut mapped = actual();
        mapped.mappings = vec![mapping("Enabled")];
        assert_eq!(
            steps(&desired(), &mapped),
            vec![Step::DeleteMapping { uuid: "m-1".into() }]
        );

        let mut old = mapping("Enabled");
        old.stream_arn = OLD_STREAM.into();
        mapped.mappings = vec![old];
        let want = DesiredFunction {
            trigger: Some(trigger()),
            ..desired()
        };
        assert_eq!(
            steps(&want, &mapped),
            vec![
                Step::DeleteMapping { uuid: "m-1".into() },
                Step::CreateMapping(trigger())
            ]
        );
    }

    #[test]
    fn a_second_trigger_on_the_wanted_stream_is_deleted() {
        let mut mapped = actual();
        let mut twin = mapping("Enabled");
        twin.uuid = "m-0".into();
        mapped.mappings = vec![mapping("Enabled"), twin];
        let want = DesiredFunction {
            trigger: Some(trigger()),
            ..desired()
        };
        assert_eq!(
            steps(&want, &mapped),
            vec![Step::DeleteMapping { uuid: "m-1".into() }]
        );
    }

    #[test]
    fn a_trigger_being_deleted_on_the_wanted_stream_is_not_created_twice() {
        let mut mapped = actual();
        mapped.mappings = vec![mapping("Deleting")];
        let want = DesiredFunction {
            trigger: Some(trigger()),
            ..desired()
        };
        let plan = run(&want, &mapped).unwrap();
        assert_eq!(plan.steps, vec![]);
        assert_eq!(plan.waiting, vec!["stream trigger m-1 is Deleting"]);
    }

    #[test]
    fn a_public_url_is_created_with_its_permission() {
        let public = FunctionUrl {
            auth_type: UrlAuth::None,
            cors_origins: vec!["https://example.com".into()],
        };
        let want = DesiredFunction {
            url: Some(public.clone()),
            ..desired()
        };
        assert_eq!(
            steps(&want, &actual()),
            vec![Step::Url {
                action: UrlAction::Create(public),
                permission: Some(UrlPermission::Allow),
            }]
        );
        let iam = DesiredFunction {
            url: Some(FunctionUrl {
                auth_type: UrlAuth::AwsIam,
                cors_origins: Vec::new(),
            }),
            ..desired()
        };
        assert!(matches!(
            steps(&iam, &actual()).as_slice(),
            [Step::Url {
                action: UrlAction::Create(_),
                permission: None
            }]
        ));
    }

    fn public_url() -> ActualUrl {
        ActualUrl {
            url: "https://abc.lambda-url.us-east-1.on.aws/".into(),
            auth_type: Some(UrlAuth::None),
            cors_origins: vec!["https://b.example".into(), "https://a.example".into()],
            public_permission: true,
        }
    }

    #[test]
    fn a_url_change_updates_it_and_its_permission() {
        let mut function = actual();
        function.url = Some(public_url());
        let same = DesiredFunction {
            url: Some(FunctionUrl {
                auth_type: UrlAuth::None,
                cors_origins: vec!["https://a.example".into(), "https://b.example".into()],
            }),
            ..desired()
        };
        assert_eq!(
            steps(&same, &function),
            vec![],
            "origin order does not matter"
        );

        let iam = FunctionUrl {
            auth_type: UrlAuth::AwsIam,
            cors_origins: vec!["https://a.example".into()],
        };
        let want = DesiredFunction {
            url: Some(iam.clone()),
            ..desired()
        };
        assert_eq!(
            steps(&want, &function),
            vec![Step::Url {
                action: UrlAction::Update(iam),
                permission: Some(UrlPermission::Revoke),
            }]
        );

        let mut lost = public_url();
        lost.public_permission = false;
        function.url = Some(lost);
        assert_eq!(
            steps(&same, &function),
            vec![Step::Url {
                action: UrlAction::Keep,
                permission: Some(UrlPermission::Allow),
            }]
        );
    }

    #[test]
    fn a_url_no_longer_wanted_is_deleted_with_its_permission() {
        let mut function = actual();
        function.url = Some(public_url());
        let steps = steps(&desired(), &function);
        assert_eq!(
            steps,
            vec![Step::Url {
                action: UrlAction::Delete,
                permission: Some(UrlPermission::Revoke),
            }]
        );
        assert_eq!(steps[0].change(), Change::UrlDeleted);
    }

    #[test]
    fn everything_at_once_comes_in_apply_order_with_one_function_update() {
        let want = DesiredFunction {
            tags: BTreeMap::from([("team".into(), "data".into())]),
            reserved_concurrency: Some(2),
            trigger: Some(trigger()),
            url: Some(FunctionUrl {
                auth_type: UrlAuth::AwsIam,
                cors_origins: Vec::new(),
            }),
            memory_mb: 512,
            sha256: Some(SHA_B.into()),
            ..desired()
        };
        let plan = run(&want, &actual()).unwrap();
        let kinds: Vec<&str> = plan
            .steps
            .iter()
            .chain(&plan.later)
            .map(|step| match step {
                Step::Create { .. } => "create",
                Step::Adopt { .. } => "adopt",
                Step::Tags { .. } => "tags",
                Step::Concurrency { .. } => "concurrency",
                Step::CreateMapping(_) | Step::UpdateMapping(_) | Step::DeleteMapping { .. } => {
                    "trigger"
                }
                Step::Url { .. } => "url",
                Step::UpdateCode { .. } => "code",
                Step::UpdateConfiguration(_) => "config",
            })
            .collect();
        assert_eq!(
            kinds,
            ["tags", "concurrency", "trigger", "url", "code", "config"]
        );
        assert_eq!(
            plan.later.len(),
            1,
            "configuration waits for the code update"
        );
    }

    #[test]
    fn validate_names_the_function_and_the_field() {
        let reserved = DesiredFunction {
            env: BTreeMap::from([("AWS_REGION".into(), "eu-west-1".into())]),
            ..desired()
        };
        let error = validate(&reserved, &Owner::test()).unwrap_err();
        assert!(error.is_terminal());
        assert_eq!(error.reason(), "InvalidFunctionSpec");
        assert_eq!(
            error.to_string(),
            "invalid function spec for `team-metrics-rollup`: env `AWS_REGION` is reserved by Lambda"
        );
        let wrapper = DesiredFunction {
            env: BTreeMap::from([
                ("AWS_LAMBDA_EXEC_WRAPPER".into(), "/opt/wrap".into()),
                ("TZ".into(), "Europe/Paris".into()),
            ]),
            ..desired()
        };
        assert!(validate(&wrapper, &Owner::test()).is_ok());

        let problems = [
            (
                DesiredFunction {
                    name: "a".repeat(65),
                    ..desired()
                },
                "must be 1 to 64 characters",
            ),
            (
                DesiredFunction {
                    memory_mb: 64,
                    ..desired()
                },
                "memory 64 MB must be 128 to 10240",
            ),
            (
                DesiredFunction {
                    timeout_seconds: 901,
                    ..desired()
                },
                "timeout 901 s must be 1 to 900",
            ),
            (
                DesiredFunction {
                    code: Code::Image {
                        uri: "repo:1".into(),
                    },
                    ..desired()
                },
                "an image function takes no runtime or handler",
            ),
            (
                DesiredFunction {
                    handler: None,
                    ..desired()
                },
                "a zip function needs a runtime and a handler",
            ),
            (
                DesiredFunction {
                    sha256: Some("ab".repeat(32)),
                    ..desired()
                },
                "must be base64",
            ),
            (
                DesiredFunction {
                    env: BTreeMap::from([("1X".into(), "y".into())]),
                    ..desired()
                },
                "env `1X` must start with a letter",
            ),
            (
                DesiredFunction {
                    tags: BTreeMap::from([("aws:x".into(), "y".into())]),
                    ..desired()
                },
                "reserved by AWS",
            ),
            (
                DesiredFunction {
                    tags: (0..48).map(|i| (format!("k{i}"), "v".into())).collect(),
                    ..desired()
                },
                "51 tags",
            ),
            (
                DesiredFunction {
                    trigger: Some(StreamTrigger {
                        batch_size: Some(0),
                        ..trigger()
                    }),
                    ..desired()
                },
                "trigger batch size 0 must be 1 to 10000",
            ),
            (
                DesiredFunction {
                    trigger: Some(StreamTrigger {
                        stream_arn: "arn:aws:sqs:us-east-1:1:q".into(),
                        ..trigger()
                    }),
                    ..desired()
                },
                "not a DynamoDB stream ARN",
            ),
            (
                DesiredFunction {
                    role_arn: "rollup".into(),
                    ..desired()
                },
                "must be an IAM role ARN",
            ),
        ];
        for (spec, text) in problems {
            let error = validate(&spec, &Owner::test()).unwrap_err();
            assert!(error.to_string().contains(text), "{error} lacks {text}");
        }
        assert!(validate(&desired(), &Owner::test()).is_ok());
    }
}
