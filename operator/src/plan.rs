//! `metricsapp-operator plan`: what the operator would do to AWS for a MetricsApp,
//! before it does it. The same reads and the same pure planners as a reconcile pass
//! (`table::preview`, `function::preview`), and no write; each step says what changes
//! and whether it is destructive or affects data. Exit codes as `terraform plan
//! -detailed-exitcode`: 0 nothing to do, 2 changes, 1 an error.

use serde::Serialize;

use crate::controller::AwsClients;
use crate::crd::{FunctionDeletionPolicy, MetricsApp};
use crate::function::{self, Build};
use crate::{Error, Result, table};

/// What the operator would do for one MetricsApp.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppPlan {
    /// `namespace/name`.
    pub app: String,
    /// The table first, then each function in the spec, then each function the spec no
    /// longer names.
    pub resources: Vec<ResourcePlan>,
    /// Notes about the plan as a whole (how the owner was found, what is not planned).
    pub notes: Vec<String>,
}

/// What the operator would do to one AWS resource.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourcePlan {
    /// `table` or `function`.
    pub kind: &'static str,
    /// The AWS name.
    pub name: String,
    /// Steps of the next pass, in order.
    pub steps: Vec<PlannedStep>,
    /// Steps left for later passes (AWS allows one update at a time).
    pub later: Vec<PlannedStep>,
    /// What AWS is still doing; nothing is sent until it is done.
    pub waiting: Vec<String>,
    /// Why the operator would refuse to act on it (an ownership conflict, an invalid
    /// spec); nothing would be changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// One step, as the Event the operator would publish words it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedStep {
    pub change: String,
    /// Why this step destroys or affects data, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive: Option<String>,
}

impl AppPlan {
    /// True when some resource would change or is refused.
    pub fn has_changes(&self) -> bool {
        self.resources.iter().any(|resource| {
            !resource.steps.is_empty() || !resource.later.is_empty() || resource.refused.is_some()
        })
    }

    /// The plan for people: one line per step, destructive steps marked `!`.
    pub fn text(&self) -> String {
        let mut out = format!("MetricsApp {}\n", self.app);
        for resource in &self.resources {
            out.push_str(&format!("  {} {}:", resource.kind, resource.name));
            let quiet = resource.steps.is_empty()
                && resource.later.is_empty()
                && resource.waiting.is_empty()
                && resource.refused.is_none();
            if quiet {
                out.push_str(" no changes\n");
                continue;
            }
            out.push('\n');
            if let Some(refused) = &resource.refused {
                out.push_str(&format!("    refused: {refused}\n"));
            }
            for (steps, when) in [(&resource.steps, "next pass"), (&resource.later, "later")] {
                for step in steps {
                    let mark = if step.destructive.is_some() { "!" } else { "~" };
                    out.push_str(&format!("    {mark} {} ({when})\n", step.change));
                    if let Some(why) = &step.destructive {
                        out.push_str(&format!("      destructive: {why}\n"));
                    }
                }
            }
            for waiting in &resource.waiting {
                out.push_str(&format!("    waiting: {waiting}\n"));
            }
        }
        for note in &self.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        out
    }
}

/// Why a table step destroys or affects data.
fn table_harm(step: &metricsapp_aws::table::Step) -> Option<String> {
    use metricsapp_aws::table::Step;
    match step {
        Step::Stream { from: Some(_), to } => Some(match to {
            None => "the table's stream is turned off: triggers on it stop".to_owned(),
            Some(_) => "the table's stream is replaced (a new stream ARN): triggers start \
                        again from their starting position"
                .to_owned(),
        }),
        Step::Stream { from: None, .. }
        | Step::Create { .. }
        | Step::Adopt { .. }
        | Step::Tags { .. }
        | Step::TimeToLive { .. }
        | Step::PointInTimeRecovery { .. }
        | Step::Billing(_) => None,
    }
}

/// Why a function step destroys or affects data.
fn function_harm(step: &metricsapp_aws::function::Step) -> Option<String> {
    use metricsapp_aws::function::Step;
    match step {
        Step::DeleteMapping { .. } => {
            Some("the trigger is removed: table changes no longer reach the function".into())
        }
        Step::Create { .. }
        | Step::Adopt { .. }
        | Step::Tags { .. }
        | Step::Concurrency { .. }
        | Step::CreateMapping(_)
        | Step::UpdateMapping(_)
        | Step::Url { .. }
        | Step::UpdateCode { .. }
        | Step::UpdateConfiguration(_) => None,
    }
}

fn planned<S>(
    steps: &[S],
    change: impl Fn(&S) -> String,
    harm: impl Fn(&S) -> Option<String>,
) -> Vec<PlannedStep> {
    steps
        .iter()
        .map(|step| PlannedStep {
            change: change(step),
            destructive: harm(step),
        })
        .collect()
}

/// What the operator would do now for `app` (as the cluster holds it, with its status,
/// or as a file describes it), reading AWS through `aws` and writing nothing.
pub async fn plan(app: &MetricsApp, aws: &AwsClients, prefix: &str) -> Result<AppPlan> {
    let namespace = app
        .metadata
        .namespace
        .clone()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let owner = table::owner(app)?;
    let mut resources = Vec::new();
    let desired = table::desired_table(app, prefix)?;
    let record = table::record(app, prefix)?;
    let table_plan = metricsapp_aws::table::preview(
        &aws.dynamodb,
        &desired,
        &owner,
        app.spec.table.adopt,
        &record,
    )
    .await;
    resources.push(match table_plan {
        Ok(plan) => ResourcePlan {
            kind: "table",
            name: desired.name.clone(),
            steps: planned(&plan.steps, |s| s.change().to_string(), table_harm),
            later: planned(&plan.later, |s| s.change().to_string(), table_harm),
            waiting: plan.waiting,
            refused: None,
        },
        Err(error) => refused("table", &desired.name, error.into())?,
    });
    let stream_arn = app
        .status
        .as_ref()
        .and_then(|status| status.table.as_ref())
        .and_then(|table| table.stream_arn.clone());
    let previous = app
        .status
        .as_ref()
        .map_or(&[][..], |status| status.functions.as_slice());
    for spec in &app.spec.functions {
        let name = function::function_name(app, spec, prefix)?;
        let built =
            function::desired_function(app, spec, &desired.name, stream_arn.as_deref(), prefix)?;
        let desired_function = match built {
            Build::Ready(desired) => desired,
            Build::Waiting(why) => {
                resources.push(ResourcePlan {
                    kind: "function",
                    name,
                    steps: Vec::new(),
                    later: Vec::new(),
                    waiting: vec![why],
                    refused: None,
                });
                continue;
            }
        };
        let recorded = function::recorded(previous.iter().find(|status| status.name == spec.name));
        let function_owner = metricsapp_aws::function::Owner {
            namespace: owner.namespace.clone(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
        };
        let result = metricsapp_aws::function::preview(
            &aws.lambda,
            &aws.s3,
            &desired_function,
            &function_owner,
            spec.adopt,
            &recorded,
        )
        .await;
        resources.push(match result {
            Ok(plan) => ResourcePlan {
                kind: "function",
                name,
                steps: planned(&plan.steps, |s| s.change().to_string(), function_harm),
                later: planned(&plan.later, |s| s.change().to_string(), function_harm),
                waiting: plan.waiting,
                refused: None,
            },
            Err(error) => refused("function", &name, error.into())?,
        });
    }
    for old in previous
        .iter()
        .filter(|old| !app.spec.functions.iter().any(|spec| spec.name == old.name))
    {
        let (change, destructive) = match old.deletion_policy {
            FunctionDeletionPolicy::Delete => (
                "deleted (removed from the spec)".to_owned(),
                Some("the function is deleted with its trigger and URL".to_owned()),
            ),
            FunctionDeletionPolicy::Retain => (
                "left in AWS and no longer managed (removed from the spec)".to_owned(),
                None,
            ),
        };
        resources.push(ResourcePlan {
            kind: "function",
            name: old.function_name.clone(),
            steps: vec![PlannedStep {
                change,
                destructive,
            }],
            later: Vec::new(),
            waiting: Vec::new(),
            refused: None,
        });
    }
    let mut notes = Vec::new();
    if app.spec.table.deletion_policy == Some(crate::crd::DeletionPolicy::Delete) {
        notes.push(if app.spec.table.backup_before_delete {
            "table.deletionPolicy is Delete: deleting the MetricsApp deletes the table after an \
             on-demand backup"
                .to_owned()
        } else {
            "table.deletionPolicy is Delete without backup: deleting the MetricsApp deletes the \
             table and its data"
                .to_owned()
        });
    }
    Ok(AppPlan {
        app: format!(
            "{namespace}/{}",
            app.metadata.name.clone().unwrap_or_default()
        ),
        resources,
        notes,
    })
}

/// A resource the operator would refuse to touch (a terminal error, worded as the
/// controller words it in status), or the error that stops the plan (AWS unreachable,
/// throttled).
fn refused(kind: &'static str, name: &str, error: Error) -> Result<ResourcePlan> {
    let failure = crate::controller::failures::of_error(&error);
    if !failure.terminal {
        return Err(error);
    }
    Ok(ResourcePlan {
        kind,
        name: name.to_owned(),
        steps: Vec::new(),
        later: Vec::new(),
        waiting: Vec::new(),
        refused: Some(failure.message),
    })
}

/// The JSON Schema of `plan --output json` (the content of `docs/plan.schema.json`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(AppPlan);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// How `plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// `metricsapp-operator plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The MetricsApp manifest (YAML or JSON); `-` reads standard input.
    #[arg(short = 'f', long = "filename")]
    pub file: String,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// The operator's `--name-prefix`, so that default names are the ones it makes.
    #[arg(long, env = "METRICSAPP_NAME_PREFIX", default_value = "", value_parser = crate::cli::parse_prefix)]
    pub name_prefix: String,
    /// Do not look the MetricsApp up in the cluster: plan it as a new one.
    #[arg(long)]
    pub no_cluster: bool,
}

/// The uid a MetricsApp not yet in the cluster is planned with: no resource carries it,
/// so an existing table or function shows as someone else's, as it would for a new
/// MetricsApp.
const NEW_APP_UID: &str = "00000000-0000-0000-0000-000000000000";

/// Reads the manifest, finds the MetricsApp's owner uid and status in the cluster when
/// it is there, and plans it.
pub async fn run(args: &PlanArgs, aws: &AwsClients) -> Result<AppPlan> {
    let text = if args.file == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.file)
    }
    .map_err(|error| Error::Config(format!("cannot read {}: {error}", args.file)))?;
    let mut app: MetricsApp = serde_yaml::from_str(&text)
        .map_err(|error| Error::Config(format!("{} is not a MetricsApp: {error}", args.file)))?;
    let mut notes = Vec::new();
    let client = if args.no_cluster {
        None
    } else {
        match tokio::time::timeout(
            std::time::Duration::from_secs(10),
            kube::Client::try_default(),
        )
        .await
        {
            Ok(Ok(client)) => Some(client),
            Ok(Err(error)) => {
                notes.push(format!("no cluster ({error}): planned as a new MetricsApp"));
                None
            }
            Err(_) => {
                notes.push("no cluster within 10s: planned as a new MetricsApp".to_owned());
                None
            }
        }
    };
    if app.metadata.namespace.is_none() {
        let namespace = client
            .as_ref()
            .map_or("default", |client| client.default_namespace());
        app.metadata.namespace = Some(namespace.to_owned());
    }
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let name = app
        .metadata
        .name
        .clone()
        .ok_or(Error::MissingMetadata("metadata.name"))?;
    let live = match &client {
        Some(client) => kube::Api::<MetricsApp>::namespaced(client.clone(), &namespace)
            .get_opt(&name)
            .await
            .map_err(Error::Kube)?,
        None => None,
    };
    match live {
        Some(live) => {
            app.metadata.uid = live.metadata.uid;
            app.status = live.status;
            notes.push(format!(
                "owner and records from the cluster's MetricsApp {namespace}/{name}"
            ));
        }
        // A manifest exported from a cluster (`kubectl get mapp -o yaml`) carries its uid
        // and status: planned as that MetricsApp.
        None if app.metadata.uid.is_some() => {
            notes.push("owner and records from the manifest's uid and status".to_owned());
        }
        None => {
            if client.is_some() {
                notes.push(format!(
                    "{namespace}/{name} is not in the cluster: planned as a new MetricsApp"
                ));
            }
            app.metadata.uid = Some(NEW_APP_UID.to_owned());
            app.status = None;
        }
    }
    notes.push(
        "the app's Kubernetes objects are not planned: server-side apply puts them back to \
         the spec on every pass"
            .to_owned(),
    );
    let mut plan = plan(&app, aws, &args.name_prefix).await?;
    plan.notes.extend(notes);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use super::*;
    use crate::crd::{BillingMode, DeletionPolicy};
    use crate::fixtures::{MetricsAppExt, unique_table};
    use crate::metrics::Metrics;

    /// The AWS operations called so far, from the operator's own call counter.
    fn operations(metrics: &Metrics) -> BTreeSet<String> {
        let text = metrics.encode().unwrap_or_default();
        text.lines()
            .filter_map(|line| line.strip_prefix("metricsapp_aws_calls_total{"))
            .filter_map(|labels| labels.split("operation=\"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect()
    }

    fn reads_only(operations: &BTreeSet<String>) -> bool {
        operations.iter().all(|operation| {
            ["Describe", "Get", "List", "Head"]
                .iter()
                .any(|read| operation.starts_with(read))
        })
    }

    #[tokio::test]
    async fn a_plan_reads_aws_and_shows_the_controllers_next_steps() {
        let test = "a_plan_reads_aws_and_shows_the_controllers_next_steps";
        let Some(endpoint) = metricsapp_testing::endpoint("MOTO_ENDPOINT", test) else {
            return;
        };
        let config = metricsapp_testing::sdk_config(&endpoint).await;
        let metrics = Arc::new(Metrics::default());
        let aws = AwsClients::new(&config, metrics.aws_calls.clone());
        let mut app = MetricsApp::test()
            .finalized()
            .with_table(&unique_table("plan"));
        app.spec.table.billing_mode = BillingMode::Provisioned;
        app.spec.table.read_capacity = Some(5);
        app.spec.table.write_capacity = Some(5);

        // Not there yet: the plan creates it, with reads only.
        let planned = plan(&app, &aws, "").await.unwrap();
        assert!(planned.has_changes());
        assert_eq!(planned.resources[0].steps[0].change, "table created");
        assert!(
            reads_only(&operations(&metrics)),
            "{:?}",
            operations(&metrics)
        );

        // Converged by the controller's own pass: the same spec plans nothing.
        let desired = table::desired_table(&app, "").unwrap();
        let owner = table::owner(&app).unwrap();
        let record = table::record(&app, "").unwrap();
        let report =
            metricsapp_aws::table::reconcile(&aws.dynamodb, &desired, &owner, false, &record)
                .await
                .unwrap();
        let before = operations(&metrics);
        assert!(
            !reads_only(&before),
            "the pass wrote: the check can see writes"
        );
        let metrics = Arc::new(Metrics::default());
        let aws = AwsClients::new(&config, metrics.aws_calls.clone());
        app.status = Some(crate::crd::MetricsAppStatus {
            table: Some(crate::crd::TableStatus {
                name: report.name.clone(),
                arn: report.arn.clone(),
                managed_tags: report.managed_tags.iter().cloned().collect(),
                ..Default::default()
            }),
            ..Default::default()
        });
        let planned = plan(&app, &aws, "").await.unwrap();
        assert!(!planned.has_changes(), "{}", planned.text());
        assert!(planned.text().contains("no changes"), "{}", planned.text());

        // On-demand billing, a stream turned on, Delete without backup: planned, none
        // of it sent.
        app.spec.table.billing_mode = BillingMode::PayPerRequest;
        app.spec.table.read_capacity = None;
        app.spec.table.write_capacity = None;
        app.spec.table.deletion_policy = Some(DeletionPolicy::Delete);
        app.spec.table.backup_before_delete = false;
        let planned = plan(&app, &aws, "").await.unwrap();
        assert!(planned.has_changes());
        let json = serde_json::to_value(&planned).unwrap();
        let steps = &json["resources"][0]["steps"];
        assert!(
            steps[0]["change"]
                .as_str()
                .unwrap()
                .contains("PAY_PER_REQUEST"),
            "{json}"
        );
        assert!(
            steps[0].get("destructive").is_none(),
            "billing loses no data"
        );
        assert!(
            planned
                .notes
                .iter()
                .any(|note| note.contains("without backup")),
            "{:?}",
            planned.notes
        );
        assert!(
            reads_only(&operations(&metrics)),
            "{:?}",
            operations(&metrics)
        );
        let described = aws
            .dynamodb
            .describe_table()
            .table_name(&desired.name)
            .send()
            .await
            .unwrap();
        let billing = described
            .table()
            .and_then(|t| t.billing_mode_summary())
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str().to_owned());
        assert_ne!(
            billing.as_deref(),
            Some("PAY_PER_REQUEST"),
            "the table is unchanged"
        );

        // Another MetricsApp's table is refused, worded as the status would say it.
        app.metadata.uid = Some("another-uid".into());
        app.status = None;
        let planned = plan(&app, &aws, "").await.unwrap();
        assert!(planned.has_changes());
        let refused = planned.resources[0].refused.as_deref().unwrap_or_default();
        assert!(refused.contains(&desired.name), "{}", planned.text());
        assert!(planned.resources[0].steps.is_empty());
        assert!(
            reads_only(&operations(&metrics)),
            "{:?}",
            operations(&metrics)
        );
    }

    #[test]
    fn the_documented_json_schema_is_the_one_the_plan_is_written_in() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/plan.schema.json");
        let documented = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            documented == json_schema(),
            "docs/plan.schema.json differs from the plan's types; regenerate it with \
             `cargo test -p metricsapp-operator --lib plan::tests::write_the_json_schema -- --ignored`"
        );
    }

    #[test]
    #[ignore = "writes docs/plan.schema.json"]
    fn write_the_json_schema() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/plan.schema.json");
        std::fs::write(path, json_schema()).unwrap();
    }

    #[test]
    fn turning_a_stream_off_or_changing_it_and_removing_a_trigger_are_destructive() {
        use metricsapp_aws::table::{Step, StreamView};
        assert!(
            table_harm(&Step::Stream {
                from: Some(StreamView::NewAndOldImages),
                to: None,
            })
            .unwrap()
            .contains("turned off")
        );
        assert!(
            table_harm(&Step::Stream {
                from: Some(StreamView::NewAndOldImages),
                to: Some(StreamView::KeysOnly),
            })
            .unwrap()
            .contains("starting position")
        );
        assert_eq!(
            table_harm(&Step::Stream {
                from: None,
                to: Some(StreamView::KeysOnly),
            }),
            None
        );
        assert_eq!(table_harm(&Step::PointInTimeRecovery { to: true }), None);
        let removed = metricsapp_aws::function::Step::DeleteMapping { uuid: "u".into() };
        assert!(function_harm(&removed).unwrap().contains("trigger"));
    }
}
