use std::process::ExitCode;

use clap::Parser;
use metrics_app::config::{Config, LogFormat};
use metrics_app::error::report;
use metrics_app::{AppState, app, server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    init_tracing(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %report(&error), "metrics-app stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> metrics_app::Result<()> {
    let settings = config.settings()?;
    let store = config.open_store().await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| metrics_app::Error::Serve {
            addr: config.listen.to_string(),
            source,
        })?;
    tracing::info!(listen = %config.listen, "serving http://{}", config.listen);
    server::serve(
        listener,
        app(AppState::new(store, settings)),
        server::shutdown_signal(),
        config.shutdown_timeout(),
    )
    .await
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,aws_config=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
