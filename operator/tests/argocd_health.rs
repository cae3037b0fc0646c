//! The Argo CD health check, `integrations/argocd/health.lua`, run as Argo CD runs a
//! script from argocd-cm: on Lua 5.1 (Argo CD's gopher-lua) with only the base and
//! table libraries, `obj` the MetricsApp as a table, the returned table's `status` and
//! `message` the health. Each MetricsApp is `examples/metricsapp.yaml` with a status
//! made by the operator's own status code (`status::next_status`,
//! `status::suspended_status`), so a change of the operator's reasons or conditions
//! that the script does not follow fails here.

use std::fs;
use std::path::PathBuf;

use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use metricsapp_operator::crd::{MetricsApp, MetricsAppStatus, RollbackStatus, TableStatus};
use metricsapp_operator::status::{
    self, AVAILABLE, AppState, Failure, Observation, READY, TERMINAL, TableState,
};
use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib};

/// The argocd-cm key Argo CD reads the health check of `metricsapp.dev/MetricsApp` from.
const HEALTH_KEY: &str = "resource.customizations.health.metricsapp.dev_MetricsApp";

/// The generation every status below describes.
const GENERATION: i64 = 3;

fn repo_file(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn health_lua() -> String {
    repo_file("integrations/argocd/health.lua")
}

/// What a health script answered.
#[derive(Debug, Clone, PartialEq)]
struct Health {
    status: String,
    message: String,
}

/// A Lua 5.1 state as Argo CD prepares one for a health script from argocd-cm: the
/// base and table libraries only (no `string`, no `math`).
fn argocd_lua() -> Lua {
    Lua::new_with(StdLib::TABLE, LuaOptions::default()).expect("Lua 5.1 state")
}

/// Runs `script` on `app` as Argo CD does: the object as plain tables (JSON null and
/// absent fields are both nil, arrays without a metatable), the chunk's return value
/// the health.
fn run(script: &str, app: &MetricsApp) -> Result<Health, String> {
    let lua = argocd_lua();
    let json = serde_json::to_value(app).map_err(|e| e.to_string())?;
    let options = SerializeOptions::new()
        .set_array_metatable(false)
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    let obj = lua
        .to_value_with(&json, options)
        .map_err(|e| e.to_string())?;
    lua.globals().set("obj", obj).map_err(|e| e.to_string())?;
    let hs: mlua::Table = lua
        .load(script)
        .set_name("health.lua")
        .eval()
        .map_err(|e| e.to_string())?;
    let field = |name: &str| -> Result<String, String> {
        hs.get::<Option<String>>(name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("hs.{name} is nil"))
    };
    Ok(Health {
        status: field("status")?,
        message: field("message")?,
    })
}

fn at(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).unwrap())
}

fn table(status: &str) -> TableStatus {
    TableStatus {
        name: "metrics-activities".into(),
        arn: Some("arn:aws:dynamodb:us-east-1:123456789012:table/metrics-activities".into()),
        status: Some(status.into()),
        ..TableStatus::default()
    }
}

/// The Deployment with every one of `replicas` pods updated, ready and available.
fn rolled_out(replicas: i32) -> DeploymentStatus {
    DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(replicas),
        available_replicas: Some(replicas),
        ready_replicas: Some(replicas),
        updated_replicas: Some(replicas),
        conditions: Some(vec![DeploymentCondition {
            type_: "Available".into(),
            status: "True".into(),
            reason: Some("MinimumReplicasAvailable".into()),
            ..DeploymentCondition::default()
        }]),
        ..DeploymentStatus::default()
    }
}

fn observation(table: TableState, app: AppState) -> Observation {
    Observation {
        generation: Some(GENERATION),
        table,
        functions: Vec::new(),
        app,
        app_failure: None,
        url: Some("http://metrics.metrics.svc:80".into()),
        image: "ghcr.io/metricsapp/metrics-app:2".into(),
        rollback: None,
        transient_grace_period: std::time::Duration::from_secs(600),
    }
}

fn deployed(status: DeploymentStatus) -> AppState {
    AppState::Deployed {
        replicas: 2,
        generation: Some(1),
        status: Some(status),
    }
}

fn settled() -> Observation {
    observation(
        TableState::Settled(table("ACTIVE")),
        deployed(rolled_out(2)),
    )
}

fn ready_status() -> MetricsAppStatus {
    let status = status::next_status(None, settled(), &at(100));
    assert!(status::is_ready(Some(&status)), "{status:#?}");
    status
}

fn table_failed(failure: Failure) -> MetricsAppStatus {
    let failed = observation(
        TableState::Failed {
            table: Some(table("ACTIVE")),
            failure,
        },
        deployed(rolled_out(2)),
    );
    status::next_status(Some(&ready_status()), failed, &at(200))
}

/// The Failure the controller reports for a table error (`failures::of_error`).
fn failure_of(error: &metricsapp_aws::table::Error) -> Failure {
    Failure {
        reason: error.reason().to_owned(),
        message: error.to_string(),
        terminal: error.is_terminal(),
    }
}

fn condition<'a>(status: &'a MetricsAppStatus, kind: &str) -> &'a Condition {
    status::find_condition(status, kind).unwrap_or_else(|| panic!("no {kind} in {status:#?}"))
}

/// A condition as the script says it: `Reason: message`.
fn said(condition: &Condition) -> String {
    format!("{}: {}", condition.reason, condition.message)
}

/// `examples/metricsapp.yaml` at `generation` with `status`, as the API server serves
/// it to Argo CD.
fn metricsapp(generation: i64, status: Option<MetricsAppStatus>) -> MetricsApp {
    let mut app: MetricsApp =
        serde_yaml::from_str(&repo_file("examples/metricsapp.yaml")).expect("the example");
    app.metadata.generation = Some(generation);
    app.metadata.uid = Some("0b6a2c4e-5f7d-4a1b-9c3e-2d8f6a0b1c7e".into());
    app.status = status;
    app
}

/// What Argo CD must say about one MetricsApp.
struct Case {
    name: &'static str,
    app: MetricsApp,
    expected: Health,
}

fn case(name: &'static str, app: MetricsApp, status: &str, message: String) -> Case {
    Case {
        name,
        app,
        expected: Health {
            status: status.into(),
            message,
        },
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();

    cases.push(case(
        "just applied: no status yet",
        metricsapp(1, None),
        "Progressing",
        "Waiting for the operator to report the MetricsApp's status".into(),
    ));

    let before_any_condition = MetricsAppStatus {
        observed_generation: Some(GENERATION),
        ..MetricsAppStatus::default()
    };
    cases.push(case(
        "a status without conditions",
        metricsapp(GENERATION, Some(before_any_condition)),
        "Progressing",
        "Waiting for the operator to report the MetricsApp's status".into(),
    ));

    cases.push(case(
        "generation ahead of observedGeneration",
        metricsapp(GENERATION + 1, Some(ready_status())),
        "Progressing",
        format!(
            "Waiting for the operator to observe generation {} (status describes {GENERATION})",
            GENERATION + 1
        ),
    ));

    let creating = status::next_status(
        None,
        observation(
            TableState::InProgress(table("CREATING")),
            AppState::WaitingForTable,
        ),
        &at(100),
    );
    assert_eq!(condition(&creating, READY).reason, "TableProgressing");
    cases.push(case(
        "table being created",
        metricsapp(GENERATION, Some(creating.clone())),
        "Progressing",
        said(condition(&creating, READY)),
    ));

    let mut rolling = rolled_out(2);
    rolling.observed_generation = Some(2);
    rolling.updated_replicas = Some(1);
    rolling.replicas = Some(3);
    let new_image = observation(
        TableState::Settled(table("ACTIVE")),
        AppState::Deployed {
            replicas: 2,
            generation: Some(2),
            status: Some(rolling),
        },
    );
    let rolling_out = status::next_status(Some(&ready_status()), new_image, &at(200));
    assert_eq!(condition(&rolling_out, READY).reason, "RollingOut");
    assert_eq!(condition(&rolling_out, AVAILABLE).status, "True");
    cases.push(case(
        "rolling out a new image (Available, not every replica updated)",
        metricsapp(GENERATION, Some(rolling_out.clone())),
        "Progressing",
        said(condition(&rolling_out, READY)),
    ));

    let throttled = table_failed(Failure {
        reason: "Throttled".into(),
        message: "DescribeTable on table `metrics-activities`: throttled: Rate exceeded".into(),
        terminal: false,
    });
    assert_eq!(condition(&throttled, TERMINAL).reason, "Retrying");
    cases.push(case(
        "a recoverable failure, retried with backoff",
        metricsapp(GENERATION, Some(throttled.clone())),
        "Progressing",
        said(condition(&throttled, READY)),
    ));

    let ready = ready_status();
    cases.push(case(
        "Ready",
        metricsapp(GENERATION, Some(ready.clone())),
        "Healthy",
        said(condition(&ready, READY)),
    ));

    let conflict = metricsapp_aws::table::Error::Conflict {
        table: "metrics-activities".into(),
        owner: "belongs to MetricsApp team-b/metrics".into(),
    };
    let conflict = table_failed(failure_of(&conflict));
    assert_eq!(condition(&conflict, TERMINAL).status, "True");
    assert_eq!(condition(&conflict, TERMINAL).reason, "TableConflict");
    cases.push(case(
        "a table owned by someone else (Terminal=True)",
        metricsapp(GENERATION, Some(conflict.clone())),
        "Degraded",
        said(condition(&conflict, TERMINAL)),
    ));
    cases.push(case(
        "a terminal problem of an older generation: the new spec may fix it",
        metricsapp(GENERATION + 1, Some(conflict)),
        "Progressing",
        format!(
            "Waiting for the operator to observe generation {} (status describes {GENERATION})",
            GENERATION + 1
        ),
    ));

    let mut stalled = rolled_out(2);
    stalled.updated_replicas = Some(1);
    stalled
        .conditions
        .get_or_insert_with(Vec::new)
        .push(DeploymentCondition {
            type_: "Progressing".into(),
            status: "False".into(),
            reason: Some("ProgressDeadlineExceeded".into()),
            message: Some("ReplicaSet \"metrics-7c9f\" has timed out progressing.".into()),
            ..DeploymentCondition::default()
        });
    let rollout_failed = status::next_status(
        Some(&ready),
        observation(TableState::Settled(table("ACTIVE")), deployed(stalled)),
        &at(300),
    );
    assert_eq!(condition(&rollout_failed, READY).reason, "RolloutFailed");
    cases.push(case(
        "a rollout past its progress deadline",
        metricsapp(GENERATION, Some(rollout_failed.clone())),
        "Degraded",
        said(condition(&rollout_failed, READY)),
    ));

    let mut rollback = settled();
    rollback.image = "ghcr.io/metricsapp/metrics-app:1".into();
    rollback.rollback = Some(RollbackStatus {
        generation: GENERATION,
        failed_image: "ghcr.io/metricsapp/metrics-app:2".into(),
        restored_image: "ghcr.io/metricsapp/metrics-app:1".into(),
    });
    let rolled_back = status::next_status(Some(&ready), rollback, &at(400));
    assert_eq!(condition(&rolled_back, READY).reason, "RolledBack");
    cases.push(case(
        "rolled back to the last good image",
        metricsapp(GENERATION, Some(rolled_back.clone())),
        "Degraded",
        said(condition(&rolled_back, READY)),
    ));

    let suspended = status::suspended_status(Some(&ready), Some(GENERATION), &at(500));
    let mut app = metricsapp(GENERATION, Some(suspended.clone()));
    app.spec.suspend = true;
    cases.push(case(
        "suspended",
        app,
        "Suspended",
        said(condition(&suspended, READY)),
    ));
    let mut app = metricsapp(GENERATION + 1, Some(ready.clone()));
    app.spec.suspend = true;
    cases.push(case(
        "suspended, not yet observed by the operator",
        app,
        "Suspended",
        "spec.suspend is true; waiting for the operator to observe it".into(),
    ));

    // Synced=False from the operator's own status code: a throttled read of a table last
    // seen settled leaves Ready as it was. Unknown condition types are ignored.
    let throttled = observation(
        TableState::Unread(Failure {
            reason: "Throttled".into(),
            message: "DescribeTable: Rate exceeded (recoverable: retried with backoff)".into(),
            terminal: false,
        }),
        deployed(rolled_out(2)),
    );
    let mut throttled_but_ready = status::next_status(Some(&ready), throttled, &at(600));
    assert!(
        status::is_ready(Some(&throttled_but_ready)),
        "{throttled_but_ready:#?}"
    );
    let synced = condition(&throttled_but_ready, "Synced").clone();
    assert_eq!(
        (synced.status.as_str(), synced.reason.as_str()),
        ("False", "Throttled")
    );
    throttled_but_ready.conditions.push(Condition {
        type_: "SomethingNew".into(),
        status: "False".into(),
        reason: "NotYetKnown".into(),
        message: "a condition this script has never heard of".into(),
        last_transition_time: at(600),
        observed_generation: Some(GENERATION),
    });
    cases.push(case(
        "Ready while AWS throttles (Synced=False) and with an unknown condition",
        metricsapp(GENERATION, Some(throttled_but_ready)),
        "Healthy",
        format!(
            "{} (not synced: {})",
            said(condition(&ready, READY)),
            said(&synced)
        ),
    ));

    cases
}

/// The cases `script` gets wrong, each with what it answered.
fn failures(script: &str) -> Vec<String> {
    cases()
        .into_iter()
        .filter_map(|case| match run(script, &case.app) {
            Ok(health) if health == case.expected => None,
            answer => Some(format!(
                "{}: expected {:?}, got {answer:?}",
                case.name, case.expected
            )),
        })
        .collect()
}

#[test]
fn every_case_gets_its_health() {
    let failed = failures(&health_lua());
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn each_health_argo_cd_knows_is_covered() {
    let statuses: Vec<String> = cases().into_iter().map(|c| c.expected.status).collect();
    for status in ["Progressing", "Healthy", "Degraded", "Suspended"] {
        assert!(statuses.iter().any(|s| s == status), "no case for {status}");
    }
}

#[test]
fn the_sandbox_is_argo_cds() {
    let lua = argocd_lua();
    let missing: bool = lua
        .load("return string == nil and math == nil and ipairs ~= nil and table ~= nil")
        .eval()
        .unwrap();
    assert!(
        missing,
        "argocd-cm scripts get the base and table libraries only"
    );
    assert!(
        lua.load("return 1 // 2").exec().is_err(),
        "Lua 5.1 syntax only"
    );
}

/// Broken scripts must fail the cases: the check is not satisfied by any answer.
#[test]
fn a_broken_health_check_fails_the_cases() {
    let script = health_lua();
    let mutate = |from: &str, to: &str| {
        assert!(script.contains(from), "health.lua no longer has `{from}`");
        script.replace(from, to)
    };
    let mutants = [
        (
            "Healthy for everything",
            r#"return { status = "Healthy", message = "" }"#.to_owned(),
        ),
        (
            "Healthy when Ready, else Progressing",
            r#"local hs = { status = "Progressing", message = "" }
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" and c.status == "True" then hs.status = "Healthy" end
  end
end
return hs"#
                .to_owned(),
        ),
        (
            "no generation check",
            mutate("observed ~= generation then", "false then"),
        ),
        (
            "Terminal ignored",
            mutate(r#"terminal.status == "True""#, "false"),
        ),
        (
            "rollbacks ignored",
            mutate(r#"ready.reason == "RolledBack""#, "false"),
        ),
        (
            "failed rollouts ignored",
            mutate(r#"ready.reason == "RolloutFailed""#, "false"),
        ),
        (
            "suspend ignored",
            mutate("obj.spec.suspend == true", "false"),
        ),
        (
            "Synced=False degrades",
            mutate(
                r#"if synced ~= nil and synced.status == "False" then"#,
                r#"if synced ~= nil and synced.status == "False" then hs.status = "Degraded""#,
            ),
        ),
        (
            "uses the string library Argo CD does not open",
            mutate("local hs = {}", r#"local hs = {} string.len("")"#),
        ),
    ];
    for (name, mutant) in mutants {
        assert!(
            !failures(&mutant).is_empty(),
            "the mutant `{name}` passes every case"
        );
    }
}

/// argocd-cm.yaml installs exactly health.lua: editing one without the other fails.
#[test]
fn the_argocd_cm_snippet_embeds_health_lua() {
    let config_map: ConfigMap =
        serde_yaml::from_str(&repo_file("integrations/argocd/argocd-cm.yaml")).unwrap();
    assert_eq!(config_map.metadata.name.as_deref(), Some("argocd-cm"));
    let data = config_map.data.unwrap_or_default();
    let script = data
        .get(HEALTH_KEY)
        .unwrap_or_else(|| panic!("argocd-cm.yaml has no {HEALTH_KEY}"));
    assert!(
        *script == health_lua(),
        "argocd-cm.yaml's {HEALTH_KEY} differs from integrations/argocd/health.lua: \
         copy health.lua into it (indented four spaces)"
    );
}
