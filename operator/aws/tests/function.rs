//! Every function path against moto's server, through the real SDKs over HTTP: create,
//! no-op passes, a new zip under the same key, configuration, both at once, drift,
//! ownership, concurrency, the stream trigger, the URL and deletion. moto makes
//! functions Active at once and runs every update synchronously; the Pending and
//! InProgress paths are the plan's unit tests.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::lambda::{
    Aws, aws, bootstrap_zip, bucket, role, table_with_stream, upload, upload_with_sha256,
};
use common::{owner, unique};
use metricsapp_aws::function::{
    Architecture, Change, Code, Deletion, DeletionPolicy, DesiredFunction, FunctionRecord,
    FunctionReport, FunctionUrl, Owner, StartingPosition, StreamTrigger, UrlAuth, delete,
    reconcile, reconcile_since,
};

macro_rules! moto {
    ($test:literal) => {
        match aws("MOTO_ENDPOINT", $test).await {
            Some(aws) => aws,
            None => return,
        }
    };
}

/// One function's world: a role, a bucket holding its zip, and its owner.
struct Fixture {
    aws: Aws,
    owner: Owner,
    role: String,
    bucket: String,
    name: String,
    /// What the controller would keep in the MetricsApp status.
    recorded: FunctionRecord,
}

const KEY: &str = "rollup.zip";

impl Fixture {
    async fn new(aws: Aws, prefix: &str, versioned: bool) -> Fixture {
        let name = unique(prefix);
        let role = role(&aws.endpoint, &unique("role")).await;
        let code = unique("code");
        bucket(&aws.s3, &code, versioned).await;
        upload(&aws.s3, &code, KEY, bootstrap_zip("v1")).await;
        Fixture {
            aws,
            owner: owner(),
            role,
            bucket: code,
            name,
            recorded: FunctionRecord::default(),
        }
    }

    fn desired(&self) -> DesiredFunction {
        DesiredFunction {
            name: self.name.clone(),
            code: Code::S3 {
                bucket: self.bucket.clone(),
                key: KEY.to_owned(),
                object_version: None,
            },
            sha256: None,
            runtime: Some("provided.al2023".into()),
            handler: Some("bootstrap".into()),
            architecture: Architecture::Arm64,
            memory_mb: 256,
            timeout_seconds: 30,
            env: BTreeMap::from([("TABLE".into(), "team-metrics".into())]),
            role_arn: self.role.clone(),
            reserved_concurrency: None,
            tags: BTreeMap::from([("team".into(), "data".into())]),
            trigger: None,
            url: None,
        }
    }

    /// One pass, recording what the controller would record.
    async fn pass(&mut self, desired: &DesiredFunction) -> FunctionReport {
        let report = self.try_pass(desired, false).await.expect("reconcile");
        self.record(&report);
        report
    }

    async fn try_pass(
        &mut self,
        desired: &DesiredFunction,
        adopt: bool,
    ) -> Result<FunctionReport, metricsapp_aws::function::Error> {
        let report = reconcile(
            &self.aws.lambda,
            &self.aws.s3,
            desired,
            &self.owner,
            adopt,
            &self.recorded,
        )
        .await?;
        self.record(&report);
        Ok(report)
    }

    /// One pass that first checks with one read whether anything changed since `last`.
    async fn pass_since(
        &mut self,
        desired: &DesiredFunction,
        last: &FunctionReport,
    ) -> FunctionReport {
        let report = reconcile_since(
            &self.aws.lambda,
            &self.aws.s3,
            desired,
            &self.owner,
            false,
            &self.recorded,
            last,
        )
        .await
        .expect("reconcile_since");
        self.record(&report);
        report
    }

    fn record(&mut self, report: &FunctionReport) {
        self.recorded = FunctionRecord {
            code_source: report.code_source.clone(),
            code_sha256: report.code_sha256.clone(),
            managed_tags: report.managed_tags.clone(),
        };
    }

    /// Reconciles until settled (at most 6 passes), returning every change in order.
    async fn settle(&mut self, desired: &DesiredFunction) -> Vec<Change> {
        let mut changes = Vec::new();
        for _ in 0..6 {
            let report = self.pass(desired).await;
            changes.extend(report.changes.clone());
            if report.settled {
                assert!(report.waiting.is_empty(), "{report:?}");
                return changes;
            }
        }
        panic!(
            "function {} did not settle; changes so far: {changes:?}",
            desired.name
        );
    }

    async fn configuration(&self) -> aws_sdk_lambda::operation::get_function::GetFunctionOutput {
        self.aws
            .lambda
            .get_function()
            .function_name(&self.name)
            .send()
            .await
            .expect("GetFunction")
    }

    async fn mappings(&self) -> Vec<aws_sdk_lambda::types::EventSourceMappingConfiguration> {
        self.aws
            .lambda
            .list_event_source_mappings()
            .function_name(&self.name)
            .send()
            .await
            .expect("ListEventSourceMappings")
            .event_source_mappings()
            .to_vec()
    }

    async fn policy(&self) -> Option<String> {
        match self
            .aws
            .lambda
            .get_policy()
            .function_name(&self.name)
            .send()
            .await
        {
            Ok(output) => output.policy().map(str::to_owned),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => panic!("GetPolicy: {e:?}"),
        }
    }

    async fn exists(&self) -> bool {
        match self
            .aws
            .lambda
            .get_function()
            .function_name(&self.name)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => panic!("GetFunction: {e:?}"),
        }
    }

    /// Creates the function behind the operator's back, with `tags`.
    async fn create_by_hand(&self, tags: &[(&str, &str)]) {
        self.aws
            .lambda
            .create_function()
            .function_name(&self.name)
            .role(&self.role)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            // moto ignores the architecture on UpdateFunctionCode, so start on the
            // spec's one.
            .architectures(aws_sdk_lambda::types::Architecture::Arm64)
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .s3_bucket(&self.bucket)
                    .s3_key(KEY)
                    .build(),
            )
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ))
            .send()
            .await
            .expect("CreateFunction by hand");
    }
}

#[tokio::test]
async fn creates_the_function_and_a_second_pass_writes_nothing() {
    let aws = moto!("creates_the_function_and_a_second_pass_writes_nothing");
    let mut fx = Fixture::new(aws, "create", false).await;
    let desired = fx.desired();

    let report = fx.pass(&desired).await;
    assert_eq!(report.changes, vec![Change::Created]);
    assert!(!report.settled, "a created function is checked again");
    assert!(report.arn.is_some());
    assert!(report.code_sha256.is_some());
    assert!(
        report
            .code_source
            .as_deref()
            .is_some_and(|s| s.starts_with("etag:")),
        "{report:?}"
    );
    assert_eq!(report.managed_tags, BTreeSet::from(["team".into()]));

    let output = fx.configuration().await;
    let config = output.configuration().unwrap();
    assert_eq!(config.memory_size(), Some(256));
    assert_eq!(config.timeout(), Some(30));
    assert_eq!(config.handler(), Some("bootstrap"));
    assert_eq!(
        config.runtime().map(|r| r.as_str()),
        Some("provided.al2023")
    );
    assert_eq!(config.role(), Some(fx.role.as_str()));
    assert_eq!(
        config.architectures(),
        [aws_sdk_lambda::types::Architecture::Arm64]
    );
    assert_eq!(
        config
            .environment()
            .and_then(|e| e.variables())
            .and_then(|v| v.get("TABLE"))
            .map(String::as_str),
        Some("team-metrics")
    );
    let tags = output.tags().unwrap();
    assert_eq!(tags["team"], "data");
    assert_eq!(tags["metricsapp.dev/uid"], fx.owner.uid);
    assert_eq!(tags["metricsapp.dev/namespace"], "team");

    let second = fx.pass(&desired).await;
    assert_eq!(second.changes, vec![]);
    assert!(second.settled, "{second:?}");
    assert_eq!(second.state.as_deref(), Some("Active"));

    let writes = fx.aws.writes();
    let third = fx.pass(&desired).await;
    assert_eq!(third.changes, vec![]);
    assert!(third.settled);
    assert_eq!(fx.aws.writes(), writes, "a settled pass sends no write");
}

#[tokio::test]
async fn the_one_read_check_reverts_what_get_function_shows_and_leaves_the_rest_to_a_full_pass() {
    let aws = moto!(
        "the_one_read_check_reverts_what_get_function_shows_and_leaves_the_rest_to_a_full_pass"
    );
    let mut fx = Fixture::new(aws, "quick", true).await;
    let desired = fx.desired();
    fx.settle(&desired).await;
    let settled = fx.pass(&desired).await;
    assert!(settled.fingerprint.is_some(), "{settled:?}");

    // At rest: the same report, nothing written.
    let writes = fx.aws.writes();
    assert_eq!(fx.pass_since(&desired, &settled).await, settled);
    assert_eq!(fx.aws.writes(), writes);

    // A spec change is a full pass.
    let bigger = DesiredFunction {
        memory_mb: 512,
        ..desired.clone()
    };
    let changed = fx.pass_since(&bigger, &settled).await;
    assert_eq!(
        changed.changes,
        vec![Change::ConfigurationUpdated {
            fields: vec!["memory".into()]
        }]
    );
    fx.settle(&desired).await;
    let settled = fx.pass(&desired).await;

    // An environment edited by hand shows in GetFunction: the one read sees it and the
    // pass puts it back.
    fx.aws
        .lambda
        .update_function_configuration()
        .function_name(&fx.name)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("TABLE", "someone-elses")
                .build(),
        )
        .send()
        .await
        .expect("UpdateFunctionConfiguration by hand");
    let reverted = fx.pass_since(&desired, &settled).await;
    assert_eq!(
        reverted.changes,
        vec![Change::ConfigurationUpdated {
            fields: vec!["env".into()]
        }]
    );
    fx.settle(&desired).await;
    let settled = fx.pass(&desired).await;

    // A new zip under the same key is not in GetFunction: the one read does not see it,
    // the next full pass deploys it.
    upload(&fx.aws.s3, &fx.bucket, KEY, bootstrap_zip("v2")).await;
    assert_eq!(fx.pass_since(&desired, &settled).await, settled);
    let full = fx.pass(&desired).await;
    assert!(
        matches!(full.changes.as_slice(), [Change::CodeUpdated { .. }]),
        "{full:?}"
    );
    fx.settle(&desired).await;
    let settled = fx.pass(&desired).await;

    // A function deleted behind the operator's back is found by the one read.
    fx.aws
        .lambda
        .delete_function()
        .function_name(&fx.name)
        .send()
        .await
        .expect("DeleteFunction by hand");
    let recreated = fx.pass_since(&desired, &settled).await;
    assert_eq!(recreated.changes, vec![Change::Created]);
}

#[tokio::test]
async fn a_new_zip_under_the_same_key_is_deployed_in_a_versioned_bucket() {
    let aws = moto!("a_new_zip_under_the_same_key_is_deployed_in_a_versioned_bucket");
    let mut fx = Fixture::new(aws, "newzip", true).await;
    let desired = fx.desired();
    fx.settle(&desired).await;
    let first = fx.recorded.clone();
    assert!(
        first
            .code_source
            .as_deref()
            .is_some_and(|s| s.starts_with("version:")),
        "{first:?}"
    );

    let v2 = upload(&fx.aws.s3, &fx.bucket, KEY, bootstrap_zip("v2"))
        .await
        .expect("version id");
    let report = fx.pass(&desired).await;
    assert_eq!(
        report.changes,
        vec![Change::CodeUpdated {
            from: first.code_source.clone(),
            to: format!("version:{v2}"),
        }]
    );
    assert_ne!(
        report.code_sha256, first.code_sha256,
        "Lambda runs the new zip"
    );
    assert_eq!(fx.settle(&desired).await, vec![]);
}

#[tokio::test]
async fn a_new_zip_in_an_unversioned_bucket_is_detected_by_its_etag() {
    let aws = moto!("a_new_zip_in_an_unversioned_bucket_is_detected_by_its_etag");
    let mut fx = Fixture::new(aws, "etag", false).await;
    let desired = fx.desired();
    fx.settle(&desired).await;
    let before = fx.recorded.clone();

    upload(&fx.aws.s3, &fx.bucket, KEY, bootstrap_zip("v2")).await;
    let changes = fx.settle(&desired).await;
    assert!(
        matches!(changes.as_slice(), [Change::CodeUpdated { from, to }]
            if *from == before.code_source && to.starts_with("etag:")),
        "{changes:?}"
    );
    assert_ne!(fx.recorded.code_sha256, before.code_sha256);
}

#[tokio::test]
async fn a_pinned_object_version_is_deployed_when_it_changes() {
    let aws = moto!("a_pinned_object_version_is_deployed_when_it_changes");
    let mut fx = Fixture::new(aws, "version", true).await;
    let v2 = upload(&fx.aws.s3, &fx.bucket, KEY, bootstrap_zip("v2"))
        .await
        .expect("version id");
    let mut desired = fx.desired();
    desired.code = Code::S3 {
        bucket: fx.bucket.clone(),
        key: KEY.to_owned(),
        object_version: Some(v2.clone()),
    };
    fx.settle(&desired).await;
    assert_eq!(fx.recorded.code_source, Some(format!("version:{v2}")));

    let v3 = upload(&fx.aws.s3, &fx.bucket, KEY, bootstrap_zip("v3"))
        .await
        .expect("version id");
    assert_eq!(
        fx.settle(&desired).await,
        vec![],
        "a newer object does not matter while the spec pins v2"
    );
    desired.code = Code::S3 {
        bucket: fx.bucket.clone(),
        key: KEY.to_owned(),
        object_version: Some(v3.clone()),
    };
    assert_eq!(
        fx.settle(&desired).await,
        vec![Change::CodeUpdated {
            from: Some(format!("version:{v2}")),
            to: format!("version:{v3}"),
        }]
    );
}

#[tokio::test]
async fn a_configuration_change_names_its_fields() {
    let aws = moto!("a_configuration_change_names_its_fields");
    let mut fx = Fixture::new(aws, "config", false).await;
    let desired = fx.desired();
    fx.settle(&desired).await;

    let other_role = role(&fx.aws.endpoint, &unique("role")).await;
    let changed = DesiredFunction {
        memory_mb: 512,
        timeout_seconds: 60,
        env: BTreeMap::from([
            ("TABLE".into(), "team-metrics".into()),
            ("LOG".into(), "debug".into()),
        ]),
        role_arn: other_role.clone(),
        ..fx.desired()
    };
    assert_eq!(
        fx.settle(&changed).await,
        vec![Change::ConfigurationUpdated {
            fields: vec![
                "memory".into(),
                "timeout".into(),
                "env".into(),
                "role".into()
            ]
        }]
    );
    let output = fx.configuration().await;
    let config = output.configuration().unwrap();
    assert_eq!(config.memory_size(), Some(512));
    assert_eq!(config.timeout(), Some(60));
    assert_eq!(config.role(), Some(other_role.as_str()));
    assert_eq!(
        config
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.len()),
        Some(2)
    );

    let cleared = DesiredFunction {
        env: BTreeMap::new(),
        ..changed
    };
    assert_eq!(
        fx.settle(&cleared).await,
        vec![Change::ConfigurationUpdated {
            fields: vec!["env".into()]
        }]
    );
}

#[tokio::test]
async fn code_and_configuration_together_take_two_passes_code_first() {
    let aws = moto!("code_and_configuration_together_take_two_passes_code_first");
    let mut fx = Fixture::new(aws, "both", false).await;
    let desired = fx.desired();
    fx.settle(&desired).await;

    upload(&fx.aws.s3, &fx.bucket, KEY, bootstrap_zip("v2")).await;
    let changed = DesiredFunction {
        memory_mb: 1024,
        ..fx.desired()
    };
    let first = fx.pass(&changed).await;
    assert!(
        matches!(first.changes.as_slice(), [Change::CodeUpdated { .. }]),
        "{first:?}"
    );
    assert!(!first.settled, "the configuration is still to do");
    let second = fx.pass(&changed).await;
    assert_eq!(
        second.changes,
        vec![Change::ConfigurationUpdated {
            fields: vec!["memory".into()]
        }]
    );
    assert!(
        !second.settled,
        "a pass that changed something is not settled"
    );
    assert_eq!(fx.settle(&changed).await, vec![]);
}

#[tokio::test]
async fn drift_behind_the_operators_back_is_reverted() {
    let aws = moto!("drift_behind_the_operators_back_is_reverted");
    let mut fx = Fixture::new(aws, "drift", false).await;
    let desired = fx.desired();
    fx.settle(&desired).await;
    let deployed = fx.recorded.code_sha256.clone();

    fx.aws
        .lambda
        .update_function_configuration()
        .function_name(&fx.name)
        .memory_size(2048)
        .timeout(5)
        .send()
        .await
        .expect("UpdateFunctionConfiguration by hand");
    assert_eq!(
        fx.settle(&desired).await,
        vec![Change::ConfigurationUpdated {
            fields: vec!["memory".into(), "timeout".into()]
        }]
    );
    let output = fx.configuration().await;
    assert_eq!(output.configuration().unwrap().memory_size(), Some(256));

    // Someone deploys other code from another object.
    upload(&fx.aws.s3, &fx.bucket, "other.zip", bootstrap_zip("hotfix")).await;
    fx.aws
        .lambda
        .update_function_code()
        .function_name(&fx.name)
        .s3_bucket(&fx.bucket)
        .s3_key("other.zip")
        .send()
        .await
        .expect("UpdateFunctionCode by hand");
    let changes = fx.settle(&desired).await;
    assert!(
        matches!(changes.as_slice(), [Change::CodeUpdated { from, to }] if from.as_ref() == Some(to)),
        "{changes:?}"
    );
    assert_eq!(
        fx.recorded.code_sha256, deployed,
        "the spec's zip runs again"
    );
}

#[tokio::test]
async fn an_unowned_function_is_a_conflict_until_adopted() {
    let aws = moto!("an_unowned_function_is_a_conflict_until_adopted");
    let mut fx = Fixture::new(aws, "adopt", false).await;
    fx.create_by_hand(&[("backup", "daily")]).await;
    let desired = fx.desired();

    let writes = fx.aws.writes();
    let error = fx.try_pass(&desired, false).await.unwrap_err();
    assert_eq!(error.reason(), "FunctionConflict");
    assert!(error.is_terminal());
    assert!(error.to_string().contains("adopt: true"), "{error}");
    assert_eq!(fx.aws.writes(), writes, "a conflict touches nothing");

    let report = fx.try_pass(&desired, true).await.expect("adopt");
    assert_eq!(report.changes[0], Change::Adopted);
    assert!(
        report
            .changes
            .iter()
            .any(|c| matches!(c, Change::Tags { set, .. } if set.contains_key("team"))),
        "{report:?}"
    );
    fx.settle(&desired).await;
    let output = fx.configuration().await;
    let tags = output.tags().unwrap();
    assert_eq!(tags["metricsapp.dev/uid"], fx.owner.uid);
    assert_eq!(tags["backup"], "daily", "tags others set are kept");
    assert_eq!(output.configuration().unwrap().memory_size(), Some(256));
}

#[tokio::test]
async fn a_function_of_another_app_is_a_conflict_naming_it() {
    let aws = moto!("a_function_of_another_app_is_a_conflict_naming_it");
    let mut fx = Fixture::new(aws, "theirs", false).await;
    let other = owner();
    fx.create_by_hand(&[
        ("metricsapp.dev/namespace", "other"),
        ("metricsapp.dev/name", "metrics"),
        ("metricsapp.dev/uid", &other.uid),
    ])
    .await;
    let error = fx.try_pass(&fx.desired(), true).await.unwrap_err();
    assert_eq!(error.reason(), "FunctionConflict");
    assert!(
        error
            .to_string()
            .contains(&format!("MetricsApp other/metrics (uid {})", other.uid)),
        "{error}"
    );
    assert_eq!(
        delete(&fx.aws.lambda, &fx.name, &fx.owner, DeletionPolicy::Delete)
            .await
            .unwrap(),
        Deletion::NotOwned
    );
    assert!(fx.exists().await);
}

#[tokio::test]
async fn user_tags_are_managed_and_others_kept() {
    let aws = moto!("user_tags_are_managed_and_others_kept");
    let mut fx = Fixture::new(aws, "tags", false).await;
    let desired = fx.desired();
    fx.settle(&desired).await;
    let arn = fx
        .configuration()
        .await
        .configuration()
        .unwrap()
        .function_arn()
        .unwrap()
        .to_owned();
    fx.aws
        .lambda
        .tag_resource()
        .resource(&arn)
        .tags("cost-center", "42")
        .send()
        .await
        .expect("TagResource by hand");

    let retagged = DesiredFunction {
        tags: BTreeMap::from([("owner".into(), "ops".into())]),
        ..fx.desired()
    };
    assert_eq!(
        fx.settle(&retagged).await,
        vec![Change::Tags {
            set: BTreeMap::from([("owner".into(), "ops".into())]),
            removed: vec!["team".into()],
        }]
    );
    let output = fx.configuration().await;
    let tags = output.tags().unwrap();
    assert_eq!(tags.get("team"), None);
    assert_eq!(tags["owner"], "ops");
    assert_eq!(tags["cost-center"], "42", "a tag someone else set is kept");
    assert_eq!(fx.recorded.managed_tags, BTreeSet::from(["owner".into()]));
}

#[tokio::test]
async fn reserved_concurrency_is_set_and_removed() {
    let aws = moto!("reserved_concurrency_is_set_and_removed");
    let mut fx = Fixture::new(aws, "concurrency", false).await;
    let reserved = DesiredFunction {
        reserved_concurrency: Some(3),
        ..fx.desired()
    };
    assert_eq!(
        fx.settle(&reserved).await,
        vec![Change::Created, Change::Concurrency { to: Some(3) }]
    );
    let output = fx.configuration().await;
    assert_eq!(
        output
            .concurrency()
            .and_then(|c| c.reserved_concurrent_executions()),
        Some(3)
    );
    assert_eq!(
        fx.settle(&fx.desired()).await,
        vec![Change::Concurrency { to: None }]
    );
    assert_eq!(
        fx.configuration()
            .await
            .concurrency()
            .and_then(|c| c.reserved_concurrent_executions()),
        None
    );
}

#[tokio::test]
async fn the_stream_trigger_is_created_updated_and_deleted() {
    let aws = moto!("the_stream_trigger_is_created_updated_and_deleted");
    let mut fx = Fixture::new(aws, "trigger", false).await;
    let stream = table_with_stream(&fx.aws.dynamodb, &unique("table")).await;
    let trigger = StreamTrigger {
        stream_arn: stream.clone(),
        batch_size: None,
        starting_position: StartingPosition::TrimHorizon,
        maximum_batching_window_seconds: None,
        maximum_retry_attempts: Some(3),
        bisect_batch_on_function_error: true,
        filter_patterns: Vec::new(),
    };
    let with_trigger = DesiredFunction {
        trigger: Some(trigger.clone()),
        ..fx.desired()
    };
    assert_eq!(
        fx.settle(&with_trigger).await,
        vec![Change::Created, Change::TriggerCreated]
    );
    let mappings = fx.mappings().await;
    assert_eq!(mappings.len(), 1);
    let mapping = &mappings[0];
    assert_eq!(mapping.event_source_arn(), Some(stream.as_str()));
    assert_eq!(mapping.maximum_retry_attempts(), Some(3));
    assert_eq!(mapping.bisect_batch_on_function_error(), Some(true));
    assert_eq!(
        mapping.function_response_types(),
        [aws_sdk_lambda::types::FunctionResponseType::ReportBatchItemFailures]
    );
    let report = fx.pass(&with_trigger).await;
    assert_eq!(
        report.mapping.as_ref().map(|m| m.uuid.as_str()),
        mapping.uuid()
    );

    let changed = DesiredFunction {
        trigger: Some(StreamTrigger {
            batch_size: Some(50),
            filter_patterns: vec![r#"{"eventName":["INSERT"]}"#.into()],
            ..trigger
        }),
        ..fx.desired()
    };
    assert_eq!(
        fx.settle(&changed).await,
        vec![Change::TriggerUpdated {
            fields: vec!["batch size".into(), "filter patterns".into()]
        }]
    );
    let mappings = fx.mappings().await;
    assert_eq!(mappings[0].batch_size(), Some(50));
    assert_eq!(
        mappings[0].filter_criteria().map(|f| f.filters().len()),
        Some(1)
    );

    assert_eq!(fx.settle(&fx.desired()).await, vec![Change::TriggerDeleted]);
    assert!(fx.mappings().await.is_empty());
}

#[tokio::test]
async fn the_function_url_is_created_changed_and_removed_with_its_permission() {
    let aws = moto!("the_function_url_is_created_changed_and_removed_with_its_permission");
    let mut fx = Fixture::new(aws, "url", false).await;
    fx.settle(&fx.desired()).await;

    let public = DesiredFunction {
        url: Some(FunctionUrl {
            auth_type: UrlAuth::None,
            cors_origins: vec!["https://metrics.example".into()],
        }),
        ..fx.desired()
    };
    assert_eq!(fx.settle(&public).await, vec![Change::UrlCreated]);
    let report = fx.pass(&public).await;
    assert!(
        report
            .url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://")),
        "{report:?}"
    );
    let policy = fx.policy().await.expect("a resource policy");
    assert!(policy.contains("lambda:InvokeFunctionUrl"), "{policy}");
    assert!(
        policy.contains("\"lambda:InvokeFunction\""),
        "Lambda wants InvokeFunction granted too: {policy}"
    );

    let iam = DesiredFunction {
        url: Some(FunctionUrl {
            auth_type: UrlAuth::AwsIam,
            cors_origins: vec!["https://other.example".into()],
        }),
        ..fx.desired()
    };
    assert_eq!(fx.settle(&iam).await, vec![Change::UrlUpdated]);
    let config = fx
        .aws
        .lambda
        .get_function_url_config()
        .function_name(&fx.name)
        .send()
        .await
        .expect("GetFunctionUrlConfig");
    assert_eq!(config.auth_type().as_str(), "AWS_IAM");
    assert_eq!(
        config.cors().map(|c| c.allow_origins().to_vec()),
        Some(vec!["https://other.example".to_owned()])
    );
    assert!(
        fx.policy()
            .await
            .is_none_or(|p| !p.contains("lambda:InvokeFunction")),
        "the public permission is revoked"
    );

    assert_eq!(fx.settle(&fx.desired()).await, vec![Change::UrlDeleted]);
    assert!(fx.pass(&fx.desired()).await.url.is_none());
}

#[tokio::test]
async fn a_pinned_sha256_is_checked_against_what_runs() {
    let aws = moto!("a_pinned_sha256_is_checked_against_what_runs");
    let mut fx = Fixture::new(aws, "sha", false).await;
    fx.settle(&fx.desired()).await;
    let running = fx.recorded.code_sha256.clone().expect("CodeSha256");

    let pinned = DesiredFunction {
        sha256: Some(running.clone()),
        ..fx.desired()
    };
    assert_eq!(fx.settle(&pinned).await, vec![]);

    // A new object under the key that is not the pinned zip.
    upload(&fx.aws.s3, &fx.bucket, KEY, bootstrap_zip("v2")).await;
    let error = fx.try_pass(&pinned, false).await.unwrap_err();
    assert_eq!(error.reason(), "CodeMismatch");
    assert!(error.is_terminal());
    assert!(error.to_string().contains(&running), "{error}");
    assert!(
        matches!(error.changes(), [Change::CodeUpdated { .. }]),
        "the deploy that showed the mismatch is reported: {:?}",
        error.changes()
    );
}

#[tokio::test]
async fn an_object_whose_s3_checksum_is_not_the_pinned_zip_is_never_deployed() {
    let aws = moto!("an_object_whose_s3_checksum_is_not_the_pinned_zip_is_never_deployed");
    let mut fx = Fixture::new(aws, "checksum", false).await;
    upload_with_sha256(&fx.aws.s3, &fx.bucket, KEY, bootstrap_zip("v1")).await;
    let pinned = DesiredFunction {
        sha256: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
        ..fx.desired()
    };
    let writes = fx.aws.writes();
    let error = fx.try_pass(&pinned, false).await.unwrap_err();
    assert_eq!(error.reason(), "CodeMismatch");
    assert_eq!(fx.aws.writes(), writes, "nothing was created");
    assert!(!fx.exists().await);
}

#[tokio::test]
async fn a_missing_code_object_is_retried() {
    let aws = moto!("a_missing_code_object_is_retried");
    let mut fx = Fixture::new(aws, "missing", false).await;
    let desired = DesiredFunction {
        code: Code::S3 {
            bucket: fx.bucket.clone(),
            key: "not-yet.zip".into(),
            object_version: None,
        },
        ..fx.desired()
    };
    let error = fx.try_pass(&desired, false).await.unwrap_err();
    assert_eq!(error.reason(), "CodeNotFound");
    assert!(!error.is_terminal(), "CI may upload it a moment later");
    assert!(error.to_string().contains("not-yet.zip"), "{error}");

    upload(&fx.aws.s3, &fx.bucket, "not-yet.zip", bootstrap_zip("v1")).await;
    assert_eq!(fx.settle(&desired).await, vec![Change::Created]);
}

#[tokio::test]
async fn an_invalid_spec_is_refused_before_any_call() {
    let aws = moto!("an_invalid_spec_is_refused_before_any_call");
    let mut fx = Fixture::new(aws, "invalid", false).await;
    let desired = DesiredFunction {
        env: BTreeMap::from([("AWS_REGION".into(), "eu-west-1".into())]),
        ..fx.desired()
    };
    let error = fx.try_pass(&desired, false).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "invalid function spec for `{}`: env `AWS_REGION` is reserved by Lambda",
            fx.name
        )
    );
    assert!(!fx.exists().await);
}

#[tokio::test]
async fn deletion_follows_the_policy_and_takes_the_trigger_with_it() {
    let aws = moto!("deletion_follows_the_policy_and_takes_the_trigger_with_it");
    let mut fx = Fixture::new(aws, "delete", false).await;
    let stream = table_with_stream(&fx.aws.dynamodb, &unique("table")).await;
    let desired = DesiredFunction {
        trigger: Some(StreamTrigger {
            stream_arn: stream,
            batch_size: None,
            starting_position: StartingPosition::Latest,
            maximum_batching_window_seconds: None,
            maximum_retry_attempts: None,
            bisect_batch_on_function_error: false,
            filter_patterns: Vec::new(),
        }),
        url: Some(FunctionUrl {
            auth_type: UrlAuth::AwsIam,
            cors_origins: Vec::new(),
        }),
        ..fx.desired()
    };
    fx.settle(&desired).await;
    assert_eq!(fx.mappings().await.len(), 1);

    let lambda = &fx.aws.lambda;
    let writes = fx.aws.writes();
    assert_eq!(
        delete(lambda, &fx.name, &fx.owner, DeletionPolicy::Retain)
            .await
            .unwrap(),
        Deletion::Retained
    );
    assert_eq!(fx.aws.writes(), writes, "Retain makes no call");
    assert!(fx.exists().await);

    let stranger = owner();
    assert_eq!(
        delete(lambda, &fx.name, &stranger, DeletionPolicy::Delete)
            .await
            .unwrap(),
        Deletion::NotOwned
    );
    assert!(fx.exists().await);

    assert_eq!(
        delete(lambda, &fx.name, &fx.owner, DeletionPolicy::Delete)
            .await
            .unwrap(),
        Deletion::Deleted
    );
    assert!(!fx.exists().await);
    assert!(fx.mappings().await.is_empty(), "the trigger went with it");
    assert_eq!(
        delete(lambda, &fx.name, &fx.owner, DeletionPolicy::Delete)
            .await
            .unwrap(),
        Deletion::AlreadyGone
    );
}
