use std::process::ExitCode;

use clap::Parser;
use std::io::{IsTerminal, Write};

use metrics_app::auth::session::SessionKeys;
use metrics_app::auth::watched::RELOAD_EVERY;
use metrics_app::config::{AuthMode, Backend, Command, Config, LogFormat, RollupsCommand};
use metrics_app::error::report;
use metrics_app::{AppState, app, server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    fixed_mmap_threshold();
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

/// Keeps glibc's mmap threshold at its default of 128 KiB. glibc otherwise raises it
/// each time a large buffer is freed (up to 32 MiB), after which large transient
/// buffers (a response chunk, a page of items) come from the heap among redb's cached
/// pages, and the heap of a long listing grows with the number of pages read instead
/// of staying at the cache's size: listing 143k items of 2 KB peaked at 149 MiB; with
/// the threshold fixed (and `/picus/list` written in small chunks), 90 MiB at any count.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, under glibc's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

async fn run(config: Config) -> metrics_app::Result<()> {
    match config.command {
        Some(Command::Rollups(RollupsCommand::Rebuild)) => return rebuild_rollups(&config).await,
        None => {}
    }
    let settings = config.settings()?;
    let store = config.open_store().await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| metrics_app::Error::Serve {
            addr: config.listen.to_string(),
            source,
        })?;
    match settings.auth.mode() {
        AuthMode::None if settings.open_to_anyone => tracing::warn!(
            listen = %config.listen,
            "sign-in is off (--auth none) on a network address: anyone who can reach the app can write; use --auth token or proxy"
        ),
        AuthMode::None | AuthMode::Token | AuthMode::Proxy => {
            tracing::info!(auth = ?settings.auth.mode(), "sign-in mode")
        }
    }
    if let Some(tokens) = settings.auth.tokens() {
        tracing::info!(tokens = tokens.current().len(), "tokens loaded");
        tokens.spawn_reload(RELOAD_EVERY);
    }
    match settings.auth.session_keys() {
        Some(SessionKeys::File(file)) => {
            tracing::info!(
                path = %file.path().display(),
                key_id = %file.current().id(),
                "session key loaded"
            );
            file.spawn_reload(RELOAD_EVERY);
        }
        Some(SessionKeys::Drawn(_)) => tracing::warn!(
            "no --session-key-file: a session key was drawn at start, so sign-ins end when \
             this process stops and only this replica accepts them"
        ),
        None => {}
    }
    let state = AppState::new(store, settings);
    if let Some(addr) = config.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| metrics_app::Error::Serve {
                addr: addr.to_string(),
                source,
            })?;
        tracing::info!(metrics_listen = %addr, "serving /metrics on http://{addr}");
        let router = metrics_app::web::metrics_app(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(metrics, router).await {
                tracing::error!(%error, "the /metrics server stopped");
            }
        });
    }
    tracing::info!(listen = %config.listen, "serving http://{}", config.listen);
    server::serve(
        listener,
        app(state),
        server::shutdown_signal(),
        config.shutdown_timeout(),
    )
    .await
}

async fn rebuild_rollups(config: &Config) -> metrics_app::Result<()> {
    let terminal = std::io::stderr().is_terminal();
    // A bar that redraws itself on a terminal; plain log lines in a pipe or a Job.
    let show = |line: String| {
        if terminal {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        } else {
            tracing::info!("{line}");
        }
    };
    let counted = match config.open_backend().await? {
        Backend::Embedded(store) => store.rebuild_rollups(&|done, total| {
            show(format!(
                "{} {done}/{total} activities counted",
                bar(done, total)
            ));
        })?,
        Backend::DynamoDb(store) => {
            store
                .backfill_rollups(&|read, marked| {
                    show(format!(
                        "{read} activities read, {marked} marked for counting"
                    ));
                })
                .await?
        }
    };
    if terminal {
        eprintln!();
    }
    tracing::info!(activities = counted, "rollups rebuilt");
    Ok(())
}

fn bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    let filled = (done.saturating_mul(WIDTH))
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    let filled = usize::try_from(filled).unwrap_or(0);
    format!("[{}{}]", "#".repeat(filled), " ".repeat(30 - filled))
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
