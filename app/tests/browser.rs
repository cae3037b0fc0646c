//! A real browser signs in through the form of `--auth token` and records an activity:
//! headless Chromium (Debian's package) driven by playwright-core (`tests/browser/`).
//! Skipped, saying so, without them; `METRICSAPP_REQUIRE_BROWSER=1` (as `./scripts/test`
//! sets it) makes a missing browser a failure instead.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::Served;
use metrics_app::auth::Auth;
use metrics_app::auth::session::{SessionKey, SessionKeys};
use metrics_app::auth::tokens::{Tokens, token_hash};
use metrics_app::store::ActivityQuery;
use metrics_app::{AppState, Settings, app};

/// Chromium and the driver, or `None` after saying loudly that the test is skipped.
fn browser(test: &str) -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let driver = root.join(".tools/browser/node_modules/playwright-core");
    let node = std::process::Command::new("node").arg("--version").output();
    let missing = match (chromium.exists(), driver.exists(), node.is_ok()) {
        (true, true, true) => return Some((chromium, root.join(".tools/browser"))),
        (false, _, _) => format!("{} (apt-get install chromium)", chromium.display()),
        (_, false, _) => format!("{} (run ./scripts/test)", driver.display()),
        (_, _, false) => "node".to_owned(),
    };
    assert!(
        std::env::var("METRICSAPP_REQUIRE_BROWSER").as_deref() != Ok("1"),
        "{test} needs {missing}, and METRICSAPP_REQUIRE_BROWSER=1 forbids skipping it"
    );
    eprintln!("SKIPPED: {test} needs {missing}");
    None
}

#[tokio::test]
async fn a_browser_signs_in_with_a_token_and_records_an_activity() {
    let Some((chromium, driver_dir)) =
        browser("a_browser_signs_in_with_a_token_and_records_an_activity")
    else {
        return;
    };
    let token = "mapp_browser-test-token";
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("tokens");
    std::fs::write(
        &path,
        format!("ada engineer {}\n", hex::encode(token_hash(token))),
    )
    .expect("write tokens");
    let (store, _data) = common::embedded();
    let settings = Settings {
        auth: Auth::token(
            Tokens::load(&path).expect("tokens"),
            SessionKeys::Drawn(Arc::new(SessionKey::random().expect("key"))),
        ),
        ..Settings::default()
    };
    let router = app(AppState::new(store.clone(), settings));
    let Served {
        addr,
        stop,
        task: server,
    } = Served::start(router, Duration::from_secs(1)).await;
    let url = format!("http://{addr}");

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/sign_in.mjs");
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(&script)
            .arg(&url)
            .arg(token)
            .arg(&chromium)
            .env("PLAYWRIGHT_DIR", &driver_dir)
            .output()
    });
    // Playwright gives up on a step after 30 s; this bounds the whole run.
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser finished within 120 s")
        .expect("join")
        .expect("node runs");
    let _ = stop.send(());
    server.await.expect("join").expect("served");
    assert!(
        output.status.success(),
        "browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let page = store
        .list_activities(&ActivityQuery::default(), 10, None)
        .await
        .expect("list");
    let recorded: Vec<_> = page
        .activities
        .iter()
        .map(|a| (a.fields.customer.as_str(), a.fields.engineer.as_str()))
        .collect();
    assert_eq!(recorded, [("Browser Co", "ada")]);
}
