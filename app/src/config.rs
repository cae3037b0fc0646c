//! Configuration by flags and environment variables, and what it turns into.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::{Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};
use crate::store::{DynamoDbStore, EmbeddedStore, SharedStore};
use crate::web::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Record the activities engineers perform for customer projects.
#[derive(Debug, Clone, Parser)]
#[command(name = "metrics-app", version, about)]
pub struct Config {
    /// Address to serve on (pages, API, /healthz, /readyz, /metrics).
    #[arg(long, env = "METRICS_APP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// DynamoDB table to store in. Unset: the embedded store in --data-dir. Region,
    /// endpoint and credentials come from the AWS standard chain (AWS_REGION,
    /// AWS_ENDPOINT_URL, IRSA, ...).
    #[arg(long, env = "METRICS_APP_TABLE", global = true)]
    pub table: Option<String>,
    /// Directory of the embedded store (used when no table is set).
    #[arg(
        long,
        env = "METRICS_APP_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Origins allowed to call the API from a browser, comma-separated
    /// (e.g. https://metrics.example.com).
    #[arg(long, env = "METRICS_APP_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    #[arg(
        long,
        env = "METRICS_APP_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Seconds to finish in-flight requests after SIGTERM before exiting.
    #[arg(long, env = "METRICS_APP_SHUTDOWN_TIMEOUT", default_value_t = 20)]
    pub shutdown_timeout: u64,
    /// Seconds a request may take before it is answered with 503.
    #[arg(long, env = "METRICS_APP_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "METRICS_APP_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
    /// Without a command: serve.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Rollups, the totals summaries read.
    #[command(subcommand)]
    Rollups(RollupsCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum RollupsCommand {
    /// Count existing activities in the rollups. DynamoDB: marks each activity not yet
    /// counted so the rollup function counts it from the stream (safe while the app
    /// serves; a second run resumes where the first stopped). Embedded store: recounts
    /// every rollup in one transaction (the app must be stopped: it holds the file).
    Rebuild,
}

impl Config {
    pub fn settings(&self) -> Result<Settings> {
        let cors_origins = self
            .cors_origins
            .iter()
            .map(|origin| origin.trim())
            .filter(|origin| !origin.is_empty())
            .map(cors_origin)
            .collect::<Result<Vec<_>>>()?;
        if self.request_timeout == 0 {
            return Err(Error::Config(
                "--request-timeout must be at least 1 second".to_owned(),
            ));
        }
        Ok(Settings {
            body_limit: self.body_limit,
            request_timeout: Duration::from_secs(self.request_timeout),
            cors_origins,
        })
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout)
    }

    /// The table to use, if any; an empty value means none (so an env var can unset it).
    pub fn table(&self) -> Option<&str> {
        self.table
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Opens the configured store: DynamoDB when a table is set, else the embedded one.
    pub async fn open_store(&self) -> Result<SharedStore> {
        match self.open_backend().await? {
            Backend::DynamoDb(store) => Ok(Arc::new(store)),
            Backend::Embedded(store) => Ok(Arc::new(store)),
        }
    }

    /// The configured store as its own type, for commands that are not the trait's.
    pub async fn open_backend(&self) -> Result<Backend> {
        match self.table() {
            Some(table) => {
                let timeouts = aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_timeout(Duration::from_secs(10))
                    .build();
                let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .timeout_config(timeouts)
                    .load()
                    .await;
                let client = aws_sdk_dynamodb::Client::new(&aws);
                tracing::info!(table, region = ?aws.region(), "storing in DynamoDB");
                Ok(Backend::DynamoDb(DynamoDbStore::new(client, table)))
            }
            None => {
                let store = EmbeddedStore::open(&self.data_dir)?;
                tracing::info!(data_dir = %self.data_dir.display(), "storing in the embedded store");
                Ok(Backend::Embedded(store))
            }
        }
    }
}

/// One of the two stores.
pub enum Backend {
    DynamoDb(DynamoDbStore),
    Embedded(EmbeddedStore),
}

fn cors_origin(origin: &str) -> Result<HeaderValue> {
    let well_formed = (origin.starts_with("http://") || origin.starts_with("https://"))
        && !origin
            .trim_end_matches('/')
            .contains(|c: char| c.is_whitespace())
        && origin
            .split("://")
            .nth(1)
            .is_some_and(|host| !host.is_empty() && !host.contains('/'));
    if !well_formed {
        return Err(Error::Config(format!(
            "CORS origin {origin:?} must look like https://host[:port] (no path)"
        )));
    }
    HeaderValue::from_str(origin).map_err(|_| {
        Error::Config(format!(
            "CORS origin {origin:?} is not a valid header value"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("metrics-app").chain(args.iter().copied()))
            .expect("parses")
    }

    #[test]
    fn defaults_fit_a_fresh_machine() {
        let config = parse(&[]);
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.table(), None);
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.shutdown_timeout(), Duration::from_secs(20));
    }

    #[test]
    fn cors_origins_are_a_comma_separated_allow_list() {
        let config = parse(&[
            "--cors-origins",
            "https://a.example.com,http://localhost:3000",
        ]);
        let settings = config.settings().expect("valid");
        assert_eq!(
            settings.cors_origins,
            vec!["https://a.example.com", "http://localhost:3000"]
        );
        let bad = parse(&["--cors-origins", "a.example.com"])
            .settings()
            .expect_err("no scheme");
        assert!(bad.to_string().contains("a.example.com"), "{bad}");
        assert!(
            parse(&["--cors-origins", "https://a.example.com/path"])
                .settings()
                .is_err()
        );
    }

    #[test]
    fn an_empty_table_means_the_embedded_store() {
        assert_eq!(parse(&["--table", ""]).table(), None);
        assert_eq!(parse(&["--table", "metrics"]).table(), Some("metrics"));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let error =
            Config::try_parse_from(["metrics-app", "--log-format", "xml"]).expect_err("bad");
        assert!(error.to_string().contains("--log-format"), "{error}");
        let error =
            Config::try_parse_from(["metrics-app", "--listen", "nowhere"]).expect_err("bad");
        assert!(error.to_string().contains("--listen"), "{error}");
    }
}
