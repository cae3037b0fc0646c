//! `metricsapp-operator crdgen` prints the CRD; `metricsapp-operator run` runs the
//! controller.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use futures::FutureExt;
use metricsapp_operator::cli::RunArgs;
use metricsapp_operator::controller::{self, AwsClients, Context, Settings};
use metricsapp_operator::metrics::Metrics;
use metricsapp_operator::resources::AppSettings;
use metricsapp_operator::server::{self, ServerState};
use metricsapp_operator::{Error, crd, leader, telemetry};
use tokio::sync::watch;
use tracing::{error, info};

#[derive(Parser)]
#[command(
    version,
    about = "Kubernetes operator that runs the Metrics App and owns its DynamoDB table"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the MetricsApp CustomResourceDefinition as YAML (the content of crds/metricsapp.yaml).
    Crdgen,
    /// Run the controller against the cluster of the kubeconfig (or in-cluster config).
    Run(Box<RunArgs>),
    /// Show what the operator would do to AWS for a MetricsApp manifest, writing
    /// nothing. Exit 0: no changes; 2: changes; 1: an error.
    Plan(metricsapp_operator::plan::PlanArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Crdgen => match crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Plan(args) => plan(&args),
        Command::Run(args) => {
            telemetry::init(args.log_format);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    error!(%error, "operator stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn plan(args: &metricsapp_operator::plan::PlanArgs) -> ExitCode {
    use metricsapp_operator::plan::Output;
    let planned = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::Config(format!("cannot start the async runtime: {error}")))
        .and_then(|runtime| {
            runtime.block_on(async {
                let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await;
                let clients = AwsClients::new(&aws, Default::default());
                metricsapp_operator::plan::run(args, &clients).await
            })
        });
    match planned {
        Ok(planned) => {
            match args.output {
                Output::Text => print!("{}", planned.text()),
                Output::Json => match serde_json::to_string_pretty(&planned) {
                    Ok(json) => println!("{json}"),
                    Err(error) => {
                        eprintln!("error: {error}");
                        return ExitCode::FAILURE;
                    }
                },
            }
            if planned.has_changes() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<(), Error> {
    let lease = args.lease()?;
    let client = kube::Client::try_default()
        .await
        .map_err(Error::KubeConfig)?;
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(args.aws_call_timeout / 2)
        .operation_timeout(args.aws_call_timeout)
        .build();
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(metricsapp_operator::aws_calls::retry_config(
            args.aws_max_attempts,
        ))
        .load()
        .await;
    let region = aws
        .region()
        .map(ToString::to_string)
        .ok_or_else(|| Error::Config("no AWS region: set AWS_REGION".into()))?;
    let metrics = Arc::new(Metrics::default());
    let clients = AwsClients::new(&aws, metrics.aws_calls.clone());
    let ready = Arc::new(AtomicBool::new(false));

    let (stop, stopped) = watch::channel(false);
    let stop = Arc::new(stop);
    tokio::spawn({
        let stop = stop.clone();
        let ready = ready.clone();
        async move {
            shutdown_signal().await;
            info!("shutdown signal received");
            // Not ready from here on: /readyz answers 503 while the controller drains.
            ready.store(false, Ordering::Relaxed);
            let _ = stop.send(true);
        }
    });
    let until_stopped = {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
        .shared()
    };

    let server = tokio::spawn(server::serve(
        args.metrics_addr,
        ServerState {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
        until_stopped.clone(),
    ));
    info!(addr = %args.metrics_addr, "serving /metrics, /healthz and /readyz");

    let settings = Settings {
        resync_period: args.resync_period,
        default_deletion_policy: args.default_deletion_policy.into(),
        app: AppSettings {
            region,
            name_prefix: args.name_prefix.clone(),
        },
        aws_deadline: args.aws_deadline,
        aws_full_read_period: args.aws_full_read_period,
        concurrency: args.concurrency,
        transient_grace_period: args.transient_grace_period,
        limits: args.limits(),
    };
    let identity = lease
        .as_ref()
        .map(|lease| lease.identity.clone())
        .or_else(|| args.pod_name.clone());
    let (caches, writers) = controller::caches();
    let ctx = Arc::new(Context::new(
        client.clone(),
        clients,
        metrics,
        settings,
        caches,
        identity,
    ));
    let namespace = args.watched_namespace().map(str::to_owned);

    let outcome = match lease {
        None => {
            info!(
                namespace = namespace.as_deref().unwrap_or("<all>"),
                "controller starting"
            );
            controller::run(
                ctx,
                writers,
                namespace.as_deref(),
                ready.clone(),
                until_stopped.clone(),
            )
            .await
        }
        Some(lease) => {
            controller::can_list(&client, namespace.as_deref()).await?;
            let mut election = leader::join(client, &lease).await?;
            // A standby is ready (once it could list MetricsApps), so that rolling the
            // operator's Deployment completes while the leader keeps the Lease.
            ready.store(true, Ordering::Relaxed);
            info!(lease = %lease.name, namespace = %lease.namespace, identity = %lease.identity, "waiting for leadership");
            let won = tokio::select! {
                won = election.leading() => Some(won),
                () = until_stopped.clone() => None,
            };
            match won {
                None => {
                    election.resign().await;
                    Ok(())
                }
                Some(won) => {
                    won?;
                    info!("leading: controller starting");
                    let lost = election.lost().shared();
                    let stop_controller = futures::future::select(
                        Box::pin(until_stopped.clone()),
                        Box::pin(lost.clone()),
                    )
                    .map(|_| ());
                    let result = controller::run(
                        ctx,
                        writers,
                        namespace.as_deref(),
                        ready.clone(),
                        stop_controller,
                    )
                    .await;
                    let lost_lease = lost.now_or_never().is_some() && !*stopped.borrow();
                    election.resign().await;
                    if lost_lease {
                        Err(Error::LeaseLost)
                    } else {
                        result
                    }
                }
            }
        }
    };
    ready.store(false, Ordering::Relaxed);
    // The controller may have stopped on its own (an error, a lost Lease): the metrics
    // server stops with it.
    let _ = stop.send(true);
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => error!(%error, "metrics server"),
        Err(error) => error!(%error, "metrics server task"),
    }
    outcome
}

/// SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
