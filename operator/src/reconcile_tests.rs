//! The reconciler against a mocked Kubernetes API server (exact request sequences) and
//! moto's DynamoDB server (real SDK calls over HTTP).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::PointInTimeRecoverySpecification;
use kube::runtime::controller::Action;
use metricsapp_aws::table::DesiredTable;
use serde_json::Value;

use crate::controller::reconcile;
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
    serde_json::from_value(patch.body["status"].clone())
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

/// One pass of the reconciler against `scenario`; returns its result, what the API
/// server received, and how long the pass took.
async fn pass(
    app: MetricsApp,
    dynamodb: aws_sdk_dynamodb::Client,
    scenario: Scenario,
) -> (crate::Result<Action>, Vec<Exchange>, Duration) {
    let (ctx, server) = context(dynamodb);
    let server = server.run(scenario);
    let started = Instant::now();
    let result = reconcile(std::sync::Arc::new(app), ctx).await;
    let took = started.elapsed();
    (result, verify(server).await, took)
}

/// A client for tests whose pass must make no AWS call: nothing listens there, so a
/// call would fail the pass.
async fn no_aws() -> aws_sdk_dynamodb::Client {
    dynamodb_at("http://127.0.0.1:9").await
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
    let Some(dynamodb) = moto(test).await else {
        return;
    };
    let table_name = unique_table("create");
    let app = MetricsApp::test().finalized().with_table(&table_name);

    // Pass 1: the table is created in moto, then the app's objects, then the status.
    let (result, exchanges, create_took) = pass(
        app.clone(),
        dynamodb.clone(),
        Scenario::Creation(app.clone()),
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
    let (result, exchanges, _) = pass(
        app.clone(),
        dynamodb.clone(),
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

    // Pass 3: nothing changed anywhere: reads only, no write of any kind.
    app.status = Some(status);
    let (result, exchanges, noop_took) = pass(
        app.clone(),
        dynamodb.clone(),
        Scenario::Existing {
            live: live.clone(),
            writes: vec![],
        },
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(300)));
    assert!(exchanges.iter().all(|exchange| exchange.method == "GET"));

    // Pass 4: a new image: only the Deployment is applied, with only the image changed.
    let mut next = app.clone();
    next.spec.image = "ghcr.io/metricsapp/metrics-app:2".into();
    next.metadata.generation = Some(2);
    let (result, exchanges, _) = pass(
        next.clone(),
        dynamodb.clone(),
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
    let applied = exchanges[4].body.clone();
    let mut before = live.deployment.clone();
    before.as_object_mut().unwrap().remove("status");
    let mut after = applied.clone();
    assert_eq!(
        after.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("ghcr.io/metricsapp/metrics-app:2"))
    );
    for object in [&mut before, &mut after] {
        object["spec"]["template"]["spec"]["containers"][0]["image"] = Value::Null;
        object["metadata"]["annotations"] = Value::Null;
    }
    assert_eq!(before, after, "only the image (and its hash) may change");
    let note = exchanges[5].body["note"].as_str().unwrap();
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

    // Pass 5: point-in-time recovery turned on behind the operator's back is reverted,
    // and the Warning Event says so.
    let mut app = next;
    app.status = Some(status);
    let live = LiveObjects {
        deployment: applied.clone(),
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
    let (result, exchanges, _) = pass(
        app.clone(),
        dynamodb.clone(),
        Scenario::DriftCorrection {
            live: live.clone(),
            app,
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

    eprintln!(
        "reconcile duration against moto + mocked API server: create {create_took:?}, no-op {noop_took:?}"
    );
}

#[tokio::test]
async fn a_table_owned_by_someone_else_is_a_terminal_conflict_without_hot_loop() {
    let test = "a_table_owned_by_someone_else_is_a_terminal_conflict_without_hot_loop";
    let Some(dynamodb) = moto(test).await else {
        return;
    };
    let table_name = unique_table("conflict");
    let app = MetricsApp::test().finalized().with_table(&table_name);
    let mut other = app.clone();
    other.metadata.uid = Some("another-uid".into());
    create_table(&dynamodb, &other).await;

    let (result, exchanges, _) = pass(
        app.clone(),
        dynamodb.clone(),
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
    let (result, exchanges, _) = pass(app, dynamodb.clone(), Scenario::Nothing).await;
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
    let Some(dynamodb) = moto(test).await else {
        return;
    };
    let table_name = unique_table("retain");
    let app = MetricsApp::test().finalized().with_table(&table_name);
    create_table(&dynamodb, &app).await;

    let deleting = app.deleting();
    let (result, _, _) = pass(
        deleting.clone(),
        dynamodb.clone(),
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
    let Some(dynamodb) = moto(test).await else {
        return;
    };
    let table_name = unique_table("delete");
    let mut app = MetricsApp::test().finalized().with_table(&table_name);
    app.spec.table.deletion_policy = Some(crd::DeletionPolicy::Delete);
    create_table(&dynamodb, &app).await;

    let deleting = app.deleting();
    let (result, exchanges, _) = pass(
        deleting.clone(),
        dynamodb.clone(),
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
    let desired: DesiredTable = table::desired_table(app).unwrap();
    let owner = table::owner(app).unwrap();
    metricsapp_aws::table::reconcile(dynamodb, &desired, &owner, false)
        .await
        .unwrap();
}

/// Figures, not assertions on time: how long a creation pass and a no-op pass take
/// against moto and the mocked API server (each pass still checked request by request).
/// Printed with `--no-capture`.
#[tokio::test]
async fn reconcile_durations_for_creation_and_no_op() {
    let test = "reconcile_durations_for_creation_and_no_op";
    let Some(dynamodb) = moto(test).await else {
        return;
    };
    let mut creations = Vec::new();
    let mut settled = None;
    for _ in 0..10 {
        let app = MetricsApp::test()
            .finalized()
            .with_table(&unique_table("timing"));
        let (result, exchanges, took) = pass(
            app.clone(),
            dynamodb.clone(),
            Scenario::Creation(app.clone()),
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
    let (result, exchanges, _) = pass(
        app.clone(),
        dynamodb.clone(),
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
        let (result, _, took) = pass(
            app.clone(),
            dynamodb.clone(),
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
    let (ctx, server) = context(no_aws().await);
    let server = server.run(Scenario::TableFailure {
        app: app.clone(),
        reason: "AwsUnavailable",
    });
    let app = std::sync::Arc::new(app);
    let error = reconcile(app.clone(), ctx.clone())
        .await
        .expect_err("an unreachable AWS endpoint fails the pass");
    assert_eq!(error.reason(), "AwsUnavailable");
    let delays: Vec<Action> = (0..3)
        .map(|_| crate::controller::error_policy(app.clone(), &error, ctx.clone()))
        .collect();
    assert_eq!(
        delays,
        [2, 4, 8].map(|seconds| Action::requeue(Duration::from_secs(seconds)))
    );
    let metrics = ctx.metrics.encode().unwrap();
    assert!(
        metrics.contains(r#"metricsapp_reconcile_failures_total{reason="AwsUnavailable"} 3"#),
        "{metrics}"
    );
    drop(ctx);
    let exchanges = verify(server).await;
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
