//! What Lambda would refuse in a function's spec, checked before any call so the
//! message names the function and the field (specs that bypassed the CRD's rules).

use super::{Code, DesiredFunction, Error, Owner};

const MAX_ENV_BYTES: usize = 4096;
const MAX_FILTERS: usize = 5;

/// Names Lambda sets itself and refuses in a function's environment. `TZ` is listed
/// as reserved in AWS's docs but accepted by the API, and `AWS_LAMBDA_EXEC_WRAPPER`,
/// `AWS_XRAY_*` may be set, so this is a list rather than a prefix rule.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Checks a spec for what Lambda would refuse, so the user reads a message naming the
/// function and the field instead of an AWS error code.
pub fn validate(desired: &DesiredFunction, owner: &Owner) -> Result<(), Error> {
    let invalid = |problem: String| Error::InvalidSpec {
        function: desired.name.clone(),
        problem,
        source: None,
    };
    let name = &desired.name;
    if !(1..=64).contains(&name.len())
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(invalid(format!(
            "name `{name}` must be 1 to 64 characters of a-z, A-Z, 0-9, `-` and `_`"
        )));
    }
    if !(128..=10240).contains(&desired.memory_mb) {
        return Err(invalid(format!(
            "memory {} MB must be 128 to 10240",
            desired.memory_mb
        )));
    }
    if !(1..=900).contains(&desired.timeout_seconds) {
        return Err(invalid(format!(
            "timeout {} s must be 1 to 900",
            desired.timeout_seconds
        )));
    }
    match &desired.code {
        Code::S3 { bucket, key, .. } => {
            if bucket.is_empty() || key.is_empty() {
                return Err(invalid("code needs an S3 bucket and key".to_owned()));
            }
            if desired.runtime.is_none() || desired.handler.is_none() {
                return Err(invalid(
                    "a zip function needs a runtime and a handler".to_owned(),
                ));
            }
        }
        Code::Image { uri } => {
            if uri.is_empty() {
                return Err(invalid("code needs an image URI".to_owned()));
            }
            if desired.runtime.is_some() || desired.handler.is_some() {
                return Err(invalid(
                    "an image function takes no runtime or handler (the image sets them)"
                        .to_owned(),
                ));
            }
        }
    }
    if let Some(sha256) = &desired.sha256
        && (sha256.len() != 44 || !sha256.ends_with('='))
    {
        return Err(invalid(format!(
            "sha256 `{sha256}` must be base64, as Lambda reports CodeSha256 \
             (`openssl dgst -sha256 -binary code.zip | base64`), not hex"
        )));
    }
    if !desired.role_arn.starts_with("arn:") || !desired.role_arn.contains(":role/") {
        return Err(invalid(format!(
            "role `{}` must be an IAM role ARN",
            desired.role_arn
        )));
    }
    let mut env_bytes = 0;
    for (key, value) in &desired.env {
        let mut chars = key.chars();
        let well_formed = key.len() >= 2
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if RESERVED_ENV.contains(&key.as_str()) {
            return Err(invalid(format!("env `{key}` is reserved by Lambda")));
        }
        if !well_formed {
            return Err(invalid(format!(
                "env `{key}` must start with a letter and hold only letters, digits and `_`"
            )));
        }
        env_bytes += key.len() + value.len();
    }
    if env_bytes > MAX_ENV_BYTES {
        return Err(invalid(format!(
            "env holds {env_bytes} bytes; Lambda allows at most {MAX_ENV_BYTES}"
        )));
    }
    if let Some(concurrency) = desired.reserved_concurrency
        && concurrency < 0
    {
        return Err(invalid(format!(
            "reserved concurrency {concurrency} must be 0 or more"
        )));
    }
    if let Some(trigger) = &desired.trigger {
        if !trigger.stream_arn.contains(":dynamodb:") || !trigger.stream_arn.contains("/stream/") {
            return Err(invalid(format!(
                "trigger stream `{}` is not a DynamoDB stream ARN",
                trigger.stream_arn
            )));
        }
        if let Some(size) = trigger.batch_size
            && !(1..=10000).contains(&size)
        {
            return Err(invalid(format!(
                "trigger batch size {size} must be 1 to 10000"
            )));
        }
        if let Some(window) = trigger.maximum_batching_window_seconds
            && !(0..=300).contains(&window)
        {
            return Err(invalid(format!(
                "trigger batching window {window} s must be 0 to 300"
            )));
        }
        if let Some(retries) = trigger.maximum_retry_attempts
            && !(-1..=10000).contains(&retries)
        {
            return Err(invalid(format!(
                "trigger retry attempts {retries} must be -1 (until expiry) to 10000"
            )));
        }
        if trigger.filter_patterns.len() > MAX_FILTERS {
            return Err(invalid(format!(
                "trigger has {} filter patterns; Lambda allows {MAX_FILTERS}",
                trigger.filter_patterns.len()
            )));
        }
    }
    if let Some(url) = &desired.url
        && url.cors_origins.iter().any(String::is_empty)
    {
        return Err(invalid("url CORS origins must not be empty".to_owned()));
    }
    crate::tags::validate(&desired.tags, owner, "Lambda").map_err(invalid)?;
    Ok(())
}
