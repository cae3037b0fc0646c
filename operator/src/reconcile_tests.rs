//! The reconciler against a mocked Kubernetes API server (exact request sequences) and
//! moto's DynamoDB server (real SDK calls over HTTP).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::PointInTimeRecoverySpecification;
use kube::runtime::controller::Action;
use metricsapp_aws::table::DesiredTable;
use serde_json::{Value, json};

use crate::controller::{AwsClients, Memory, reconcile};
use crate::crd::{self, MetricsApp, MetricsAppStatus};
use crate::fixtures::*;
use crate::{status, table};

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {status}"))
}

fn patched_status(exchanges: &[Exchange]) -> MetricsAppStatus {
    let patch = exchanges
        .iter()
        .rev()
        .find(|exchange| exchange.path == STATUS_PATH)
        .expect("a status patch");
    serde_json::from_value(patch.response["status"].clone())
        .expect("status patch is a MetricsAppStatus")
}

fn assert_server_side_apply(exchanges: &[Exchange]) {
    for exchange in exchanges
        .iter()
        .filter(|e| e.method == "PATCH" && e.path != STATUS_PATH && e.path != APP_PATH)
    {
        assert!(
            exchange.query.contains("fieldManager=metricsapp-operator"),
            "{}",
            exchange.query
        );
        assert!(exchange.query.contains("force=true"), "{}", exchange.query);
        assert!(exchange.body["apiVersion"].is_string() && exchange.body["kind"].is_string());
    }
}

/// What one operator process remembers from pass to pass (what it applied, what it
/// last found settled in AWS).
#[derive(Default)]
struct Process {
    memory: Memory,
    /// The metrics of the last pass (AWS calls by operation among them).
    metrics: String,
}

/// One pass of the reconciler against `scenario`, by a fresh operator process.
async fn pass(
    app: MetricsApp,
    aws: AwsClients,
    scenario: Scenario,
) -> (crate::Result<Action>, Vec<Exchange>, Duration) {
    pass_in(&mut Process::default(), app, aws, scenario).await
}

/// One pass of the reconciler against `scenario` by `process`; returns its result,
/// what the API server received, and how long the pass took.
async fn pass_in(
    process: &mut Process,
    app: MetricsApp,
    aws: AwsClients,
    scenario: Scenario,
) -> (crate::Result<Action>, Vec<Exchange>, Duration) {
    let live = scenario.live().cloned();
    let (ctx, server) = context(aws, live.as_ref());
    ctx.carry(process.memory.clone());
    let server = server.run(scenario);
    let started = Instant::now();
    // Boxed as the Controller runs it: a pass is a large future for a test thread's stack.
    let result = Box::pin(reconcile(std::sync::Arc::new(app), ctx.clone())).await;
    let took = started.elapsed();
    process.memory = ctx.remembered();
    process.metrics = ctx.metrics.encode().unwrap_or_default();
    drop(ctx);
    (result, verify(server).await, took)
}

/// Clients for tests whose pass must make no AWS call: nothing listens there, so a
/// call would fail the pass.
async fn no_aws() -> AwsClients {
    aws_at("http://127.0.0.1:9").await
}

#[tokio::test]
async fn first_pass_only_adds_the_finalizer() {
    let app = MetricsApp::test();
    let (result, exchanges, _) = pass(
        app.clone(),
        no_aws().await,
        Scenario::FinalizerCreation(app),
    )
    .await;
    assert_eq!(result.unwrap(), Action::await_change());
    let patch = &exchanges[0].body;
    assert!(patch.to_string().contains(crate::FINALIZER), "{patch}");
}

#[tokio::test]
async fn creation_then_no_op_then_image_change() {
    let test = "creation_then_no_op_then_image_change";
    let Some(aws) = moto(test).await else {
        return;
    };
    let dynamodb = aws.dynamodb.clone();
    let table_name = unique_table("create");
    let app = MetricsApp::test().finalized().with_table(&table_name);
    let mut process = Process::default();

    // Pass 1: the table is created in moto, then the app's objects, then the status.
    let (result, exchanges, create_took) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::Creation {
            app: app.clone(),
            aws_events: vec!["TableCreated"],
        },
    )
    .await;
    let action = result.unwrap();
    assert_server_side_apply(&exchanges);
    let described = dynamodb
        .describe_table()
        .table_name(&table_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.table().unwrap().table_name(),
        Some(table_name.as_str())
    );
    let status = patched_status(&exchanges);
    let status_json = serde_json::to_value(&status).unwrap();
    assert_eq!(
        condition(&status_json, "Available")["reason"],
        "DeploymentPending"
    );
    assert_eq!(condition(&status_json, "Ready")["status"], "False");
    assert_eq!(status.url.as_deref(), Some("http://metrics.team.svc:80"));
    assert_eq!(status.image, None, "no replica runs the image yet");
    assert_eq!(status.table.as_ref().unwrap().name, table_name);
    assert!(status.table.as_ref().unwrap().arn.is_some());
    assert_ne!(
        action,
        Action::await_change(),
        "a new table is checked again"
    );
    let live = LiveObjects::from_applies(&exchanges).with_available_deployment(2);

    // Pass 2: the Deployment became available: only the status changes.
    let mut app = app;
    app.status = Some(status);
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![Expect::status(&app)],
        },
    )
    .await;
    result.unwrap();
    let status = patched_status(&exchanges);
    assert!(status::is_ready(Some(&status)), "{status:?}");
    assert_eq!(status.ready_replicas, Some(2));
    assert_eq!(
        status.image.as_deref(),
        Some("ghcr.io/metricsapp/metrics-app:1")
    );

    // Pass 3: nothing changed anywhere: not one request to the API server (the
    // objects are read from the watch caches), no write of any kind.
    app.status = Some(status);
    let (result, exchanges, noop_took) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![],
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    assert!(exchanges.is_empty(), "{exchanges:?}");

    // Pass 4: a new image: only the Deployment is applied, with only the image changed.
    let mut next = app.clone();
    next.spec.image = "ghcr.io/metricsapp/metrics-app:2".into();
    next.metadata.generation = Some(2);
    let (result, exchanges, _) = pass_in(
        &mut process,
        next.clone(),
        aws.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![
                Expect::patch(DEPLOYMENT_PATH),
                Expect::event("DeploymentUpdated"),
                Expect::status(&next),
            ],
        },
    )
    .await;
    result.unwrap();
    assert_server_side_apply(&exchanges);
    let applied = exchanges[0].body.clone();
    let mut before = live.deployment.clone();
    before.as_object_mut().unwrap().remove("status");
    let mut after = applied.clone();
    assert_eq!(
        after.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("ghcr.io/metricsapp/metrics-app:2"))
    );
    for object in [&mut before, &mut after] {
        object["spec"]["template"]["spec"]["containers"][0]["image"] = Value::Null;
        object["metadata"]["resourceVersion"] = Value::Null;
    }
    assert_eq!(before, after, "only the image may change");
    let note = exchanges[1].body["note"].as_str().unwrap();
    assert!(
        note.contains("metrics-app:1 → ghcr.io/metricsapp/metrics-app:2"),
        "{note}"
    );
    let status = patched_status(&exchanges);
    assert_eq!(
        status.image.as_deref(),
        Some("ghcr.io/metricsapp/metrics-app:1"),
        "the new image runs only once the Deployment has rolled out"
    );
    assert_eq!(status.observed_generation, Some(2));
    assert!(!status::is_ready(Some(&status)));

    // Pass 5, once the full-read period is over: point-in-time recovery turned on
    // behind the operator's back is reverted, and the Warning Event says so. (Before
    // then a pass at rest reads DescribeTable only, which does not show it.)
    process.memory = process.memory.without_aws();
    let mut app = next;
    app.status = Some(status);
    let live = LiveObjects {
        deployment: exchanges[0].response.clone(),
        ..live
    }
    .with_available_deployment(2);
    dynamodb
        .update_continuous_backups()
        .table_name(&table_name)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::DriftCorrection {
            live: live.clone(),
            app: app.clone(),
        },
    )
    .await;
    result.unwrap();
    let event = &exchanges[0].body;
    assert_eq!(event["type"], "Warning");
    let note = event["note"].as_str().unwrap();
    assert!(note.contains("changed outside the operator"), "{note}");
    assert!(
        note.to_lowercase().contains("point-in-time recovery"),
        "{note}"
    );
    let pitr = dynamodb
        .describe_continuous_backups()
        .table_name(&table_name)
        .send()
        .await
        .unwrap();
    let pitr = pitr
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|d| d.point_in_time_recovery_status())
        .map(|s| s.as_str().to_owned());
    assert_eq!(pitr.as_deref(), Some("DISABLED"));
    let status = patched_status(&exchanges);
    assert_eq!(
        status.image.as_deref(),
        Some("ghcr.io/metricsapp/metrics-app:2"),
        "rolled out"
    );

    // Pass 6: someone changed the Deployment's image by hand: put back at the next
    // pass, with a DriftCorrected Warning.
    app.status = Some(status);
    let edited = live
        .clone()
        .with_edited_image("ghcr.io/someone/else:latest");
    let mut restored = live.deployment.clone();
    restored["metadata"]["resourceVersion"] = next_resource_version().into();
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::Existing {
            live: edited,
            writes: vec![
                Expect::patch_answered(DEPLOYMENT_PATH, restored),
                Expect::event("DriftCorrected"),
                // The table finished settling after pass 5's revert.
                Expect::status(&app),
            ],
        },
    )
    .await;
    result.unwrap();
    assert_eq!(
        exchanges[0]
            .body
            .pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("ghcr.io/metricsapp/metrics-app:2")),
        "the spec's image is applied again"
    );
    assert_eq!(exchanges[1].body["type"], "Warning");

    eprintln!(
        "reconcile duration against moto + mocked API server: create {create_took:?}, no-op {noop_took:?}"
    );
}

#[tokio::test]
async fn a_table_owned_by_someone_else_is_a_terminal_conflict_without_hot_loop() {
    let test = "a_table_owned_by_someone_else_is_a_terminal_conflict_without_hot_loop";
    let Some(aws) = moto(test).await else {
        return;
    };
    let dynamodb = aws.dynamodb.clone();
    let table_name = unique_table("conflict");
    let app = MetricsApp::test().finalized().with_table(&table_name);
    let mut other = app.clone();
    other.metadata.uid = Some("another-uid".into());
    create_table(&dynamodb, &other).await;

    let (result, exchanges, _) = pass(
        app.clone(),
        aws.clone(),
        Scenario::TableFailure {
            app: app.clone(),
            reason: "TableConflict",
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    assert_eq!(exchanges[0].body["type"], "Warning");
    let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
    let table_ready = condition(&status, "TableReady");
    assert_eq!(table_ready["reason"], "TableConflict");
    assert!(
        table_ready["message"]
            .as_str()
            .unwrap()
            .contains("terminal"),
        "{table_ready}"
    );
    assert_eq!(condition(&status, "Ready")["status"], "False");

    // The next pass finds the same conflict: no new Event, no status write, and again
    // no retry before the resync period.
    let mut app = app;
    app.status = Some(patched_status(&exchanges));
    let (result, exchanges, _) = pass(app, aws.clone(), Scenario::Nothing).await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    assert!(exchanges.is_empty());
}

#[tokio::test]
async fn suspended_app_touches_nothing_but_its_status() {
    let mut app = MetricsApp::test().finalized();
    app.spec.suspend = true;
    let (result, exchanges, _) = pass(app.clone(), no_aws().await, Scenario::StatusOnly(app)).await;
    result.unwrap();
    let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
    assert_eq!(condition(&status, "Ready")["reason"], "Suspended");
}

#[tokio::test]
async fn deletion_with_retain_keeps_the_table() {
    let test = "deletion_with_retain_keeps_the_table";
    let Some(aws) = moto(test).await else {
        return;
    };
    let dynamodb = aws.dynamodb.clone();
    let table_name = unique_table("retain");
    let app = MetricsApp::test().finalized().with_table(&table_name);
    create_table(&dynamodb, &app).await;

    let deleting = app.deleting();
    let (result, _, _) = pass(
        deleting.clone(),
        aws.clone(),
        Scenario::DeletionRetain(deleting),
    )
    .await;
    assert_eq!(result.unwrap(), Action::await_change());
    let described = dynamodb
        .describe_table()
        .table_name(&table_name)
        .send()
        .await;
    assert!(described.is_ok(), "the table must be kept: {described:?}");
}

#[tokio::test]
async fn deletion_with_delete_backs_up_then_deletes_the_table() {
    let test = "deletion_with_delete_backs_up_then_deletes_the_table";
    let Some(aws) = moto(test).await else {
        return;
    };
    let dynamodb = aws.dynamodb.clone();
    let table_name = unique_table("delete");
    let mut app = MetricsApp::test().finalized().with_table(&table_name);
    app.spec.table.deletion_policy = Some(crd::DeletionPolicy::Delete);
    create_table(&dynamodb, &app).await;

    let deleting = app.deleting();
    let (result, exchanges, _) = pass(
        deleting.clone(),
        aws.clone(),
        Scenario::DeletionDelete(deleting),
    )
    .await;
    assert_eq!(result.unwrap(), Action::await_change());
    let described = dynamodb
        .describe_table()
        .table_name(&table_name)
        .send()
        .await;
    assert!(described.is_err(), "the table must be gone: {described:?}");
    let backups = dynamodb
        .list_backups()
        .table_name(&table_name)
        .send()
        .await
        .unwrap();
    assert_eq!(backups.backup_summaries().len(), 1);
    let note = exchanges[0].body["note"].as_str().unwrap();
    let backup_arn = backups.backup_summaries()[0].backup_arn().unwrap();
    assert!(note.contains(backup_arn), "{note}");
}

async fn create_table(dynamodb: &aws_sdk_dynamodb::Client, app: &MetricsApp) {
    let desired: DesiredTable = table::desired_table(app, "").unwrap();
    let owner = table::owner(app).unwrap();
    metricsapp_aws::table::reconcile(
        dynamodb,
        &desired,
        &owner,
        false,
        &metricsapp_aws::table::TableRecord::default(),
    )
    .await
    .unwrap();
}

/// Figures, not assertions on time: how long a creation pass and a no-op pass take
/// against moto and the mocked API server (each pass still checked request by request).
/// Printed with `--no-capture`.
#[tokio::test]
async fn reconcile_durations_for_creation_and_no_op() {
    let test = "reconcile_durations_for_creation_and_no_op";
    let Some(aws) = moto(test).await else {
        return;
    };
    let mut process = Process::default();
    let mut creations = Vec::new();
    let mut settled = None;
    for _ in 0..10 {
        let app = MetricsApp::test()
            .finalized()
            .with_table(&unique_table("timing"));
        // Each creation by a fresh process: the apps share a name, and one process
        // would have forgotten a deleted app's objects.
        process = Process::default();
        let (result, exchanges, took) = pass_in(
            &mut process,
            app.clone(),
            aws.clone(),
            Scenario::Creation {
                app: app.clone(),
                aws_events: vec!["TableCreated"],
            },
        )
        .await;
        result.unwrap();
        creations.push(took);
        let mut app = app;
        app.status = Some(patched_status(&exchanges));
        settled = Some((
            app,
            LiveObjects::from_applies(&exchanges).with_available_deployment(2),
        ));
    }
    let (mut app, live) = settled.unwrap();
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![Expect::status(&app)],
        },
    )
    .await;
    result.unwrap();
    app.status = Some(patched_status(&exchanges));
    let mut no_ops = Vec::new();
    for _ in 0..30 {
        let (result, _, took) = pass_in(
            &mut process,
            app.clone(),
            aws.clone(),
            Scenario::Existing {
                live: live.clone(),
                writes: vec![],
            },
        )
        .await;
        result.unwrap();
        no_ops.push(took);
    }
    eprintln!("creation pass: {}", summary(&mut creations));
    eprintln!("no-op pass:    {}", summary(&mut no_ops));
    let calls: Vec<&str> = process
        .metrics
        .lines()
        .filter(|line| line.starts_with("metricsapp_aws_calls_total{"))
        .collect();
    eprintln!("AWS calls of one no-op pass:\n  {}", calls.join("\n  "));
    assert!(
        writes(&process.metrics).is_empty(),
        "a no-op pass writes nothing to AWS: {calls:#?}"
    );
}

fn summary(durations: &mut [Duration]) -> String {
    durations.sort();
    let at = |fraction: f64| durations[((durations.len() - 1) as f64 * fraction).round() as usize];
    format!(
        "n={} min {:?} median {:?} p90 {:?} max {:?}",
        durations.len(),
        durations[0],
        at(0.5),
        at(0.9),
        durations[durations.len() - 1]
    )
}

#[tokio::test]
async fn unreachable_aws_is_recoverable_and_retried_with_growing_backoff() {
    let app = MetricsApp::test().finalized();
    let mut process = Process::default();
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        no_aws().await,
        Scenario::TableFailure {
            app: app.clone(),
            reason: "AwsUnavailable",
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(2)));
    let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
    let table_ready = condition(&status, "TableReady");
    assert_eq!(table_ready["reason"], "AwsUnavailable");
    assert!(
        table_ready["message"]
            .as_str()
            .unwrap()
            .contains("retried with backoff"),
        "{table_ready}"
    );
    assert_eq!(condition(&status, "Terminal")["reason"], "Retrying");
    // A table that never existed: the app waits for it, and says so.
    assert_eq!(condition(&status, "Available")["reason"], "WaitingForTable");

    // The same failure again: no new Event, no status write, a longer wait.
    let (ctx, server) = context(no_aws().await, None);
    let server = server.run(Scenario::Nothing);
    let mut app = app;
    app.status = Some(patched_status(&exchanges));
    let app = std::sync::Arc::new(app);
    let delays: Vec<Action> =
        futures::future::join_all((0..3).map(|_| reconcile(app.clone(), ctx.clone())))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let mut seconds: Vec<u64> = delays
        .iter()
        .map(|action| {
            let text = format!("{action:?}");
            [2u64, 4, 8, 16]
                .into_iter()
                .find(|s| *s == 0 || text.contains(&format!("{s}s")))
                .unwrap_or(0)
        })
        .collect();
    seconds.sort();
    assert_eq!(seconds, [2, 4, 8], "{delays:?}");
    let metrics = ctx.metrics.encode().unwrap();
    assert!(
        metrics.contains(r#"metricsapp_reconcile_failures_total{reason="AwsUnavailable"} 3"#),
        "{metrics}"
    );
    drop(ctx);
    assert!(verify(server).await.is_empty());
}

/// The app's objects as the API server would hold them after earlier passes, each with
/// a resourceVersion, the Deployment available.
fn live_of(app: &MetricsApp) -> LiveObjects {
    let settings = crate::resources::AppSettings {
        region: "us-east-1".into(),
        name_prefix: String::new(),
    };
    let config_map = crate::resources::config_map(app, &settings).unwrap();
    let with_version = |mut value: Value| {
        value["metadata"]["resourceVersion"] = next_resource_version().into();
        value
    };
    LiveObjects {
        service_account: with_version(
            serde_json::to_value(crate::resources::service_account(app).unwrap()).unwrap(),
        ),
        deployment: with_version(
            serde_json::to_value(crate::resources::deployment(app, &config_map).unwrap()).unwrap(),
        ),
        config_map: with_version(serde_json::to_value(config_map).unwrap()),
        service: with_version(
            serde_json::to_value(crate::resources::service(app).unwrap()).unwrap(),
        ),
        secrets: Vec::new(),
        budget: crate::resources::disruption_budget(app)
            .unwrap()
            .map(|budget| with_version(serde_json::to_value(budget).unwrap())),
        policy: crate::resources::network_policy(app)
            .unwrap()
            .map(|policy| with_version(serde_json::to_value(policy).unwrap())),
    }
    .with_available_deployment(2)
}

/// An app whose table was created in an earlier pass (its ARN is in the status).
fn with_known_table(mut app: MetricsApp) -> MetricsApp {
    app.status = Some(crd::MetricsAppStatus {
        table: Some(crd::TableStatus {
            name: "team-metrics".into(),
            arn: Some("arn:aws:dynamodb:us-east-1:123456789012:table/team-metrics".into()),
            status: Some("ACTIVE".into()),
            ..crd::TableStatus::default()
        }),
        ..crd::MetricsAppStatus::default()
    });
    app
}

#[tokio::test]
async fn a_failing_table_does_not_hold_back_a_new_image() {
    let app = with_known_table(MetricsApp::test().finalized());
    let live = live_of(&app);
    let mut next = app.clone();
    next.spec.image = "ghcr.io/metricsapp/metrics-app:2".into();
    next.metadata.generation = Some(2);
    let (result, exchanges, _) = pass(
        next.clone(),
        no_aws().await,
        Scenario::Existing {
            live: live.clone(),
            writes: vec![
                // A new operator process re-applies what it has no record of; unchanged
                // objects keep their resourceVersion, so no Event.
                Expect::patch_answered(SERVICE_ACCOUNT_PATH, live.service_account.clone()),
                Expect::patch_answered(CONFIG_MAP_PATH, live.config_map.clone()),
                Expect::patch_answered(SERVICE_PATH, live.service.clone()),
                Expect::patch(DEPLOYMENT_PATH),
                Expect::event("DeploymentUpdated"),
                live.budget_apply(),
                live.policy_apply(),
                Expect::event("AwsUnavailable"),
                Expect::status(&next),
            ],
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(2)));
    assert_eq!(
        exchanges[3]
            .body
            .pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("ghcr.io/metricsapp/metrics-app:2"))
    );
    let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
    assert_eq!(condition(&status, "TableReady")["reason"], "AwsUnavailable");
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert!(status["table"]["arn"].is_string(), "what was known is kept");
}

#[tokio::test]
async fn a_service_the_cluster_refuses_is_reported_and_the_deployment_still_rolls() {
    let app = with_known_table(MetricsApp::test().finalized());
    let live = live_of(&app);
    let mut next = app.clone();
    next.spec.image = "ghcr.io/metricsapp/metrics-app:2".into();
    next.spec.service.port = 8081;
    next.metadata.generation = Some(2);
    let test = "a_service_the_cluster_refuses_is_reported_and_the_deployment_still_rolls";
    let Some(aws) = moto(test).await else {
        return;
    };
    // The table exists in moto (tagged with our uid), so only the Service fails.
    let next = next.with_table(&unique_table("refused"));
    create_table(&aws.dynamodb, &next).await;
    let (result, exchanges, _) = pass(
        next.clone(),
        aws,
        Scenario::Existing {
            live: live.clone(),
            writes: vec![
                Expect::patch_answered(SERVICE_ACCOUNT_PATH, live.service_account.clone()),
                Expect::patch_answered(CONFIG_MAP_PATH, live.config_map.clone()),
                Expect {
                    method: "PATCH",
                    path: SERVICE_PATH,
                    reason: None,
                    reply: Reply::Refused(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "Internal error occurred: failed to allocate a serviceIP: range is full",
                    ),
                },
                Expect::patch(DEPLOYMENT_PATH),
                Expect::event("DeploymentUpdated"),
                live.budget_apply(),
                live.policy_apply(),
                Expect::event("ServiceApplyFailed"),
                Expect::status(&next),
            ],
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(2)));
    let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
    let available = condition(&status, "Available");
    assert_eq!(available["status"], "False");
    assert_eq!(available["reason"], "ServiceApplyFailed");
    let message = available["message"].as_str().unwrap();
    assert!(message.contains("range is full"), "{message}");
    assert!(message.contains("retried with backoff"), "{message}");
    assert_eq!(condition(&status, "TableReady")["status"], "True");
    assert_eq!(condition(&status, "Ready")["reason"], "ServiceApplyFailed");
    assert_eq!(exchanges[7].body["type"], "Warning");
}

#[tokio::test]
async fn a_spec_that_bypassed_the_crd_rules_is_terminal_without_any_aws_call() {
    let mut app = MetricsApp::test().finalized();
    app.spec.table.billing_mode = crd::BillingMode::Provisioned;
    let (result, exchanges, _) = pass(
        app.clone(),
        no_aws().await,
        Scenario::TableFailure {
            app,
            reason: "InvalidSpec",
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
    let message = condition(&status, "TableReady")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("table.writeCapacity"), "{message}");
    assert!(message.contains("terminal"), "{message}");
}

/// Passes by one process until `done` holds for the status (at most `limit`), each
/// answered by an API server that accepts what a converging pass sends. Returns the app
/// with its last status, the live objects and every request received.
async fn converge(
    process: &mut Process,
    mut app: MetricsApp,
    aws: &AwsClients,
    mut live: Option<LiveObjects>,
    limit: usize,
    done: impl Fn(&MetricsAppStatus) -> bool,
) -> (MetricsApp, Option<LiveObjects>, Vec<Exchange>) {
    let mut all = Vec::new();
    for _ in 0..limit {
        let (ctx, server) = context(aws.clone(), live.as_ref());
        ctx.carry(process.memory.clone());
        let server = server.run_any(&app);
        let result = reconcile(std::sync::Arc::new(app.clone()), ctx.clone()).await;
        process.memory = ctx.remembered();
        drop(ctx);
        let exchanges = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server finishes")
            .expect("server task");
        if let Err(error) = result {
            let last = exchanges.last().map(Exchange::summary);
            panic!("the pass failed: {error} (last request: {last:?})");
        }
        if exchanges
            .iter()
            .any(|e| e.method == "PATCH" && e.path == DEPLOYMENT_PATH)
        {
            live = Some(
                LiveObjects::from_applies_over(live.as_ref(), &exchanges)
                    .with_available_deployment(2),
            );
        }
        if let Some(patch) = exchanges.iter().rev().find(|e| e.path == STATUS_PATH) {
            app.status = Some(serde_json::from_value(patch.response["status"].clone()).unwrap());
        }
        all.extend(exchanges);
        if app.status.as_ref().is_some_and(&done) {
            return (app, live, all);
        }
    }
    panic!("not converged after {limit} passes: {:#?}", app.status);
}

fn events(exchanges: &[Exchange]) -> Vec<String> {
    exchanges
        .iter()
        .filter(|e| e.path == EVENTS_PATH)
        .map(|e| e.body["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn functions_ready(status: &MetricsAppStatus) -> bool {
    status::find_condition(status, status::FUNCTIONS_READY).is_some_and(|c| c.status == "True")
        && status::is_ready(Some(status))
}

/// Successful AWS calls by operation, from the operator's own metrics.
fn aws_calls(metrics: &str) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for line in metrics.lines() {
        let Some(labels) = line.strip_prefix("metricsapp_aws_calls_total{") else {
            continue;
        };
        let operation = labels
            .split("operation=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default();
        let count: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        *calls.entry(operation.to_owned()).or_default() += count;
    }
    calls
}

fn writes(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|line| line.starts_with("metricsapp_aws_calls_total{"))
        .filter(|line| {
            ["Create", "Update", "Delete", "Put", "Tag", "Untag", "Add"]
                .iter()
                .any(|verb| line.contains(&format!("operation=\"{verb}")))
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_function_with_a_stream_trigger_is_created_updated_in_order_and_removed() {
    let test = "a_function_with_a_stream_trigger_is_created_updated_in_order_and_removed";
    let Some(endpoint) = metricsapp_testing::endpoint("MOTO_ENDPOINT", test) else {
        return;
    };
    let aws = aws_at(&endpoint).await;
    let config = metricsapp_testing::sdk_config(&endpoint).await;
    let role =
        metricsapp_testing::execution_role(&config, &metricsapp_testing::unique("rollup-role"))
            .await;
    let bucket = metricsapp_testing::unique("code");
    metricsapp_testing::bucket(&aws.s3, &bucket, true).await;
    metricsapp_testing::upload(
        &aws.s3,
        &bucket,
        "rollup.zip",
        metricsapp_testing::bootstrap_zip("1"),
    )
    .await;

    let table_name = unique_table("functions");
    let mut app = MetricsApp::test().finalized().with_table(&table_name);
    app.spec.table.stream = Some(crd::StreamViewType::NewAndOldImages);
    let mut rollup = function_spec("rollup");
    rollup.role_arn = role;
    // A name of its own: the tests share one moto server.
    let function_name = metricsapp_testing::unique("rollup");
    rollup.function_name = Some(function_name.clone());
    rollup.code.s3.as_mut().unwrap().bucket = bucket.clone();
    rollup.code.s3.as_mut().unwrap().key = "rollup.zip".into();
    rollup.trigger = Some(crd::FunctionTrigger {
        table_stream: Some(crd::TableStreamTrigger {
            batch_size: Some(10),
            starting_position: crd::StartingPosition::TrimHorizon,
            maximum_batching_window_seconds: None,
            maximum_retry_attempts: Some(2),
            bisect_batch_on_function_error: true,
            filter_patterns: Vec::new(),
        }),
    });
    app.spec.functions = vec![rollup];
    let mut process = Process::default();

    // The first pass, request by request: the table and the function are created in
    // AWS (each with its Event), then the app's objects, then one status write.
    let (result, first, _) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::Creation {
            app: app.clone(),
            aws_events: vec!["TableCreated", "FunctionCreated"],
        },
    )
    .await;
    assert_ne!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    let status = patched_status(&first);
    assert_eq!(status.functions_ready.as_deref(), Some("0/1"));
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(
        condition(&json, "FunctionsReady")["reason"],
        "FunctionsProgressing"
    );
    app.status = Some(status);
    let live = LiveObjects::from_applies(&first).with_available_deployment(2);

    // Then passes until Ready with 1/1: trigger, and nothing else left.
    let (app, live, exchanges) =
        converge(&mut process, app, &aws, Some(live), 8, functions_ready).await;
    let mut exchanges = exchanges;
    exchanges.splice(0..0, first);
    let reasons = events(&exchanges);
    for reason in [
        "TableCreated",
        "FunctionCreated",
        "TriggerCreated",
        "DeploymentCreated",
    ] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} in {reasons:?}"
        );
    }
    let status = app.status.clone().unwrap();
    assert_eq!(status.functions_ready.as_deref(), Some("1/1"));
    let function = &status.functions[0];
    assert_eq!(function.function_name, function_name);
    assert!(
        function.code_sha256.is_some() && function.code_source.is_some(),
        "{function:?}"
    );
    let uuid = function.mapping_uuid.clone().expect("mapping recorded");
    let mapping = aws
        .lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(
        mapping.event_source_arn(),
        status.table.as_ref().and_then(|t| t.stream_arn.as_deref()),
        "the trigger reads this app's own table stream"
    );
    let described = aws
        .lambda
        .get_function()
        .function_name(&function_name)
        .send()
        .await
        .unwrap();
    let environment = described
        .configuration()
        .and_then(|c| c.environment())
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        environment.get(crate::function::TABLE_ENV),
        Some(&table_name)
    );

    // At rest: not one request to the API server, not one AWS write, and one AWS read
    // per resource; once the full-read period is over each is read in full, and still
    // nothing is written.
    let at_rest = |memory: Memory| {
        let (app, aws, live) = (app.clone(), aws.clone(), live.clone());
        async move {
            let (ctx, server) = context(aws, live.as_ref());
            ctx.carry(memory);
            let server = server.run(Scenario::Nothing);
            reconcile(std::sync::Arc::new(app), ctx.clone())
                .await
                .unwrap();
            let metrics = ctx.metrics.encode().unwrap();
            drop(ctx);
            assert!(verify(server).await.is_empty());
            assert!(writes(&metrics).is_empty(), "{:#?}", writes(&metrics));
            aws_calls(&metrics)
        }
    };
    let full = at_rest(process.memory.without_aws()).await;
    eprintln!("AWS calls of a full pass at rest (table + one function with a trigger): {full:?}");
    assert!(full.len() > 2, "{full:?}");
    assert_eq!(
        at_rest(process.memory.clone()).await,
        BTreeMap::from([
            ("DescribeTable".to_owned(), 1),
            ("GetFunction".to_owned(), 1)
        ]),
        "a pass at rest reads each resource once"
    );

    // A new zip under the same key, and more memory, in one change: code first, then
    // configuration, each on its own pass, never both at once.
    metricsapp_testing::upload(
        &aws.s3,
        &bucket,
        "rollup.zip",
        metricsapp_testing::bootstrap_zip("2"),
    )
    .await;
    let mut next = app.clone();
    next.spec.functions[0].memory_mb = 256;
    next.metadata.generation = Some(2);
    let (next, live, exchanges) = converge(&mut process, next, &aws, live, 8, |status| {
        functions_ready(status) && status.observed_generation == Some(2)
    })
    .await;
    let reasons = events(&exchanges);
    let code = reasons
        .iter()
        .position(|r| r == "FunctionCodeUpdated")
        .expect("code updated");
    let configuration = reasons
        .iter()
        .position(|r| r == "FunctionConfigurationUpdated")
        .expect("configuration updated");
    assert!(code < configuration, "{reasons:?}");
    let described = aws
        .lambda
        .get_function()
        .function_name(&function_name)
        .send()
        .await
        .unwrap();
    let configuration = described.configuration().unwrap();
    assert_eq!(configuration.memory_size(), Some(256));
    assert_ne!(
        configuration.code_sha256(),
        function.code_sha256.as_deref(),
        "the new object runs"
    );

    // Removed from the spec: deleted with its trigger, gone from the status.
    let mut removed = next.clone();
    removed.spec.functions.clear();
    removed.metadata.generation = Some(3);
    let (removed, _, exchanges) = converge(&mut process, removed, &aws, live, 4, |status| {
        status.functions.is_empty() && status::is_ready(Some(status))
    })
    .await;
    assert!(events(&exchanges).iter().any(|r| r == "FunctionDeleted"));
    assert!(removed.status.unwrap().functions_ready.is_none());
    let gone = aws
        .lambda
        .get_function()
        .function_name(&function_name)
        .send()
        .await;
    assert!(gone.is_err(), "the function must be deleted: {gone:?}");
}

#[tokio::test]
async fn a_new_image_that_never_becomes_ready_is_rolled_back_to_the_last_good_one() {
    let test = "a_new_image_that_never_becomes_ready_is_rolled_back_to_the_last_good_one";
    let Some(aws) = moto(test).await else {
        return;
    };
    let good = "ghcr.io/metricsapp/metrics-app:1";
    let broken = "ghcr.io/metricsapp/metrics-app:2";
    let mut app =
        with_known_table(MetricsApp::test().finalized()).with_table(&unique_table("rollback"));
    create_table(&aws.dynamodb, &app).await;
    app.status.as_mut().unwrap().image = Some(good.into());
    app.spec.image = broken.into();
    app.metadata.generation = Some(2);
    // The Deployment runs the broken image and gave up waiting for it.
    let mut live = live_of(&app);
    live.deployment["metadata"]["generation"] = 2.into();
    live.deployment["status"] = serde_json::json!({
        "observedGeneration": 2, "replicas": 3, "readyReplicas": 2, "updatedReplicas": 1,
        "availableReplicas": 2,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"metrics-2\" has timed out progressing."},
        ],
    });
    let (result, exchanges, _) = pass(
        app.clone(),
        aws.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![
                Expect::event("RolledBack"),
                Expect::patch_answered(SERVICE_ACCOUNT_PATH, live.service_account.clone()),
                Expect::patch_answered(CONFIG_MAP_PATH, live.config_map.clone()),
                Expect::patch_answered(SERVICE_PATH, live.service.clone()),
                Expect::patch(DEPLOYMENT_PATH),
                Expect::event("DeploymentUpdated"),
                live.budget_apply(),
                live.policy_apply(),
                Expect::status(&app),
            ],
        },
    )
    .await;
    result.unwrap();
    assert_eq!(exchanges[0].body["type"], "Warning");
    assert_eq!(
        exchanges[4]
            .body
            .pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from(good)),
        "the last good image is applied"
    );
    assert_eq!(
        exchanges[4].body.pointer("/spec/progressDeadlineSeconds"),
        Some(&Value::from(600))
    );
    let status = patched_status(&exchanges);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(condition(&json, "Ready")["reason"], "RolledBack");
    let rollback = status.rollback.clone().expect("recorded");
    assert_eq!(
        (
            rollback.failed_image.as_str(),
            rollback.restored_image.as_str()
        ),
        (broken, good)
    );

    // The next pass (by a new operator process, which re-applies what it has no record
    // of) keeps the good image and reports nothing new; only a new spec ends the
    // rollback.
    let mut after = app.clone();
    after.status = Some(status);
    let mut live = live.clone();
    live.deployment = exchanges[4].response.clone();
    let (result, exchanges, _) = pass(
        after.clone(),
        aws.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![
                Expect::patch_answered(SERVICE_ACCOUNT_PATH, live.service_account.clone()),
                Expect::patch_answered(CONFIG_MAP_PATH, live.config_map.clone()),
                Expect::patch_answered(SERVICE_PATH, live.service.clone()),
                Expect::patch_answered(DEPLOYMENT_PATH, live.deployment.clone()),
                live.budget_apply(),
                live.policy_apply(),
            ],
        },
    )
    .await;
    result.unwrap();
    assert_eq!(
        exchanges[3]
            .body
            .pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from(good))
    );
    // No new Event and no status write: the status already says RolledBack.
}

#[tokio::test]
async fn what_the_administrator_does_not_allow_is_a_terminal_condition_naming_the_flag() {
    // Adoption is off by default: nothing is asked of AWS, the table part says why.
    let mut app = MetricsApp::test().finalized();
    app.spec.table.adopt = true;
    let (result, exchanges, _) = pass(
        app.clone(),
        no_aws().await,
        Scenario::TableFailure {
            app: app.clone(),
            reason: "NotAllowed",
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
    let table_ready = condition(&status, "TableReady");
    assert_eq!(table_ready["reason"], "NotAllowed");
    assert!(
        table_ready["message"]
            .as_str()
            .unwrap()
            .contains("--allow-adopt"),
        "{table_ready}"
    );
    assert_eq!(condition(&status, "Terminal")["status"], "True");

    // A LoadBalancer is not applied (the Service stays as it is); the rest of the app
    // still is.
    let mut app = with_known_table(MetricsApp::test().finalized());
    let live = live_of(&app);
    app.spec.service.type_ = crd::ServiceType::LoadBalancer;
    app.metadata.generation = Some(2);
    let (result, exchanges, _) = pass(
        app.clone(),
        no_aws().await,
        Scenario::Existing {
            live: live.clone(),
            writes: vec![
                Expect::patch_answered(SERVICE_ACCOUNT_PATH, live.service_account.clone()),
                Expect::patch_answered(CONFIG_MAP_PATH, live.config_map.clone()),
                Expect::patch_answered(DEPLOYMENT_PATH, live.deployment.clone()),
                live.budget_apply(),
                live.policy_apply(),
                Expect::event("AwsUnavailable"),
                Expect::event("NotAllowed"),
                Expect::status(&app),
            ],
        },
    )
    .await;
    result.unwrap();
    let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
    let available = condition(&status, "Available");
    assert_eq!(available["reason"], "NotAllowed");
    let message = available["message"].as_str().unwrap();
    assert!(message.contains("service.type: LoadBalancer"), "{message}");
    assert!(message.contains("--allowed-service-types"), "{message}");
}

#[tokio::test]
async fn the_token_secret_is_created_once_and_never_overwritten() {
    let mut app = with_known_table(MetricsApp::test().finalized());
    app.spec.auth.mode = crd::AuthMode::Token;
    let live = live_of(&app);
    let create_secret = |reply| Expect {
        method: "POST",
        path: SECRETS_PATH,
        reason: None,
        reply,
    };
    let unchanged = |live: &LiveObjects| {
        vec![
            Expect::patch_answered(SERVICE_ACCOUNT_PATH, live.service_account.clone()),
            Expect::patch_answered(CONFIG_MAP_PATH, live.config_map.clone()),
            Expect::patch_answered(SERVICE_PATH, live.service.clone()),
        ]
    };
    let mut process = Process::default();
    let mut writes = unchanged(&live);
    writes.extend([
        create_secret(Reply::Echo),
        Expect::event("AuthSecretCreated"),
        Expect::patch_answered(DEPLOYMENT_PATH, live.deployment.clone()),
        live.budget_apply(),
        live.policy_apply(),
        Expect::event("AwsUnavailable"),
        Expect::status(&app),
    ]);
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        no_aws().await,
        Scenario::Existing {
            live: live.clone(),
            writes,
        },
    )
    .await;
    result.unwrap();
    let secret = exchanges[3].body.clone();
    assert_eq!(secret["metadata"]["name"], "metrics-auth");
    assert_eq!(
        secret["metadata"]["labels"]["metricsapp.dev/tokens"],
        "generated"
    );
    let token = secret["stringData"]["admin-token"].as_str().unwrap();
    let tokens = secret["stringData"]["tokens"].as_str().unwrap();
    let key = secret["stringData"]["session-key"].as_str().unwrap();
    assert!(
        tokens.starts_with("admin admin ") && !tokens.contains(token),
        "{tokens}"
    );
    assert_eq!(key.len(), 64, "32 random bytes, hex");
    assert!(
        !tokens.contains(key),
        "the key is not derived from the token file"
    );
    let note = exchanges[4].body["note"].as_str().unwrap();
    assert!(
        !note.contains(token) && !note.contains(key),
        "no secret in an Event: {note}"
    );
    let deployment = &exchanges[5].body;
    assert_eq!(
        deployment.pointer("/spec/template/spec/volumes/1/secret/secretName"),
        Some(&Value::from("metrics-auth"))
    );
    assert_eq!(
        deployment.pointer("/spec/template/spec/volumes/1/secret/items/1/key"),
        Some(&Value::from("session-key"))
    );

    // Once the watch holds it, no pass asks again, in this process or a new one (which
    // applies its Deployment once, knowing nothing of the last apply).
    let live = live.with_secret(secret.clone());
    app.status = Some(patched_status(&exchanges));
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        no_aws().await,
        Scenario::Existing {
            live: live.clone(),
            writes: vec![],
        },
    )
    .await;
    result.unwrap();
    assert!(exchanges.is_empty(), "{exchanges:?}");
    let mut writes = unchanged(&live);
    writes.extend([
        Expect::patch_answered(DEPLOYMENT_PATH, live.deployment.clone()),
        live.budget_apply(),
        live.policy_apply(),
    ]);
    let (result, _, _) = pass(
        app.clone(),
        no_aws().await,
        Scenario::Existing {
            live: live.clone(),
            writes,
        },
    )
    .await;
    result.unwrap();

    // The session key deleted from the Secret (to sign everyone out): a new one is added,
    // and nothing else of the Secret is written.
    let mut without_key = secret.clone();
    without_key["stringData"]
        .as_object_mut()
        .unwrap()
        .remove("session-key");
    let live = LiveObjects {
        secrets: Vec::new(),
        ..live
    }
    .with_secret(without_key);
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        no_aws().await,
        Scenario::Existing {
            live: live.clone(),
            writes: vec![
                Expect::patch(SECRET_PATH),
                Expect::event("SessionKeyGenerated"),
            ],
        },
    )
    .await;
    result.unwrap();
    let patch = &exchanges[0].body;
    let new_key = patch["stringData"]["session-key"].as_str().unwrap();
    assert!(new_key.len() == 64 && new_key != key, "{patch}");
    assert_eq!(patch.as_object().unwrap().len(), 1, "only the key: {patch}");
    let note = exchanges[1].body["note"].as_str().unwrap();
    assert!(note.contains("every earlier session has ended") && !note.contains(new_key));
}

#[tokio::test]
async fn a_token_secret_without_a_session_key_holds_the_deployment_back() {
    let mut app = with_known_table(MetricsApp::test().finalized());
    app.spec.auth.mode = crd::AuthMode::Token;
    app.spec.auth.token_secret_ref = Some(crd::SecretRef {
        name: "team-tokens".into(),
    });
    let live = live_of(&app);
    let objects = |live: &LiveObjects| {
        vec![
            Expect::patch_answered(SERVICE_ACCOUNT_PATH, live.service_account.clone()),
            Expect::patch_answered(CONFIG_MAP_PATH, live.config_map.clone()),
            Expect::patch_answered(SERVICE_PATH, live.service.clone()),
        ]
    };
    let team_tokens = |data: Value| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "team-tokens", "namespace": "team",
                         "labels": {"metricsapp.dev/tokens": "true"}},
            "stringData": data,
        })
    };
    // Not labelled (or missing), then labelled without a session key: the Deployment is
    // not applied, no Secret is written, and the condition says what to do.
    for (live, says) in [
        (
            live.clone(),
            "kubectl label secret team-tokens metricsapp.dev/tokens=true",
        ),
        (
            live.clone()
                .with_secret(team_tokens(serde_json::json!({"tokens": "ada admin 00"}))),
            "has no session-key: kubectl patch secret team-tokens",
        ),
    ] {
        let mut writes = objects(&live);
        writes.extend([
            live.budget_apply(),
            live.policy_apply(),
            Expect::event("AwsUnavailable"),
            Expect::event("AuthSecretIncomplete"),
            Expect::status(&app),
        ]);
        let (result, exchanges, _) = pass(
            app.clone(),
            no_aws().await,
            Scenario::Existing { live, writes },
        )
        .await;
        result.unwrap();
        let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
        let available = condition(&status, "Available");
        assert_eq!(available["reason"], "AuthSecretIncomplete");
        let message = available["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    // With both keys the Deployment is applied as usual.
    let live = live.with_secret(team_tokens(
        serde_json::json!({"tokens": "ada admin 00", "session-key": "ab"}),
    ));
    let mut writes = objects(&live);
    writes.extend([
        Expect::patch_answered(DEPLOYMENT_PATH, live.deployment.clone()),
        live.budget_apply(),
        live.policy_apply(),
        Expect::event("AwsUnavailable"),
        Expect::status(&app),
    ]);
    let (result, _, _) = pass(
        app.clone(),
        no_aws().await,
        Scenario::Existing { live, writes },
    )
    .await;
    result.unwrap();
}

/// One pass of `process` over `live`, expecting `writes`; returns what was sent.
async fn pass_over(
    process: &mut Process,
    app: &MetricsApp,
    live: &LiveObjects,
    writes: Vec<Expect>,
) -> Vec<Exchange> {
    let (result, exchanges, _) = pass_in(
        process,
        app.clone(),
        no_aws().await,
        Scenario::Existing {
            live: live.clone(),
            writes,
        },
    )
    .await;
    result.unwrap();
    exchanges
}

/// A new process's first pass over `live`, which is as `app` wants it: the process
/// applies everything once (it knows nothing of earlier applies), AWS is unreachable.
/// Returns the status it patched.
async fn first_pass_over(
    process: &mut Process,
    app: &MetricsApp,
    live: &LiveObjects,
) -> MetricsAppStatus {
    let exchanges = pass_over(
        process,
        app,
        live,
        vec![
            Expect::patch_answered(SERVICE_ACCOUNT_PATH, live.service_account.clone()),
            Expect::patch_answered(CONFIG_MAP_PATH, live.config_map.clone()),
            Expect::patch_answered(SERVICE_PATH, live.service.clone()),
            Expect::patch_answered(DEPLOYMENT_PATH, live.deployment.clone()),
            live.budget_apply(),
            live.policy_apply(),
            Expect::event("AwsUnavailable"),
            Expect::status(app),
        ],
    )
    .await;
    patched_status(&exchanges)
}

/// `object` as edited by hand: `edit` applied, with the new resourceVersion the API
/// server gives it.
fn edited(object: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut object = object.clone();
    edit(&mut object);
    object["metadata"]["resourceVersion"] = next_resource_version().into();
    object
}

#[tokio::test]
async fn every_child_edited_by_hand_is_put_back_with_no_foreign_item_left() {
    let mut app = with_known_table(MetricsApp::test().finalized());
    let live = live_of(&app);
    let mut process = Process::default();
    app.status = Some(first_pass_over(&mut process, &app, &live).await);
    assert!(
        pass_over(&mut process, &app, &live, vec![])
            .await
            .is_empty(),
        "at rest: no request"
    );
    let note = |exchanges: &[Exchange]| {
        let event = &exchanges.last().unwrap().body;
        assert_eq!(event["type"], "Warning");
        assert_eq!(event["reason"], "DriftCorrected");
        event["note"].as_str().unwrap().to_owned()
    };

    // The Service's port replaced by hand (`kubectl patch --type json`): the forced apply
    // adds the spec's port beside the foreign one; the list is then set whole.
    let hand = edited(&live.service, |s| {
        s["spec"]["ports"][0]["port"] = 8999.into()
    });
    let both = edited(&hand, |s| {
        let mut ports = s["spec"]["ports"].as_array().unwrap().clone();
        ports.push(live.service["spec"]["ports"][0].clone());
        s["spec"]["ports"] = Value::Array(ports);
    });
    let fixed = edited(&live.service, |_| {});
    let live_edited = LiveObjects {
        service: hand.clone(),
        ..live.clone()
    };
    let exchanges = pass_over(
        &mut process,
        &app,
        &live_edited,
        vec![
            Expect::patch_answered(SERVICE_PATH, both),
            Expect::patch_answered(SERVICE_PATH, fixed.clone()),
            Expect::event("DriftCorrected"),
        ],
    )
    .await;
    assert_eq!(
        exchanges[0].body["spec"]["ports"][0]["port"], 80,
        "the apply"
    );
    assert_eq!(
        exchanges[1].body,
        json!({"spec": {"ports": live.service["spec"]["ports"]}}),
        "a merge patch that sets the ports whole"
    );
    let said = note(&exchanges);
    assert!(
        said.contains("Service metrics") && said.contains("spec.ports had 8999/TCP"),
        "{said}"
    );
    let live = LiveObjects {
        service: fixed,
        ..live
    };
    assert!(
        pass_over(&mut process, &app, &live, vec![])
            .await
            .is_empty()
    );

    // Where the merged object would be invalid (a second port named `http`), the ports
    // are set whole first, then the apply is sent again.
    let hand = edited(&live.service, |s| {
        s["spec"]["ports"][0]["port"] = 8998.into()
    });
    let fixed = edited(&live.service, |_| {});
    let exchanges = pass_over(
        &mut process,
        &app,
        &LiveObjects {
            service: hand,
            ..live.clone()
        },
        vec![
            Expect {
                method: "PATCH",
                path: SERVICE_PATH,
                reason: None,
                reply: Reply::Refused(
                    http::StatusCode::UNPROCESSABLE_ENTITY,
                    "Service \"metrics\" is invalid: spec.ports[1].name: Duplicate value: \"http\"",
                ),
            },
            Expect::patch_answered(SERVICE_PATH, fixed.clone()),
            Expect::patch_answered(SERVICE_PATH, fixed.clone()),
            Expect::event("DriftCorrected"),
        ],
    )
    .await;
    assert_eq!(
        exchanges[1].body,
        json!({"spec": {"ports": live.service["spec"]["ports"]}})
    );
    assert!(note(&exchanges).contains("spec.ports set whole"));
    let live = LiveObjects {
        service: fixed,
        ..live
    };

    // A deleted label and a changed targetPort: the apply puts both back.
    let hand = edited(&live.service, |s| {
        s["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("app.kubernetes.io/name");
        s["spec"]["ports"][0]["targetPort"] = 9090.into();
    });
    let fixed = edited(&live.service, |_| {});
    let exchanges = pass_over(
        &mut process,
        &app,
        &LiveObjects {
            service: hand,
            ..live.clone()
        },
        vec![
            Expect::patch_answered(SERVICE_PATH, fixed.clone()),
            Expect::event("DriftCorrected"),
        ],
    )
    .await;
    let applied = &exchanges[0].body;
    assert_eq!(applied["spec"]["ports"][0]["targetPort"], "http");
    assert!(applied["metadata"]["labels"]["app.kubernetes.io/name"].is_string());
    assert!(note(&exchanges).contains("changed outside the operator"));
    let live = LiveObjects {
        service: fixed,
        ..live
    };

    // A setting added to the ConfigMap by hand is removed; a changed one is put back.
    let hand = edited(&live.config_map, |c| {
        c["data"]["METRICS_APP_WRITE_RATE"] = "100000".into();
        c["data"]["METRICS_APP_AUTH"] = "none".into();
    });
    let applied_back = edited(&hand, |c| {
        c["data"]["METRICS_APP_AUTH"] = live.config_map["data"]["METRICS_APP_AUTH"].clone();
    });
    let fixed = edited(&live.config_map, |_| {});
    let exchanges = pass_over(
        &mut process,
        &app,
        &LiveObjects {
            config_map: hand,
            ..live.clone()
        },
        vec![
            Expect::patch_answered(CONFIG_MAP_PATH, applied_back),
            Expect::patch_answered(CONFIG_MAP_PATH, fixed.clone()),
            Expect::event("DriftCorrected"),
        ],
    )
    .await;
    assert_eq!(
        exchanges[1].body,
        json!({"data": {"METRICS_APP_WRITE_RATE": null}})
    );
    assert!(note(&exchanges).contains("data had METRICS_APP_WRITE_RATE not in the spec"));
    let live = LiveObjects {
        config_map: fixed,
        ..live
    };

    // A label of the ServiceAccount changed by hand: applied again.
    let hand = edited(&live.service_account, |a| {
        a["metadata"]["labels"]["app.kubernetes.io/name"] = "other".into();
    });
    let fixed = edited(&live.service_account, |_| {});
    let exchanges = pass_over(
        &mut process,
        &app,
        &LiveObjects {
            service_account: hand,
            ..live.clone()
        },
        vec![
            Expect::patch_answered(SERVICE_ACCOUNT_PATH, fixed.clone()),
            Expect::event("DriftCorrected"),
        ],
    )
    .await;
    assert!(note(&exchanges).contains("ServiceAccount metrics"));
    let live = LiveObjects {
        service_account: fixed,
        ..live
    };

    // The Deployment's container renamed by hand: the spec's container comes back and
    // the renamed one goes.
    let hand = edited(&live.deployment, |d| {
        d["spec"]["template"]["spec"]["containers"][0]["name"] = "renamed".into();
    });
    let both = edited(&hand, |d| {
        let mut containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .clone();
        containers.push(live.deployment["spec"]["template"]["spec"]["containers"][0].clone());
        d["spec"]["template"]["spec"]["containers"] = Value::Array(containers);
    });
    let fixed = edited(&live.deployment, |_| {});
    let exchanges = pass_over(
        &mut process,
        &app,
        &LiveObjects {
            deployment: hand,
            ..live.clone()
        },
        vec![
            Expect::patch_answered(DEPLOYMENT_PATH, both),
            Expect::patch_answered(DEPLOYMENT_PATH, fixed.clone()),
            Expect::event("DriftCorrected"),
        ],
    )
    .await;
    assert_eq!(
        exchanges[1]
            .body
            .pointer("/spec/template/spec/containers/0/name"),
        Some(&Value::from("metrics-app"))
    );
    assert!(note(&exchanges).contains("containers had renamed not in the spec"));
}

#[tokio::test]
async fn an_autoscaler_owns_the_replicas_and_the_budget_follows_the_fewest_pods() {
    let mut app = with_known_table(MetricsApp::test().finalized());
    let live = live_of(&app);
    let mut process = Process::default();
    app.status = Some(first_pass_over(&mut process, &app, &live).await);

    // Autoscaling 1..6: the Deployment is applied without `replicas` (so the autoscaler's
    // count is never put back), the autoscaler is created, and one pod needs no budget.
    let mut scaled = app.clone();
    scaled.spec.autoscaling = Some(crd::AutoscalingSpec {
        min_replicas: 1,
        max_replicas: 6,
        target_cpu_utilization_percentage: 70,
        target_memory_utilization_percentage: None,
    });
    scaled.metadata.generation = Some(2);
    let exchanges = pass_over(
        &mut process,
        &scaled,
        &live,
        vec![
            Expect::patch(DEPLOYMENT_PATH),
            Expect::event("DeploymentUpdated"),
            Expect::patch("/apis/autoscaling/v2/namespaces/team/horizontalpodautoscalers/metrics"),
            Expect::event("HorizontalPodAutoscalerCreated"),
            Expect {
                method: "DELETE",
                path: BUDGET_PATH,
                reason: None,
                reply: Reply::Json(json!({"kind": "Status", "status": "Success"})),
            },
            Expect::event("PodDisruptionBudgetDeleted"),
            Expect::status(&scaled),
        ],
    )
    .await;
    let deployment = &exchanges[0].body;
    assert!(deployment["spec"].get("replicas").is_none(), "{deployment}");
    let autoscaler = &exchanges[2].body;
    assert_eq!(autoscaler["spec"]["minReplicas"], 1);
    assert_eq!(autoscaler["spec"]["maxReplicas"], 6);
    assert_eq!(autoscaler["spec"]["scaleTargetRef"]["name"], "metrics");
    assert!(
        exchanges[5].body["note"]
            .as_str()
            .unwrap()
            .contains("no longer asks")
    );
}

/// A MetricsApp with a table streaming to one function triggered by it, all named after
/// `prefix` and `index` (the tests share one moto server).
fn app_with_triggered_function(prefix: &str, index: usize, role: &str, bucket: &str) -> MetricsApp {
    let mut app = MetricsApp::test()
        .finalized()
        .with_table(&format!("{prefix}-{index}"));
    app.spec.table.stream = Some(crd::StreamViewType::NewAndOldImages);
    let mut rollup = function_spec("rollup");
    rollup.role_arn = role.to_owned();
    rollup.function_name = Some(format!("{prefix}-fn-{index}"));
    rollup.code.s3.as_mut().unwrap().bucket = bucket.to_owned();
    rollup.code.s3.as_mut().unwrap().key = "rollup.zip".into();
    rollup.trigger = Some(crd::FunctionTrigger {
        table_stream: Some(crd::TableStreamTrigger {
            batch_size: Some(10),
            starting_position: crd::StartingPosition::TrimHorizon,
            maximum_batching_window_seconds: None,
            maximum_retry_attempts: Some(2),
            bisect_batch_on_function_error: true,
            filter_patterns: Vec::new(),
        }),
    });
    app.spec.functions = vec![rollup];
    app
}

/// `apps` apps made Ready through passes back to back (the operator's backoff between
/// them is not what is tested here) with half of all AWS requests failing: throttles and
/// 500s in each service's own shape, some 500s after AWS acted. Then exactly one table,
/// function and trigger each, and Ready held through passes at rest with the faults on.
async fn converge_with_half_of_all_calls_failing(
    test: &str,
    apps: usize,
    retry: aws_config::retry::RetryConfig,
) {
    let Some(endpoint) = metricsapp_testing::endpoint("MOTO_ENDPOINT", test) else {
        return;
    };
    let plain = aws_at(&endpoint).await;
    let config = metricsapp_testing::sdk_config(&endpoint).await;
    let role =
        metricsapp_testing::execution_role(&config, &metricsapp_testing::unique("faults-role"))
            .await;
    let bucket = metricsapp_testing::unique("faults-code");
    metricsapp_testing::bucket(&plain.s3, &bucket, true).await;
    metricsapp_testing::upload(
        &plain.s3,
        &bucket,
        "rollup.zip",
        metricsapp_testing::bootstrap_zip("1"),
    )
    .await;
    let prefix = metricsapp_testing::unique("faults");
    let faults = crate::faults::Faults::new(26, 50, crate::faults::Mix::ThrottlesAndErrors);
    let aws = crate::faults::faulty_clients(&endpoint, &faults, retry).await;
    let count =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);

    let started = Instant::now();
    let converged = futures::future::join_all((0..apps).map(|index| {
        let app = app_with_triggered_function(&prefix, index, &role, &bucket);
        let aws = aws.clone();
        async move {
            let mut process = Process::default();
            let (app, live, exchanges) =
                converge(&mut process, app, &aws, None, 40, functions_ready).await;
            let passes = exchanges.iter().filter(|e| e.path == STATUS_PATH).count();
            (process, app, live, passes)
        }
    }))
    .await;
    eprintln!(
        "{apps} apps Ready in {:?}: {} of {} AWS requests failed ({} throttled, {} 500s of which {} after AWS acted); status writes per app: {:?}",
        started.elapsed(),
        faults.injected(),
        faults.requests(),
        count(&faults.throttled),
        count(&faults.failed) + count(&faults.failed_after),
        count(&faults.failed_after),
        converged
            .iter()
            .map(|(.., passes)| *passes)
            .collect::<Vec<_>>(),
    );

    // Exactly one table, function and trigger each: no retry made a second one.
    let tables: Vec<String> = plain
        .dynamodb
        .list_tables()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(Result::unwrap)
        .filter(|name| name.starts_with(&format!("{prefix}-")))
        .collect();
    assert_eq!(tables.len(), apps, "{tables:?}");
    let functions: Vec<String> = plain
        .lambda
        .list_functions()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|function| function.unwrap().function_name.unwrap_or_default())
        .filter(|name| name.starts_with(&format!("{prefix}-fn-")))
        .collect();
    assert_eq!(functions.len(), apps, "{functions:?}");
    for (_, app, ..) in &converged {
        let status = app.status.as_ref().unwrap();
        let function = &status.functions[0];
        let mappings = plain
            .lambda
            .list_event_source_mappings()
            .function_name(&function.function_name)
            .send()
            .await
            .unwrap();
        let mappings = mappings.event_source_mappings();
        assert_eq!(
            mappings.len(),
            1,
            "{}: {mappings:?}",
            function.function_name
        );
        assert_eq!(
            mappings[0].event_source_arn(),
            status.table.as_ref().and_then(|t| t.stream_arn.as_deref()),
        );
        assert_eq!(mappings[0].uuid(), function.mapping_uuid.as_deref());
    }

    // At rest, faults still on: every pass keeps Ready; what fails shows on Synced.
    let (requests, started) = (faults.requests(), Instant::now());
    let synced_false = futures::future::join_all(converged.into_iter().map(
        |(mut process, mut app, live, _)| {
            let aws = aws.clone();
            async move {
                let mut synced_false = 0;
                for _ in 0..3 {
                    let (ctx, server) = context(aws.clone(), live.as_ref());
                    ctx.carry(process.memory.clone());
                    let server = server.run_any(&app);
                    reconcile(std::sync::Arc::new(app.clone()), ctx.clone())
                        .await
                        .unwrap();
                    process.memory = ctx.remembered();
                    drop(ctx);
                    let exchanges = server.await.unwrap();
                    let summaries: Vec<String> = exchanges.iter().map(Exchange::summary).collect();
                    assert!(
                        exchanges
                            .iter()
                            .all(|e| e.path == STATUS_PATH || e.path == EVENTS_PATH),
                        "{summaries:?}"
                    );
                    if let Some(patch) = exchanges.iter().rev().find(|e| e.path == STATUS_PATH) {
                        app.status =
                            Some(serde_json::from_value(patch.response["status"].clone()).unwrap());
                    }
                    let status = app.status.as_ref().unwrap();
                    assert!(status::is_ready(Some(status)), "{:#?}", status.conditions);
                    synced_false += usize::from(
                        status::find_condition(status, status::SYNCED)
                            .is_some_and(|c| c.status == "False"),
                    );
                }
                synced_false
            }
        },
    ))
    .await;
    eprintln!(
        "at rest: {} passes in {:?}, {} AWS requests, {} passes ended with Synced=False, Ready held in every one",
        apps * 3,
        started.elapsed(),
        faults.requests() - requests,
        synced_false.iter().sum::<usize>(),
    );
}

/// The SDK's standard retry mode with the operator's attempts and retry quota: the
/// adaptive mode's rate limiter answers throttles that do not depend on the rate (as
/// these are) by sending at half a request a second, which the next test measures. The
/// first backoff is 250 ms rather than the SDK's 1 s, to keep the test under a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_apps_converge_with_half_of_all_aws_calls_failing_and_stay_ready() {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(250))
        .with_max_backoff(Duration::from_secs(5));
    converge_with_half_of_all_calls_failing(
        "twenty_apps_converge_with_half_of_all_aws_calls_failing_and_stay_ready",
        20,
        retry,
    )
    .await;
}

/// The operator's own retry configuration (adaptive); about six minutes for twenty apps,
/// so not in the test command: `cargo nextest run --run-ignored only adaptive`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "about six minutes: the adaptive rate limiter sends half a request a second"]
async fn twenty_apps_converge_with_the_adaptive_retry_mode_and_half_of_all_calls_failing() {
    converge_with_half_of_all_calls_failing(
        "twenty_apps_converge_with_the_adaptive_retry_mode_and_half_of_all_calls_failing",
        20,
        crate::aws_calls::retry_config(8),
    )
    .await;
}

/// One attempt per call, so that a throttled read fails the pass at once.
#[tokio::test]
async fn a_ready_app_stays_ready_through_a_throttled_read_until_the_grace_period_is_over() {
    let test = "a_ready_app_stays_ready_through_a_throttled_read_until_the_grace_period_is_over";
    let Some(endpoint) = metricsapp_testing::endpoint("MOTO_ENDPOINT", test) else {
        return;
    };
    let faults = crate::faults::Faults::new(7, 0, crate::faults::Mix::Throttles);
    let aws =
        crate::faults::faulty_clients(&endpoint, &faults, crate::aws_calls::retry_config(1)).await;
    let app = MetricsApp::test()
        .finalized()
        .with_table(&unique_table("grace"));
    let mut process = Process::default();
    let (mut app, live, _) = converge(&mut process, app, &aws, None, 6, |status| {
        status::is_ready(Some(status))
    })
    .await;
    let live = live.unwrap();
    let ready_before = status::find_condition(app.status.as_ref().unwrap(), status::READY)
        .unwrap()
        .clone();

    // The one read of a settled table is throttled: Ready and TableReady stay, Synced
    // says why, one Event.
    faults.set_percent(100);
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![Expect::event("Throttled"), Expect::status(&app)],
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(2)));
    let throttled = patched_status(&exchanges);
    assert_eq!(
        status::find_condition(&throttled, status::READY),
        Some(&ready_before)
    );
    assert_eq!(
        status::find_condition(&throttled, status::TABLE_READY).map(|c| c.status.as_str()),
        Some("True")
    );
    let synced = status::find_condition(&throttled, status::SYNCED).unwrap();
    assert_eq!(
        (synced.status.as_str(), synced.reason.as_str()),
        ("False", "Throttled")
    );
    assert!(
        synced.message.contains("DescribeTable")
            && synced
                .message
                .contains("Rate of requests exceeds the allowed throughput"),
        "{}",
        synced.message
    );
    app.status = Some(throttled);

    // Throttled again: nothing to write, no second Event.
    let (result, _, _) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![],
        },
    )
    .await;
    assert!(result.is_ok());

    // Past the grace period (Synced turned False 11 minutes ago): Ready turns False.
    let mut late = app.clone();
    let status = late.status.as_mut().unwrap();
    for condition in &mut status.conditions {
        if condition.type_ == status::SYNCED {
            condition.last_transition_time = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now()
                    - k8s_openapi::jiff::SignedDuration::from_mins(11),
            );
        }
    }
    let (_, exchanges, _) = pass_in(
        &mut process,
        late.clone(),
        aws.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![Expect::status(&late)],
        },
    )
    .await;
    let expired = patched_status(&exchanges);
    let ready = status::find_condition(&expired, status::READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Throttled")
    );

    // AWS answers again: the pass still reads the table once (what was learned before
    // the throttling was kept), and Ready and Synced are True.
    faults.set_percent(0);
    let (_, exchanges, _) = pass_in(
        &mut process,
        late.clone(),
        aws.clone(),
        Scenario::Existing {
            live,
            writes: vec![Expect::status(&late)],
        },
    )
    .await;
    let recovered = patched_status(&exchanges);
    assert!(status::is_ready(Some(&recovered)));
    assert_eq!(
        status::find_condition(&recovered, status::SYNCED).map(|c| c.status.as_str()),
        Some("True")
    );
    assert_eq!(
        aws_calls(&process.metrics),
        BTreeMap::from([("DescribeTable".to_owned(), 1)]),
        "a settled table is not read in full again after a throttled read"
    );
}

#[tokio::test]
async fn an_observed_app_lists_the_pending_steps_and_changes_nothing_until_managed() {
    let test = "an_observed_app_lists_the_pending_steps_and_changes_nothing_until_managed";
    let Some(aws) = moto(test).await else {
        return;
    };
    let table_name = unique_table("observe");
    let mut app = MetricsApp::test().finalized().with_table(&table_name);
    app.spec.management_policy = crd::ManagementPolicy::Observe;
    let mut process = Process::default();

    // Observe: only the status is written, no AWS write, no app object.
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::StatusOnly(app.clone()),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    let status = patched_status(&exchanges);
    let plan = status.plan.clone().expect("status.plan");
    assert_eq!(plan.steps, [format!("table {table_name}: table created")]);
    assert_eq!(plan.more, 0);
    let json = serde_json::to_value(&status).unwrap();
    let synced = condition(&json, "Synced");
    assert_eq!(
        (synced["status"].as_str(), synced["reason"].as_str()),
        (Some("False"), Some("PlanPending"))
    );
    app.status = Some(status);
    // A resync with nothing new writes nothing at all.
    let (result, _, _) = pass_in(&mut process, app.clone(), aws.clone(), Scenario::Nothing).await;
    result.unwrap();
    assert!(writes(&process.metrics).is_empty(), "{}", process.metrics);
    let described = aws
        .dynamodb
        .describe_table()
        .table_name(&table_name)
        .send()
        .await;
    assert!(described.is_err(), "not created: {described:?}");

    // Managed: exactly those steps are taken, and the plan leaves the status.
    app.spec.management_policy = crd::ManagementPolicy::Manage;
    let (result, exchanges, _) = pass_in(
        &mut process,
        app.clone(),
        aws.clone(),
        Scenario::Creation {
            app: app.clone(),
            aws_events: vec!["TableCreated"],
        },
    )
    .await;
    result.unwrap();
    assert_eq!(patched_status(&exchanges).plan, None);
    let described = aws
        .dynamodb
        .describe_table()
        .table_name(&table_name)
        .send()
        .await;
    assert!(described.is_ok(), "created: {described:?}");
}

#[tokio::test]
async fn a_metricsapp_past_its_expire_after_deletes_itself_with_a_warning_ahead() {
    let mut app = with_known_table(MetricsApp::test().finalized());
    app.spec.expire_after = Some("1h".into());
    // Whole seconds, as the API server keeps timestamps.
    let created = k8s_openapi::jiff::Timestamp::from_second(
        k8s_openapi::jiff::Timestamp::now().as_second() - 57 * 60,
    )
    .unwrap();
    app.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        created,
    ));
    let live = live_of(&app);

    // Three minutes left (within a tenth of the lifetime): a Warning, then the pass as
    // usual, and the expiry in status; the next pass comes by the expiry.
    let (result, exchanges, _) = pass(
        app.clone(),
        no_aws().await,
        Scenario::Existing {
            live: live.clone(),
            writes: vec![
                Expect::event("ExpiresSoon"),
                Expect::patch_answered(SERVICE_ACCOUNT_PATH, live.service_account.clone()),
                Expect::patch_answered(CONFIG_MAP_PATH, live.config_map.clone()),
                Expect::patch_answered(SERVICE_PATH, live.service.clone()),
                Expect::patch_answered(DEPLOYMENT_PATH, live.deployment.clone()),
                live.budget_apply(),
                live.policy_apply(),
                Expect::event("AwsUnavailable"),
                Expect::status(&app),
            ],
        },
    )
    .await;
    let action = result.unwrap();
    assert!(
        action != Action::requeue(Duration::from_secs(300)),
        "{action:?}"
    );
    assert!(
        exchanges[0].body["note"]
            .as_str()
            .unwrap()
            .contains("deletion policies")
    );
    let status = patched_status(&exchanges);
    assert_eq!(
        status.expires_at.map(|t| t.0),
        Some(created + k8s_openapi::jiff::SignedDuration::from_hours(1))
    );

    // Past it: the MetricsApp is deleted (its finalizer then applies the deletion
    // policies), nothing else is done.
    app.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_mins(61),
    ));
    let (result, _, _) = pass(
        app.clone(),
        no_aws().await,
        Scenario::Existing {
            live,
            writes: vec![
                Expect::event("Expired"),
                Expect {
                    method: "DELETE",
                    path: APP_PATH,
                    reason: None,
                    reply: Reply::Json(serde_json::to_value(&app).unwrap()),
                },
            ],
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::await_change());
}

#[tokio::test]
async fn a_preview_beyond_the_administrators_limit_is_refused_and_nothing_is_created() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    let now = Timestamp::now();
    let mut app = MetricsApp::test().finalized();
    app.spec.expire_after = Some("72h".into());
    app.metadata.creation_timestamp = Some(Time(now));
    let mut older = app.clone();
    older.metadata.name = Some("older".into());
    older.metadata.creation_timestamp = Some(Time(now - SignedDuration::from_hours(1)));
    let mut kept = app.clone();
    kept.spec.expire_after = None;
    kept.metadata.name = Some("kept".into());
    let list = json!({
        "apiVersion": "metricsapp.dev/v1alpha1",
        "kind": "MetricsAppList",
        "metadata": {},
        "items": [app, older, kept],
    });
    let limits = crate::limits::Limits {
        max_previews: Some(1),
        ..crate::limits::Limits::default()
    };
    let (ctx, server) = context_limited(no_aws().await, None, limits);
    let server = server.run(Scenario::Requests(vec![
        Expect {
            method: "GET",
            path: "/apis/metricsapp.dev/v1alpha1/namespaces/team/metricsapps",
            reason: None,
            reply: Reply::Json(list),
        },
        Expect::event("NotAllowed"),
        Expect::status(&app),
    ]));
    let result = Box::pin(reconcile(std::sync::Arc::new(app.clone()), ctx.clone())).await;
    drop(ctx);
    let exchanges = verify(server).await;
    // No AWS call (nothing listens) and no child applied: only the refusal is written.
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    let status = serde_json::to_value(patched_status(&exchanges)).unwrap();
    for kind in ["Ready", "Stalled", "Terminal"] {
        let expected = if kind == "Ready" { "False" } else { "True" };
        assert_eq!(condition(&status, kind)["status"], expected);
        assert_eq!(condition(&status, kind)["reason"], "NotAllowed");
        let message = condition(&status, kind)["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains("--max-previews") && message.contains("1 older"),
            "{message}"
        );
    }
}
