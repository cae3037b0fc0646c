//! One reconcile pass over a function: describe it (and the code object), let the pure
//! `plan` decide, send the planned steps in order, and report where it stands. Every
//! decision is the plan's; this file only turns steps into calls.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::types::{
    Architecture as SdkArchitecture, Cors, Environment, EventSourcePosition, Filter,
    FilterCriteria, FunctionCode, FunctionResponseType, FunctionUrlAuthType, PackageType, Runtime,
};

use super::actual::ActualFunction;
use super::describe::{PUBLIC_URL_STATEMENTS, Read, code_object, describe, get_function};
use super::plan::{
    ConfigurationUpdate, MappingUpdate, Step, UrlAction, UrlPermission, check_deployed_code,
    fingerprint, plan,
};
use super::validate::validate;
use super::{
    Architecture, Code, DesiredFunction, Error, FunctionRecord, FunctionReport, FunctionUrl,
    MappingReport, Owner, StreamTrigger, UrlAuth,
};
use crate::fingerprint::one_read_or_full;
use crate::sdk::if_found;

/// What Lambda answered a write of the function with. CreateFunction,
/// UpdateFunctionCode and UpdateFunctionConfiguration answer with the same fields, in
/// three output types.
macro_rules! sent_function {
    ($output:expr) => {{
        let output = $output;
        Sent::Function {
            arn: output.function_arn().map(str::to_owned),
            state: output.state().map(|s| s.as_str().to_owned()),
            last_update_status: output.last_update_status().map(|s| s.as_str().to_owned()),
            code_sha256: output.code_sha256().map(str::to_owned),
        }
    }};
}

/// Brings the function one pass closer to `desired` and reports where it stands.
///
/// Creates the function when absent. An existing function must carry `owner`'s uid
/// tag, or have no owner tag and `adopt` set (it is then tagged as ours); any other is a
/// terminal [`Error::Conflict`] and is not touched. While Lambda is busy nothing is
/// changed; at most one code or configuration update is sent per pass. `recorded` is
/// what the controller kept from earlier reports ([`FunctionReport::code_source`],
/// `code_sha256` and `managed_tags`); it must store the new report's values.
/// `settled` is true only when nothing was changed and nothing is in progress.
pub async fn reconcile(
    lambda: &aws_sdk_lambda::Client,
    s3: &aws_sdk_s3::Client,
    desired: &DesiredFunction,
    owner: &Owner,
    adopt: bool,
    recorded: &FunctionRecord,
) -> Result<FunctionReport, Error> {
    let (actual, plan) = read_and_plan(lambda, s3, desired, owner, adopt, recorded).await?;
    let mut report = initial_report(desired, actual.as_ref(), &plan);
    let mut changes = Vec::new();
    for step in &plan.steps {
        let sent = send(lambda, desired, actual.as_ref(), step)
            .await
            .map_err(|e| e.after(&changes))?;
        changes.push(step.change());
        match sent {
            Sent::Nothing => {}
            Sent::Function {
                arn,
                state,
                last_update_status,
                code_sha256,
            } => {
                report.arn = arn.or(report.arn);
                report.state = state;
                report.last_update_status = last_update_status;
                report.code_sha256 = code_sha256;
                if matches!(step, Step::Create { .. } | Step::UpdateCode { .. }) {
                    // The pin is checked against what Lambda runs, once it is deployed.
                    check_deployed_code(desired, report.code_sha256.as_deref())
                        .map_err(|e| e.after(&changes))?;
                }
            }
            Sent::Mapping(mapping) => report.mapping = Some(mapping),
            Sent::MappingGone(uuid) => {
                if report.mapping.as_ref().is_some_and(|m| m.uuid == uuid) {
                    report.mapping = None;
                }
            }
            Sent::Url(url) => report.url = url,
        }
        tracing::info!(function = %desired.name, change = %step.change(), "function changed");
    }
    if !plan.waiting.is_empty() {
        tracing::debug!(function = %desired.name, waiting = ?plan.waiting, "function not settled");
    }
    report.settled = plan.is_settled();
    report.fingerprint = actual
        .as_ref()
        .filter(|_| report.settled)
        .map(|actual| fingerprint(desired, owner, adopt, recorded, actual));
    report.changes = changes;
    Ok(report)
}

/// What [`reconcile`] would do now, without doing it: the same reads and the same pure
/// plan, and no write. `metricsapp-operator plan` shows it.
pub async fn preview(
    lambda: &aws_sdk_lambda::Client,
    s3: &aws_sdk_s3::Client,
    desired: &DesiredFunction,
    owner: &Owner,
    adopt: bool,
    recorded: &FunctionRecord,
) -> Result<super::Plan, Error> {
    read_and_plan(lambda, s3, desired, owner, adopt, recorded)
        .await
        .map(|(_, plan)| plan)
}

/// The reads of a full pass (the function, its code object) and the plan made of them.
async fn read_and_plan(
    lambda: &aws_sdk_lambda::Client,
    s3: &aws_sdk_s3::Client,
    desired: &DesiredFunction,
    owner: &Owner,
    adopt: bool,
    recorded: &FunctionRecord,
) -> Result<(Option<ActualFunction>, super::Plan), Error> {
    validate(desired, owner)?;
    let (actual, object) = tokio::try_join!(
        describe(lambda, &desired.name, Read::Everything),
        code_object(s3, &desired.name, &desired.code),
    )?;
    let plan = plan(
        desired,
        actual.as_ref(),
        object.as_ref(),
        recorded,
        owner,
        adopt,
    )?;
    Ok((actual, plan))
}

/// Like [`reconcile`], but first checks with GetFunction alone whether anything it
/// returns (configuration, code sha256, state, tags, concurrency), or the spec, the
/// owner or the record, changed since `last` (a settled report of this function,
/// carrying its [`FunctionReport::fingerprint`]). Nothing changed: `last` again, after
/// one read. Otherwise, or without a fingerprint, a full pass. The stream trigger, the
/// URL and a new object under the spec's S3 key are not read by the check: the
/// controller runs a full pass on its own period for them.
pub async fn reconcile_since(
    lambda: &aws_sdk_lambda::Client,
    s3: &aws_sdk_s3::Client,
    desired: &DesiredFunction,
    owner: &Owner,
    adopt: bool,
    recorded: &FunctionRecord,
    last: &FunctionReport,
) -> Result<FunctionReport, Error> {
    let read = || async {
        validate(desired, owner)?;
        let actual = get_function(lambda, &desired.name).await?;
        Ok(actual.map(|actual| fingerprint(desired, owner, adopt, recorded, &actual)))
    };
    let full = || reconcile(lambda, s3, desired, owner, adopt, recorded);
    one_read_or_full(last, last.fingerprint, read, full).await
}

/// The report before any step: what AWS described, and the plan's record values.
fn initial_report(
    desired: &DesiredFunction,
    actual: Option<&ActualFunction>,
    plan: &super::Plan,
) -> FunctionReport {
    let mapping = actual.and_then(|function| {
        let trigger = desired.trigger.as_ref()?;
        super::plan::kept_mapping(trigger, &function.mappings).map(|m| MappingReport {
            uuid: m.uuid.clone(),
            state: m.state.clone(),
        })
    });
    FunctionReport {
        name: desired.name.clone(),
        arn: actual.and_then(|f| f.arn.clone()),
        state: actual.map(|f| f.state.as_str().to_owned()),
        last_update_status: actual.and_then(|f| f.last_update.as_str().map(str::to_owned)),
        code_sha256: actual.and_then(|f| f.code_sha256.clone()),
        code_source: plan.code_source.clone(),
        managed_tags: plan.managed_tags.clone(),
        mapping,
        url: actual.and_then(|f| f.url.as_ref().map(|u| u.url.clone())),
        changes: Vec::new(),
        settled: false,
        waiting: plan.waiting.clone(),
        fingerprint: None,
    }
}

/// What a sent step tells about the function afterwards.
enum Sent {
    Nothing,
    /// CreateFunction / UpdateFunctionCode / UpdateFunctionConfiguration answer with
    /// the function's configuration.
    Function {
        arn: Option<String>,
        state: Option<String>,
        last_update_status: Option<String>,
        code_sha256: Option<String>,
    },
    /// The stream trigger as created or updated.
    Mapping(MappingReport),
    /// The mapping with this uuid was deleted.
    MappingGone(String),
    /// The function URL now (`None` once deleted).
    Url(Option<String>),
}

/// Sends one step.
async fn send(
    client: &aws_sdk_lambda::Client,
    desired: &DesiredFunction,
    actual: Option<&ActualFunction>,
    step: &Step,
) -> Result<Sent, Error> {
    let name = desired.name.as_str();
    match step {
        Step::Create { tags } => create(client, desired, tags).await,
        Step::Adopt { tags } => {
            tag(client, name, arn(name, actual)?, tags).await?;
            Ok(Sent::Nothing)
        }
        Step::Tags { set, removed } => {
            let arn = arn(name, actual)?;
            if !set.is_empty() {
                tag(client, name, arn, set).await?;
            }
            if !removed.is_empty() {
                client
                    .untag_resource()
                    .resource(arn)
                    .set_tag_keys(Some(removed.clone()))
                    .send()
                    .await
                    .map_err(|e| Error::from_sdk("UntagResource", name, e))?;
            }
            Ok(Sent::Nothing)
        }
        Step::Concurrency { to: Some(to) } => {
            client
                .put_function_concurrency()
                .function_name(name)
                .reserved_concurrent_executions(*to)
                .send()
                .await
                .map_err(|e| Error::from_sdk("PutFunctionConcurrency", name, e))?;
            Ok(Sent::Nothing)
        }
        Step::Concurrency { to: None } => {
            client
                .delete_function_concurrency()
                .function_name(name)
                .send()
                .await
                .map_err(|e| Error::from_sdk("DeleteFunctionConcurrency", name, e))?;
            Ok(Sent::Nothing)
        }
        Step::CreateMapping(trigger) => create_mapping(client, name, trigger).await,
        Step::UpdateMapping(update) => update_mapping(client, name, update).await,
        Step::DeleteMapping { uuid } => {
            // Not found: deleted by someone else meanwhile, the outcome wanted.
            if_found(client.delete_event_source_mapping().uuid(uuid).send().await)
                .map_err(|e| Error::from_sdk("DeleteEventSourceMapping", name, e))?;
            Ok(Sent::MappingGone(uuid.clone()))
        }
        Step::Url { action, permission } => url(client, name, action, *permission).await,
        Step::UpdateCode {
            code, architecture, ..
        } => {
            let request = client
                .update_function_code()
                .function_name(name)
                .architectures(sdk_architecture(*architecture));
            let request = match code {
                Code::S3 {
                    bucket,
                    key,
                    object_version,
                } => request
                    .s3_bucket(bucket)
                    .s3_key(key)
                    .set_s3_object_version(object_version.clone()),
                Code::Image { uri } => request.image_uri(uri),
            };
            let output = request
                .send()
                .await
                .map_err(|e| Error::from_sdk("UpdateFunctionCode", name, e))?;
            Ok(sent_function!(output))
        }
        Step::UpdateConfiguration(update) => update_configuration(client, name, update).await,
    }
}

async fn create(
    client: &aws_sdk_lambda::Client,
    desired: &DesiredFunction,
    tags: &BTreeMap<String, String>,
) -> Result<Sent, Error> {
    let name = desired.name.as_str();
    let (code, package_type) = match &desired.code {
        Code::S3 {
            bucket,
            key,
            object_version,
        } => (
            FunctionCode::builder()
                .s3_bucket(bucket)
                .s3_key(key)
                .set_s3_object_version(object_version.clone())
                .build(),
            PackageType::Zip,
        ),
        Code::Image { uri } => (
            FunctionCode::builder().image_uri(uri).build(),
            PackageType::Image,
        ),
    };
    let output = client
        .create_function()
        .function_name(name)
        .role(&desired.role_arn)
        .code(code)
        .package_type(package_type)
        .set_runtime(desired.runtime.as_deref().map(Runtime::from))
        .set_handler(desired.handler.clone())
        .architectures(sdk_architecture(desired.architecture))
        .memory_size(desired.memory_mb)
        .timeout(desired.timeout_seconds)
        .environment(environment(&desired.env))
        .set_tags(Some(hash_map(tags)))
        .send()
        .await
        .map_err(|e| Error::from_sdk("CreateFunction", name, e))?;
    tracing::info!(function = %name, "function created");
    Ok(sent_function!(output))
}

async fn update_configuration(
    client: &aws_sdk_lambda::Client,
    name: &str,
    update: &ConfigurationUpdate,
) -> Result<Sent, Error> {
    let output = client
        .update_function_configuration()
        .function_name(name)
        .set_memory_size(update.memory_mb)
        .set_timeout(update.timeout_seconds)
        .set_environment(update.env.as_ref().map(environment))
        .set_role(update.role_arn.clone())
        .set_runtime(update.runtime.as_deref().map(Runtime::from))
        .set_handler(update.handler.clone())
        .send()
        .await
        .map_err(|e| Error::from_sdk("UpdateFunctionConfiguration", name, e))?;
    Ok(sent_function!(output))
}

async fn create_mapping(
    client: &aws_sdk_lambda::Client,
    name: &str,
    trigger: &StreamTrigger,
) -> Result<Sent, Error> {
    let output = client
        .create_event_source_mapping()
        .function_name(name)
        .event_source_arn(&trigger.stream_arn)
        .starting_position(EventSourcePosition::from(
            trigger.starting_position.as_str(),
        ))
        .set_batch_size(trigger.batch_size)
        .set_maximum_batching_window_in_seconds(trigger.maximum_batching_window_seconds)
        .set_maximum_retry_attempts(trigger.maximum_retry_attempts)
        .bisect_batch_on_function_error(trigger.bisect_batch_on_function_error)
        .set_filter_criteria(
            (!trigger.filter_patterns.is_empty())
                .then(|| filter_criteria(&trigger.filter_patterns)),
        )
        // Lets the function report the records that failed instead of failing the
        // batch, so one bad record does not block the shard.
        .function_response_types(FunctionResponseType::ReportBatchItemFailures)
        .send()
        .await
        .map_err(|e| Error::from_sdk("CreateEventSourceMapping", name, e))?;
    let uuid = output.uuid().ok_or_else(|| Error::UnexpectedResponse {
        operation: "CreateEventSourceMapping",
        function: name.to_owned(),
        missing: "the mapping UUID",
    })?;
    Ok(Sent::Mapping(MappingReport {
        uuid: uuid.to_owned(),
        state: output.state().unwrap_or("Creating").to_owned(),
    }))
}

async fn update_mapping(
    client: &aws_sdk_lambda::Client,
    name: &str,
    update: &MappingUpdate,
) -> Result<Sent, Error> {
    let output = client
        .update_event_source_mapping()
        .uuid(&update.uuid)
        .set_batch_size(update.batch_size)
        .set_maximum_batching_window_in_seconds(update.maximum_batching_window_seconds)
        .set_maximum_retry_attempts(update.maximum_retry_attempts)
        .set_bisect_batch_on_function_error(update.bisect_batch_on_function_error)
        // An empty FilterCriteria is how Lambda is told to drop all filters.
        .set_filter_criteria(update.filter_patterns.as_deref().map(filter_criteria))
        .set_function_response_types(
            update
                .report_batch_item_failures
                .then(|| vec![FunctionResponseType::ReportBatchItemFailures]),
        )
        .set_enabled(update.enable.then_some(true))
        .send()
        .await
        .map_err(|e| Error::from_sdk("UpdateEventSourceMapping", name, e))?;
    Ok(Sent::Mapping(MappingReport {
        uuid: output.uuid().unwrap_or(&update.uuid).to_owned(),
        state: output.state().unwrap_or("Updating").to_owned(),
    }))
}

async fn url(
    client: &aws_sdk_lambda::Client,
    name: &str,
    action: &UrlAction,
    permission: Option<UrlPermission>,
) -> Result<Sent, Error> {
    let sent = match action {
        UrlAction::Create(url) => {
            let output = client
                .create_function_url_config()
                .function_name(name)
                .auth_type(auth_type(url.auth_type))
                .set_cors(cors(url))
                .send()
                .await
                .map_err(|e| Error::from_sdk("CreateFunctionUrlConfig", name, e))?;
            Sent::Url(Some(output.function_url().to_owned()))
        }
        UrlAction::Update(url) => {
            let output = client
                .update_function_url_config()
                .function_name(name)
                .auth_type(auth_type(url.auth_type))
                // Lambda keeps the old CORS when none is sent: send an empty one.
                .cors(cors(url).unwrap_or_else(|| Cors::builder().build()))
                .send()
                .await
                .map_err(|e| Error::from_sdk("UpdateFunctionUrlConfig", name, e))?;
            Sent::Url(Some(output.function_url().to_owned()))
        }
        UrlAction::Delete => {
            if_found(
                client
                    .delete_function_url_config()
                    .function_name(name)
                    .send()
                    .await,
            )
            .map_err(|e| Error::from_sdk("DeleteFunctionUrlConfig", name, e))?;
            Sent::Url(None)
        }
        UrlAction::Keep => Sent::Nothing,
    };
    match permission {
        None => {}
        Some(UrlPermission::Allow) => {
            let [url_sid, invoke_sid] = PUBLIC_URL_STATEMENTS;
            let statements = [
                client
                    .add_permission()
                    .statement_id(url_sid)
                    .action("lambda:InvokeFunctionUrl")
                    .function_url_auth_type(FunctionUrlAuthType::None),
                client
                    .add_permission()
                    .statement_id(invoke_sid)
                    .action("lambda:InvokeFunction")
                    .invoked_via_function_url(true),
            ];
            for statement in statements {
                match statement.function_name(name).principal("*").send().await {
                    Ok(_) => {}
                    // One of the two was there already (the plan asks for both when
                    // either is missing).
                    Err(SdkError::ServiceError(e))
                        if e.err().is_resource_conflict_exception()
                            && e.err()
                                .meta()
                                .message()
                                .is_some_and(|m| m.contains("already exists")) => {}
                    Err(e) => return Err(Error::from_sdk("AddPermission", name, e)),
                }
            }
        }
        Some(UrlPermission::Revoke) => {
            for sid in PUBLIC_URL_STATEMENTS {
                if_found(
                    client
                        .remove_permission()
                        .function_name(name)
                        .statement_id(sid)
                        .send()
                        .await,
                )
                .map_err(|e| Error::from_sdk("RemovePermission", name, e))?;
            }
        }
    }
    Ok(sent)
}

async fn tag(
    client: &aws_sdk_lambda::Client,
    name: &str,
    arn: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), Error> {
    client
        .tag_resource()
        .resource(arn)
        .set_tags(Some(hash_map(tags)))
        .send()
        .await
        .map_err(|e| Error::from_sdk("TagResource", name, e))?;
    Ok(())
}

fn arn<'a>(name: &str, actual: Option<&'a ActualFunction>) -> Result<&'a str, Error> {
    actual
        .and_then(|function| function.arn.as_deref())
        .ok_or_else(|| Error::UnexpectedResponse {
            operation: "GetFunction",
            function: name.to_owned(),
            missing: "the function ARN",
        })
}

fn environment(env: &BTreeMap<String, String>) -> Environment {
    // An empty map (not an absent one) is what clears the variables.
    Environment::builder()
        .set_variables(Some(hash_map(env)))
        .build()
}

fn filter_criteria(patterns: &[String]) -> FilterCriteria {
    FilterCriteria::builder()
        .set_filters((!patterns.is_empty()).then(|| {
            patterns
                .iter()
                .map(|pattern| Filter::builder().pattern(pattern).build())
                .collect()
        }))
        .build()
}

fn cors(url: &FunctionUrl) -> Option<Cors> {
    (!url.cors_origins.is_empty()).then(|| {
        Cors::builder()
            .set_allow_origins(Some(url.cors_origins.clone()))
            .build()
    })
}

fn auth_type(auth: UrlAuth) -> FunctionUrlAuthType {
    FunctionUrlAuthType::from(auth.as_str())
}

fn sdk_architecture(architecture: Architecture) -> SdkArchitecture {
    SdkArchitecture::from(architecture.as_str())
}

fn hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
