//! Configuration by flags and environment variables, and what it turns into.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::num::NonZeroU32;

use axum::http::{HeaderName, HeaderValue};
use clap::{Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

pub use crate::auth::AuthMode;
use crate::auth::session::{SessionKey, SessionKeys};
use crate::auth::tokens::Tokens;
use crate::auth::watched::Watched;
use crate::auth::{Auth, Proxy};
use crate::error::{Error, Result, report};
use crate::store::{DynamoDbStore, EmbeddedStore, SharedStore};
use crate::web::Settings;
use crate::web::WriteLimit;

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
    /// Who may read and write: `none` (anyone: for a laptop), `token` (API tokens from
    /// --tokens-file, and a sign-in form) or `proxy` (an authenticating proxy's header).
    #[arg(long, env = "METRICS_APP_AUTH", value_enum, default_value = "none")]
    pub auth: AuthMode,
    /// The token file: one `<engineer> <engineer|admin> <sha256-hex of the token>` per
    /// line. Re-read when it changes.
    #[arg(long, env = "METRICS_APP_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// The secret that signs session cookies: at least 32 random bytes as hex or base64
    /// (`openssl rand -hex 32`). Every replica must mount the same one; a new key ends
    /// every session. Without it a key is drawn at start (sessions end on restart and
    /// only the replica that signed a cookie accepts it). Re-read when it changes.
    #[arg(long, env = "METRICS_APP_SESSION_KEY_FILE")]
    pub session_key_file: Option<PathBuf>,
    /// The header an authenticating proxy names the engineer in (`--auth proxy`).
    #[arg(
        long,
        env = "METRICS_APP_PROXY_HEADER",
        default_value = "X-Auth-Request-Email"
    )]
    pub proxy_header: String,
    /// Addresses the proxy connects from, comma-separated CIDRs (e.g. 10.0.0.0/8); the
    /// header is ignored from anywhere else.
    #[arg(long, env = "METRICS_APP_PROXY_TRUSTED", value_delimiter = ',')]
    pub proxy_trusted: Vec<String>,
    /// Serve /metrics on this address instead of --listen, so it need not be public.
    #[arg(long, env = "METRICS_APP_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Writes per second each client (engineer, else address) may make, sustained.
    #[arg(long, env = "METRICS_APP_WRITE_RATE", default_value_t = NonZeroU32::new(20).expect("not zero"))]
    pub write_rate: NonZeroU32,
    /// Writes each client may make at once after a quiet spell.
    #[arg(long, env = "METRICS_APP_WRITE_BURST", default_value_t = NonZeroU32::new(200).expect("not zero"))]
    pub write_burst: NonZeroU32,
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
        let auth = self.auth_settings()?;
        Ok(Settings {
            body_limit: self.body_limit,
            request_timeout: Duration::from_secs(self.request_timeout),
            cors_origins,
            open_to_anyone: auth.mode() == AuthMode::None && !self.listen.ip().is_loopback(),
            auth,
            write_limit: WriteLimit {
                per_second: self.write_rate,
                burst: self.write_burst,
            },
            metrics_elsewhere: self.metrics_listen.is_some(),
        })
    }

    /// The sign-in mode with its tokens (read now: a broken file stops the start).
    fn auth_settings(&self) -> Result<Auth> {
        let tokens = self
            .tokens_file
            .as_deref()
            .filter(|path| !path.as_os_str().is_empty())
            .map(Tokens::load)
            .transpose()
            .map_err(|error| Error::Config(report(&error)))?;
        let sign_in = match tokens {
            Some(tokens) => Some((tokens, self.session_keys()?)),
            None => None,
        };
        match self.auth {
            AuthMode::None => Ok(Auth::none()),
            AuthMode::Token => sign_in
                .map(|(tokens, keys)| Auth::token(tokens, keys))
                .ok_or_else(|| {
                    Error::Config(
                        "--auth token needs --tokens-file (METRICS_APP_TOKENS_FILE)".into(),
                    )
                }),
            AuthMode::Proxy => {
                let header = HeaderName::try_from(self.proxy_header.trim()).map_err(|_| {
                    Error::Config(format!(
                        "--proxy-header {:?} is not a header name",
                        self.proxy_header
                    ))
                })?;
                let trusted = self
                    .proxy_trusted
                    .iter()
                    .map(|cidr| cidr.trim())
                    .filter(|cidr| !cidr.is_empty())
                    .map(|cidr| {
                        cidr.parse::<IpNet>()
                            .or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from))
                            .map_err(|_| {
                                Error::Config(format!(
                                    "--proxy-trusted {cidr:?} is not a CIDR like 10.0.0.0/8"
                                ))
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if trusted.is_empty() {
                    return Err(Error::Config(
                        "--auth proxy needs --proxy-trusted (METRICS_APP_PROXY_TRUSTED): the \
                         addresses the proxy connects from"
                            .into(),
                    ));
                }
                Ok(Auth::proxy(Proxy { header, trusted }, sign_in))
            }
        }
    }

    /// The session key: from its file (read now: a broken file stops the start), else
    /// drawn at random.
    fn session_keys(&self) -> Result<SessionKeys> {
        match self
            .session_key_file
            .as_deref()
            .filter(|path| !path.as_os_str().is_empty())
        {
            Some(path) => Watched::load(path)
                .map(SessionKeys::File)
                .map_err(|error| Error::Config(report(&error))),
            None => SessionKey::random()
                .map(|key| SessionKeys::Drawn(Arc::new(key)))
                .map_err(|error| Error::Config(format!("cannot draw a session key: {error}"))),
        }
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
