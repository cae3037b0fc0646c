//! `metricsapp-operator crdgen` prints the CRD; `metricsapp-operator run` runs the
//! controller.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use metricsapp_operator::crd;

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
    }
}
