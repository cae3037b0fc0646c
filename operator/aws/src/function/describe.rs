//! Reads a function from AWS into an [`ActualFunction`]: GetFunction (configuration,
//! tags, reserved concurrency and code location in one call), then at once, as they do
//! not depend on each other, ListEventSourceMappings and, when asked,
//! GetFunctionUrlConfig and GetPolicy ([`get_function`] is the first read alone, for a
//! pass that only checks nothing changed). Separately, [`code_object`] asks S3 which
//! object the spec's bucket and key name now, because Lambda does not remember which
//! one it was deployed from.

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::types::{
    Architecture as SdkArchitecture, EventSourceMappingConfiguration, FunctionResponseType,
    FunctionUrlAuthType, LastUpdateStatus, PackageType, State,
};
use aws_sdk_s3::types::{ChecksumMode, ChecksumType};

use super::actual::{
    ActualFunction, ActualMapping, ActualUrl, CodeObject, FunctionState, UpdateStatus,
};
use super::{Architecture, Code, Error, UrlAuth};
use crate::sdk::if_found;

/// The statement ids of the resource-policy statements that make a NONE-auth URL
/// public: since October 2025 Lambda wants both `lambda:InvokeFunctionUrl` and
/// `lambda:InvokeFunction` (the latter only via the URL) granted for new URLs.
pub const PUBLIC_URL_STATEMENTS: [&str; 2] = [
    "metricsapp-public-function-url",
    "metricsapp-public-function-url-invoke",
];

/// Which parts of the function to read besides GetFunction and its stream mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Only what ownership and deletion need.
    FunctionAndMappings,
    /// Also the URL configuration and its permission, to compare with a spec.
    Everything,
}

/// The function named `name`, or `None` when it does not exist.
pub async fn describe(
    client: &aws_sdk_lambda::Client,
    name: &str,
    read: Read,
) -> Result<Option<ActualFunction>, Error> {
    let Some(mut function) = get_function(client, name).await? else {
        return Ok(None);
    };
    let everything = read == Read::Everything;
    let (mappings, url) = tokio::try_join!(mappings(client, name), async {
        if everything {
            url(client, name).await
        } else {
            Ok(None)
        }
    })?;
    function.mappings = mappings;
    function.url = url;
    Ok(Some(function))
}

/// What GetFunction alone tells of the function named `name` (mappings and URL left
/// unread), or `None` when it does not exist.
pub async fn get_function(
    client: &aws_sdk_lambda::Client,
    name: &str,
) -> Result<Option<ActualFunction>, Error> {
    if_found(client.get_function().function_name(name).send().await)
        .map_err(|e| Error::from_sdk("GetFunction", name, e))?
        .map(|output| from_output(name, &output))
        .transpose()
}

/// The parts of an [`ActualFunction`] that GetFunction tells; mappings and URL are
/// left empty for their own calls.
pub fn from_output(name: &str, output: &GetFunctionOutput) -> Result<ActualFunction, Error> {
    let config = output
        .configuration()
        .ok_or_else(|| Error::UnexpectedResponse {
            operation: "GetFunction",
            function: name.to_owned(),
            missing: "the function configuration",
        })?;
    let code = output.code();
    Ok(ActualFunction {
        name: config.function_name().unwrap_or(name).to_owned(),
        arn: config.function_arn().map(str::to_owned),
        state: match config.state() {
            Some(State::Active) => FunctionState::Active,
            Some(State::Pending) => FunctionState::Pending,
            Some(State::Inactive) => FunctionState::Inactive,
            Some(State::Failed) => FunctionState::Failed,
            // Lambda omitted State on functions created before states existed.
            None => FunctionState::Active,
            Some(other) => FunctionState::Unknown(other.as_str().to_owned()),
        },
        state_reason: config.state_reason().map(str::to_owned),
        last_update: match config.last_update_status() {
            None => UpdateStatus::None,
            Some(LastUpdateStatus::Successful) => UpdateStatus::Successful,
            Some(LastUpdateStatus::InProgress) => UpdateStatus::InProgress,
            Some(LastUpdateStatus::Failed) => UpdateStatus::Failed,
            Some(other) => UpdateStatus::Unknown(other.as_str().to_owned()),
        },
        last_update_reason: config.last_update_status_reason().map(str::to_owned),
        is_image: config.package_type() == Some(&PackageType::Image),
        code_sha256: config.code_sha256().map(str::to_owned),
        image_uri: code.and_then(|c| c.image_uri()).map(str::to_owned),
        resolved_image_uri: code.and_then(|c| c.resolved_image_uri()).map(str::to_owned),
        runtime: config.runtime().map(|r| r.as_str().to_owned()),
        handler: config.handler().map(str::to_owned),
        architecture: match config.architectures() {
            // Lambda reports no architecture for old functions: they are x86_64.
            [] | [SdkArchitecture::X8664] => Some(Architecture::X86_64),
            [SdkArchitecture::Arm64] => Some(Architecture::Arm64),
            _ => None,
        },
        memory_mb: config.memory_size(),
        timeout_seconds: config.timeout(),
        env: config
            .environment()
            .and_then(|env| env.variables())
            .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        role_arn: config.role().map(str::to_owned),
        reserved_concurrency: output
            .concurrency()
            .and_then(|c| c.reserved_concurrent_executions()),
        tags: output
            .tags()
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        mappings: Vec::new(),
        url: None,
    })
}

/// The function's DynamoDB stream mappings; other event sources are left out, as the
/// operator never manages them.
async fn mappings(
    client: &aws_sdk_lambda::Client,
    name: &str,
) -> Result<Vec<ActualMapping>, Error> {
    let mut mappings = Vec::new();
    let mut marker = None;
    loop {
        let output = client
            .list_event_source_mappings()
            .function_name(name)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| Error::from_sdk("ListEventSourceMappings", name, e))?;
        mappings.extend(output.event_source_mappings().iter().filter_map(mapping));
        match output.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => return Ok(mappings),
        }
    }
}

/// A DynamoDB stream mapping as plain data; `None` for other event sources.
pub fn mapping(config: &EventSourceMappingConfiguration) -> Option<ActualMapping> {
    let stream_arn = config.event_source_arn()?;
    if !stream_arn.contains(":dynamodb:") || !stream_arn.contains("/stream/") {
        return None;
    }
    Some(ActualMapping {
        uuid: config.uuid()?.to_owned(),
        stream_arn: stream_arn.to_owned(),
        state: config.state().unwrap_or("Unknown").to_owned(),
        batch_size: config.batch_size(),
        maximum_batching_window_seconds: config.maximum_batching_window_in_seconds(),
        maximum_retry_attempts: config.maximum_retry_attempts(),
        bisect_batch_on_function_error: config.bisect_batch_on_function_error(),
        filter_patterns: config
            .filter_criteria()
            .map(|criteria| {
                criteria
                    .filters()
                    .iter()
                    .filter_map(|filter| filter.pattern().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        report_batch_item_failures: config
            .function_response_types()
            .contains(&FunctionResponseType::ReportBatchItemFailures),
    })
}

async fn url(client: &aws_sdk_lambda::Client, name: &str) -> Result<Option<ActualUrl>, Error> {
    let (config, policy) = tokio::join!(
        client.get_function_url_config().function_name(name).send(),
        client.get_policy().function_name(name).send(),
    );
    let Some(config) =
        if_found(config).map_err(|e| Error::from_sdk("GetFunctionUrlConfig", name, e))?
    else {
        return Ok(None);
    };
    // Not found: a function without any resource policy.
    let policy = if_found(policy)
        .map_err(|e| Error::from_sdk("GetPolicy", name, e))?
        .and_then(|output| output.policy().map(str::to_owned));
    Ok(Some(ActualUrl {
        url: config.function_url().to_owned(),
        auth_type: match config.auth_type() {
            FunctionUrlAuthType::AwsIam => Some(UrlAuth::AwsIam),
            FunctionUrlAuthType::None => Some(UrlAuth::None),
            _ => None,
        },
        cors_origins: config
            .cors()
            .map(|cors| cors.allow_origins().to_vec())
            .unwrap_or_default(),
        public_permission: policy.as_deref().is_some_and(has_public_statement),
    }))
}

/// True when the policy JSON holds both of the operator's public-URL statements.
/// Statement ids are unique within a policy, so finding the quoted ids is enough.
pub fn has_public_statement(policy: &str) -> bool {
    PUBLIC_URL_STATEMENTS
        .iter()
        .all(|sid| policy.contains(&format!("\"{sid}\"")))
}

/// The S3 object `code` names now (`None` for images). A missing object is
/// [`Error::CodeNotFound`], which the controller retries.
pub async fn code_object(
    client: &aws_sdk_s3::Client,
    function: &str,
    code: &Code,
) -> Result<Option<CodeObject>, Error> {
    let Code::S3 {
        bucket,
        key,
        object_version,
    } = code
    else {
        return Ok(None);
    };
    let output = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(object_version.clone())
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await;
    let output = match output {
        Ok(output) => output,
        Err(SdkError::ServiceError(e)) if e.err().is_not_found() => {
            return Err(Error::CodeNotFound {
                function: function.to_owned(),
                location: code.location(),
                detail: "HeadObject: no such bucket, key or version".to_owned(),
                source: Some(Box::new(SdkError::ServiceError(e))),
            });
        }
        Err(e) => return Err(Error::from_sdk("HeadObject", function, e)),
    };
    let source = match (output.version_id(), output.e_tag()) {
        // S3 reports version `null` for objects written before versioning was enabled.
        (Some(version), _) if version != "null" => format!("version:{version}"),
        (_, Some(etag)) => format!("etag:{}", etag.trim_matches('"')),
        _ => {
            return Err(Error::UnexpectedResponse {
                operation: "HeadObject",
                function: function.to_owned(),
                missing: "the object's version id or ETag",
            });
        }
    };
    // A multipart upload's checksum is of its parts ("…-3") unless it is full-object.
    let sha256 = output
        .checksum_sha256()
        .filter(|sha| {
            !sha.contains('-') && output.checksum_type() != Some(&ChecksumType::Composite)
        })
        .map(str::to_owned);
    Ok(Some(CodeObject { source, sha256 }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_lambda::types::{
        Concurrency, EnvironmentResponse, Filter, FilterCriteria, FunctionCodeLocation,
        FunctionConfiguration,
    };

    use super::*;

    fn output(config: FunctionConfiguration) -> GetFunctionOutput {
        GetFunctionOutput::builder()
            .configuration(config)
            .tags("metricsapp.dev/uid", "uid-1")
            .concurrency(
                Concurrency::builder()
                    .reserved_concurrent_executions(5)
                    .build(),
            )
            .build()
    }

    #[test]
    fn get_function_is_read_into_plain_data() {
        let config = FunctionConfiguration::builder()
            .function_name("f")
            .function_arn("arn:aws:lambda:us-east-1:123456789012:function:f")
            .state(State::Pending)
            .state_reason("creating")
            .last_update_status(LastUpdateStatus::InProgress)
            .code_sha256("abc=")
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .architectures(SdkArchitecture::Arm64)
            .memory_size(256)
            .timeout(30)
            .environment(
                EnvironmentResponse::builder()
                    .set_variables(Some(HashMap::from([("TABLE".into(), "t".into())])))
                    .build(),
            )
            .role("arn:aws:iam::123456789012:role/r")
            .build();
        let function = from_output("f", &output(config)).unwrap();
        assert_eq!(function.state, FunctionState::Pending);
        assert_eq!(function.last_update, UpdateStatus::InProgress);
        assert_eq!(function.runtime.as_deref(), Some("provided.al2023"));
        assert_eq!(function.architecture, Some(Architecture::Arm64));
        assert_eq!(function.env["TABLE"], "t");
        assert_eq!(function.reserved_concurrency, Some(5));
        assert_eq!(function.tags["metricsapp.dev/uid"], "uid-1");
        assert!(!function.is_image);
        assert!(!function.takes_updates());
    }

    #[test]
    fn an_old_function_without_state_or_architecture_is_active_x86() {
        let config = FunctionConfiguration::builder().function_name("f").build();
        let function = from_output("f", &output(config)).unwrap();
        assert_eq!(function.state, FunctionState::Active);
        assert_eq!(function.last_update, UpdateStatus::None);
        assert_eq!(function.architecture, Some(Architecture::X86_64));
        assert!(function.takes_updates());
    }

    #[test]
    fn image_code_location_is_read() {
        let config = FunctionConfiguration::builder()
            .function_name("f")
            .package_type(PackageType::Image)
            .build();
        let output = GetFunctionOutput::builder()
            .configuration(config)
            .code(
                FunctionCodeLocation::builder()
                    .image_uri("repo:1")
                    .resolved_image_uri("repo@sha256:abc")
                    .build(),
            )
            .build();
        let function = from_output("f", &output).unwrap();
        assert!(function.is_image);
        assert_eq!(function.image_uri.as_deref(), Some("repo:1"));
        assert_eq!(
            function.resolved_image_uri.as_deref(),
            Some("repo@sha256:abc")
        );
    }

    #[test]
    fn only_dynamodb_stream_mappings_are_read() {
        let stream = "arn:aws:dynamodb:us-east-1:1:table/t/stream/2026";
        let ddb = EventSourceMappingConfiguration::builder()
            .uuid("u1")
            .event_source_arn(stream)
            .state("Enabled")
            .batch_size(10)
            .filter_criteria(
                FilterCriteria::builder()
                    .filters(Filter::builder().pattern("{}").build())
                    .build(),
            )
            .function_response_types(FunctionResponseType::ReportBatchItemFailures)
            .build();
        let read = mapping(&ddb).unwrap();
        assert_eq!(read.stream_arn, stream);
        assert_eq!(read.filter_patterns, vec!["{}".to_owned()]);
        assert!(read.report_batch_item_failures);
        assert!(read.is_stable());
        let sqs = EventSourceMappingConfiguration::builder()
            .uuid("u2")
            .event_source_arn("arn:aws:sqs:us-east-1:1:q")
            .build();
        assert_eq!(mapping(&sqs), None);
    }

    #[test]
    fn both_public_statements_are_found_with_or_without_spaces() {
        assert!(has_public_statement(
            r#"{"Statement":[{"Sid":"metricsapp-public-function-url","Effect":"Allow"},{"Sid":"metricsapp-public-function-url-invoke"}]}"#
        ));
        assert!(has_public_statement(
            r#"{"Statement": [{"Sid": "metricsapp-public-function-url-invoke"}, {"Sid": "metricsapp-public-function-url"}]}"#
        ));
        assert!(
            !has_public_statement(
                r#"{"Statement":[{"Sid":"metricsapp-public-function-url-invoke"}]}"#
            ),
            "the InvokeFunctionUrl statement is missing"
        );
    }
}
