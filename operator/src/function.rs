//! A MetricsApp's Lambda functions in the plain terms of `metricsapp-aws`: each entry of
//! `spec.functions` becomes a [`DesiredFunction`]. Pure.

use std::collections::BTreeMap;

use kube::ResourceExt;
use metricsapp_aws::function::{
    Architecture, Code, DesiredFunction, FunctionRecord, FunctionUrl, StartingPosition,
    StreamTrigger, UrlAuth,
};
use metricsapp_aws::table::DeletionPolicy;

use crate::crd::{
    self, FunctionArchitecture, FunctionDeletionPolicy, FunctionSpec, FunctionStatus, MetricsApp,
    UrlAuthType,
};
use crate::{Error, Result};

/// Environment variable naming the app's table, set on every function.
pub const TABLE_ENV: &str = "METRICS_APP_TABLE";
/// Environment variable naming the table's TTL attribute, set when the table has one
/// (the rollup function's own bookkeeping items expire through it).
pub const TTL_ENV: &str = "METRICS_APP_TTL_ATTRIBUTE";

/// Lambda's limit on function names.
const MAX_NAME: usize = 64;

/// The function as the spec asks for it, or why it cannot be built yet.
#[derive(Debug, Clone, PartialEq)]
pub enum Build {
    Ready(Box<DesiredFunction>),
    /// Something the function needs does not exist yet (the table's stream).
    Waiting(String),
}

/// The AWS name: the one recorded in the status, else `prefix` + `functionName`, or
/// `prefix` + `<namespace>-<app>-<name>`, which must fit in 64 characters (the CRD
/// cannot check it fully: CEL sees neither the namespace nor the prefix).
pub fn function_name(app: &MetricsApp, spec: &FunctionSpec, prefix: &str) -> Result<String> {
    let recorded = app
        .status
        .iter()
        .flat_map(|status| &status.functions)
        .find(|function| function.name == spec.name && function.arn.is_some());
    if let Some(recorded) = recorded {
        return Ok(recorded.function_name.clone());
    }
    let name = match &spec.function_name {
        Some(name) => format!("{prefix}{name}"),
        None => {
            let namespace = app
                .namespace()
                .ok_or(Error::MissingMetadata("metadata.namespace"))?;
            format!("{prefix}{namespace}-{}-{}", app.name_any(), spec.name)
        }
    };
    if name.len() > MAX_NAME {
        return Err(Error::InvalidSpec(format!(
            "functions[{}].name: the AWS function name `{name}` is {} characters, Lambda allows {MAX_NAME}; shorten the name or set functions[{}].functionName",
            spec.name,
            name.len(),
            spec.name
        )));
    }
    Ok(name)
}

/// The function `spec` asks for. `table` is the app's table name, `stream_arn` its
/// stream when on (a table-stream trigger waits for it).
pub fn desired_function(
    app: &MetricsApp,
    spec: &FunctionSpec,
    table: &str,
    stream_arn: Option<&str>,
    prefix: &str,
) -> Result<Build> {
    let name = function_name(app, spec, prefix)?;
    let field = |what: &str| format!("functions[{}].{what}", spec.name);
    let code = match (&spec.code.s3, &spec.code.image_uri) {
        (Some(s3), None) => Code::S3 {
            bucket: s3.bucket.clone(),
            key: s3.key.clone(),
            object_version: s3.object_version.clone(),
        },
        (None, Some(uri)) => Code::Image { uri: uri.clone() },
        (Some(_), Some(_)) | (None, None) => {
            return Err(Error::InvalidSpec(format!(
                "{} needs exactly one of code.s3 and code.imageUri",
                field("code")
            )));
        }
    };
    let (runtime, handler) = match &code {
        Code::S3 { .. } => {
            let runtime = spec.runtime.unwrap_or(crd::FunctionRuntime::ProvidedAl2023);
            let handler = spec.handler.clone().unwrap_or_else(|| {
                if runtime.is_provided() {
                    "bootstrap".to_owned()
                } else {
                    "index.handler".to_owned()
                }
            });
            (Some(runtime.as_str().to_owned()), Some(handler))
        }
        Code::Image { .. } => {
            if spec.runtime.is_some() || spec.handler.is_some() {
                return Err(Error::InvalidSpec(format!(
                    "{} and {} are for zip code: an image brings its own",
                    field("runtime"),
                    field("handler")
                )));
            }
            (None, None)
        }
    };
    let trigger = match spec.trigger.as_ref().and_then(|t| t.table_stream.as_ref()) {
        None => None,
        Some(trigger) => {
            if app.spec.table.stream.is_none() {
                return Err(Error::InvalidSpec(format!(
                    "{} needs the table's stream: set table.stream",
                    field("trigger.tableStream")
                )));
            }
            let Some(stream_arn) = stream_arn else {
                return Ok(Build::Waiting("waiting for the table's stream".to_owned()));
            };
            Some(StreamTrigger {
                stream_arn: stream_arn.to_owned(),
                batch_size: trigger.batch_size,
                starting_position: match trigger.starting_position {
                    crd::StartingPosition::TrimHorizon => StartingPosition::TrimHorizon,
                    crd::StartingPosition::Latest => StartingPosition::Latest,
                },
                maximum_batching_window_seconds: trigger.maximum_batching_window_seconds,
                maximum_retry_attempts: trigger.maximum_retry_attempts,
                bisect_batch_on_function_error: trigger.bisect_batch_on_function_error,
                filter_patterns: trigger.filter_patterns.clone(),
            })
        }
    };
    let mut env: BTreeMap<String, String> = spec.env.clone();
    env.insert(TABLE_ENV.to_owned(), table.to_owned());
    if let Some(attribute) = &app.spec.table.ttl_attribute {
        env.insert(TTL_ENV.to_owned(), attribute.clone());
    }
    Ok(Build::Ready(Box::new(DesiredFunction {
        name,
        code,
        sha256: spec.code.sha256.clone(),
        runtime,
        handler,
        architecture: match spec.architecture {
            FunctionArchitecture::X86_64 => Architecture::X86_64,
            FunctionArchitecture::Arm64 => Architecture::Arm64,
        },
        memory_mb: spec.memory_mb,
        timeout_seconds: spec.timeout_seconds,
        env,
        role_arn: spec.role_arn.clone(),
        reserved_concurrency: spec.reserved_concurrency,
        tags: spec.tags.clone(),
        trigger,
        url: spec.url.as_ref().map(|url| FunctionUrl {
            auth_type: match url.auth_type {
                UrlAuthType::AwsIam => UrlAuth::AwsIam,
                UrlAuthType::None => UrlAuth::None,
            },
            cors_origins: url.cors_origins.clone(),
        }),
    })))
}

/// What the operator recorded about a function in its status.
pub fn recorded(previous: Option<&FunctionStatus>) -> FunctionRecord {
    FunctionRecord {
        code_source: previous.and_then(|p| p.code_source.clone()),
        code_sha256: previous.and_then(|p| p.code_sha256.clone()),
        managed_tags: previous
            .map(|p| p.managed_tags.iter().cloned().collect())
            .unwrap_or_default(),
    }
}

pub fn deletion_policy(policy: FunctionDeletionPolicy) -> DeletionPolicy {
    match policy {
        FunctionDeletionPolicy::Delete => DeletionPolicy::Delete,
        FunctionDeletionPolicy::Retain => DeletionPolicy::Retain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{FunctionCode, FunctionTrigger, S3Code, StreamViewType, TableStreamTrigger};
    use crate::fixtures::{MetricsAppExt, function_spec};

    fn ready(build: Build) -> DesiredFunction {
        match build {
            Build::Ready(desired) => *desired,
            Build::Waiting(why) => panic!("waiting: {why}"),
        }
    }

    #[test]
    fn a_zip_function_gets_the_default_name_runtime_handler_and_the_table() {
        let app = MetricsApp::test();
        let desired = ready(
            desired_function(&app, &function_spec("rollup"), "team-metrics", None, "").unwrap(),
        );
        assert_eq!(desired.name, "team-metrics-rollup");
        assert_eq!(desired.runtime.as_deref(), Some("provided.al2023"));
        assert_eq!(desired.handler.as_deref(), Some("bootstrap"));
        assert_eq!(desired.memory_mb, 128);
        assert_eq!(desired.timeout_seconds, 10);
        assert_eq!(desired.env[TABLE_ENV], "team-metrics");
        assert!(!desired.env.contains_key(TTL_ENV), "no TTL on the table");
        assert!(matches!(desired.code, Code::S3 { .. }));
        assert_eq!(desired.trigger, None);
    }

    #[test]
    fn the_tables_ttl_attribute_is_passed_on() {
        let mut app = MetricsApp::test();
        app.spec.table.ttl_attribute = Some("expiresAt".into());
        let desired =
            ready(desired_function(&app, &function_spec("rollup"), "t", None, "").unwrap());
        assert_eq!(desired.env[TTL_ENV], "expiresAt");
    }

    #[test]
    fn the_operators_table_variable_wins_over_the_spec() {
        let app = MetricsApp::test();
        let mut spec = function_spec("rollup");
        spec.env.insert(TABLE_ENV.into(), "someone-elses".into());
        spec.env.insert("RUST_LOG".into(), "debug".into());
        let desired = ready(desired_function(&app, &spec, "team-metrics", None, "").unwrap());
        assert_eq!(desired.env[TABLE_ENV], "team-metrics");
        assert_eq!(desired.env["RUST_LOG"], "debug");
    }

    #[test]
    fn a_name_too_long_for_lambda_is_refused_naming_the_field() {
        let mut app = MetricsApp::test();
        app.metadata.name = Some("a".repeat(40));
        let error = function_name(&app, &function_spec(&"b".repeat(30)), "")
            .unwrap_err()
            .to_string();
        assert!(error.contains("functionName"), "{error}");
        assert!(error.contains("64"), "{error}");
        let mut spec = function_spec(&"b".repeat(30));
        spec.function_name = Some("short".into());
        assert_eq!(function_name(&app, &spec, "").unwrap(), "short");
    }

    #[test]
    fn an_image_function_has_no_runtime_or_handler() {
        let app = MetricsApp::test();
        let mut spec = function_spec("form");
        spec.code = FunctionCode {
            s3: None,
            image_uri: Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/form@sha256:ab".into()),
            sha256: None,
        };
        let desired = ready(desired_function(&app, &spec, "t", None, "").unwrap());
        assert_eq!(desired.runtime, None);
        assert_eq!(desired.handler, None);
        spec.handler = Some("bootstrap".into());
        assert!(desired_function(&app, &spec, "t", None, "").is_err());
    }

    #[test]
    fn two_code_sources_are_refused() {
        let app = MetricsApp::test();
        let mut spec = function_spec("form");
        spec.code.image_uri = Some("image".into());
        let error = desired_function(&app, &spec, "t", None, "")
            .unwrap_err()
            .to_string();
        assert!(error.contains("functions[form].code"), "{error}");
    }

    #[test]
    fn a_stream_trigger_waits_for_the_stream_and_then_uses_its_arn() {
        let mut app = MetricsApp::test();
        let mut spec = function_spec("rollup");
        spec.trigger = Some(FunctionTrigger {
            table_stream: Some(TableStreamTrigger {
                batch_size: Some(50),
                starting_position: crd::StartingPosition::Latest,
                maximum_batching_window_seconds: Some(1),
                maximum_retry_attempts: Some(3),
                bisect_batch_on_function_error: true,
                filter_patterns: Vec::new(),
            }),
        });
        assert!(desired_function(&app, &spec, "t", Some("arn"), "").is_err());
        app.spec.table.stream = Some(StreamViewType::NewAndOldImages);
        assert!(matches!(
            desired_function(&app, &spec, "t", None, "").unwrap(),
            Build::Waiting(_)
        ));
        let desired = ready(desired_function(&app, &spec, "t", Some("arn:stream"), "").unwrap());
        let trigger = desired.trigger.unwrap();
        assert_eq!(trigger.stream_arn, "arn:stream");
        assert_eq!(trigger.batch_size, Some(50));
        assert_eq!(trigger.starting_position, StartingPosition::Latest);
        assert!(trigger.bisect_batch_on_function_error);
    }

    #[test]
    fn s3_code_carries_bucket_key_and_version() {
        let app = MetricsApp::test();
        let mut spec = function_spec("rollup");
        spec.code.s3 = Some(S3Code {
            bucket: "code".into(),
            key: "rollup.zip".into(),
            object_version: Some("v2".into()),
        });
        let desired = ready(desired_function(&app, &spec, "t", None, "").unwrap());
        assert_eq!(
            desired.code,
            Code::S3 {
                bucket: "code".into(),
                key: "rollup.zip".into(),
                object_version: Some("v2".into())
            }
        );
    }
}
