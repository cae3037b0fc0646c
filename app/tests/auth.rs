//! Sign-in, authorization and CSRF, through the router and a running server, in every
//! `--auth` mode and on both stores.

mod common;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, Method, Request, StatusCode, header};
use clap::Parser;
use common::{
    Reply, Served, embedded, embedded_router, get, post_form, reply, send, send_with_token,
    submit_form,
};
use metrics_app::auth::session::{SessionKey, SessionKeys};
use metrics_app::auth::tokens::{Tokens, token_hash};
use metrics_app::auth::{Auth, Proxy};
use metrics_app::config::Config;
use metrics_app::store::SharedStore;
use metrics_app::web::WriteLimit;
use metrics_app::{AppState, Settings, app};
use serde_json::json;

const ADA: &str = "mapp_ada-0123456789";
const BOB: &str = "mapp_bob-0123456789";
const ROOT: &str = "mapp_root-0123456789";

fn token_line(engineer: &str, role: &str, token: &str) -> String {
    format!("{engineer} {role} {}\n", hex::encode(token_hash(token)))
}

/// A token file for ada, bob (engineers) and root (admin), in a fresh directory.
fn token_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("tokens");
    let text = format!(
        "# engineer role sha256\n{}{}\n{}",
        token_line("ada", "engineer", ADA),
        token_line("bob", "engineer", BOB),
        token_line("root", "admin", ROOT)
    );
    std::fs::write(&path, text).expect("write tokens");
    (dir, path)
}

/// A session key drawn for one test, as the app draws one without --session-key-file.
fn drawn_key() -> SessionKeys {
    SessionKeys::Drawn(std::sync::Arc::new(SessionKey::random().expect("random")))
}

fn with_auth(store: SharedStore, auth: Auth) -> Router {
    app(AppState::new(
        store,
        Settings {
            auth,
            ..Settings::default()
        },
    ))
}

fn activity(engineer: &str) -> String {
    json!({"customer": "Acme", "project": "Data", "engineer": engineer,
           "date": "2026-11-20", "hours": 1.5})
    .to_string()
}

async fn create(app: &Router, token: Option<&str>, engineer: &str) -> Reply {
    send_with_token(
        app,
        Method::POST,
        "/api/v1/activities",
        token,
        Some(&activity(engineer)),
    )
    .await
}

/// A cross-site "simple" request: no preflight, so a browser sends it from any page.
async fn text_plain_post(app: &Router, uri: &str, token: Option<&str>) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::ORIGIN, "https://evil.example.com")
        .header("sec-fetch-site", "cross-site");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    reply(
        app,
        request.body(Body::from(activity("ada"))).expect("request"),
    )
    .await
}

async fn count(app: &Router, token: Option<&str>) -> usize {
    let list = send_with_token(app, Method::GET, "/api/v1/activities", token, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    list.json()["items"].as_array().expect("items").len()
}

async fn token_mode(store: SharedStore) {
    let (_dir, path) = token_file();
    let tokens = Tokens::load(&path).expect("load tokens");
    let app = with_auth(store, Auth::token(tokens.clone(), drawn_key()));

    // Nobody signed in: every write and read of the API is a JSON 401.
    let anonymous = create(&app, None, "ada").await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.text
    );
    assert_eq!(anonymous.error_code(), "unauthorized");
    assert!(anonymous.headers.contains_key(header::WWW_AUTHENTICATE));
    let read = send_with_token(&app, Method::GET, "/api/v1/activities", None, None).await;
    assert_eq!(
        (read.status, read.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let wrong = create(&app, Some("mapp_guessed"), "ada").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let item = send(&app, Method::POST, "/picus/put", Some(r#"{"Data": 1}"#)).await;
    assert_eq!(item.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);

    // A token from the file: its own engineer's activities, not another's.
    let created = create(&app, Some(ADA), "ada").await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let uri = format!("/api/v1/activities/{id}");
    let for_bob = create(&app, Some(ADA), "bob").await;
    assert_eq!(
        (for_bob.status, for_bob.error_code().as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let by_bob = send_with_token(&app, Method::PUT, &uri, Some(BOB), Some(&activity("bob"))).await;
    assert_eq!(by_bob.status, StatusCode::FORBIDDEN, "{}", by_bob.text);
    let deleted_by_bob = send_with_token(&app, Method::DELETE, &uri, Some(BOB), None).await;
    assert_eq!(deleted_by_bob.status, StatusCode::FORBIDDEN);
    let moved = send_with_token(&app, Method::PUT, &uri, Some(ADA), Some(&activity("bob"))).await;
    assert_eq!(
        moved.status,
        StatusCode::FORBIDDEN,
        "an engineer cannot give it away"
    );
    // Reads for every signed-in engineer; an admin writes anyone's.
    assert_eq!(
        send_with_token(&app, Method::GET, &uri, Some(BOB), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        create(&app, Some(ROOT), "bob").await.status,
        StatusCode::CREATED
    );
    let edited = send_with_token(&app, Method::PUT, &uri, Some(ROOT), Some(&activity("ada"))).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);

    // /picus writes need a token; reads are for anyone signed in.
    let put = send_with_token(
        &app,
        Method::POST,
        "/picus/put",
        Some(BOB),
        Some(r#"{"Data": "x"}"#),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);

    // text/plain is what a cross-site page can send without a preflight: refused.
    let before = count(&app, Some(ADA)).await;
    let plain = text_plain_post(&app, "/api/v1/activities", Some(ADA)).await;
    assert_eq!(
        (plain.status, plain.error_code().as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    assert_eq!(
        text_plain_post(&app, "/picus/put", Some(ADA)).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(count(&app, Some(ADA)).await, before, "nothing was stored");

    // Revoked: bob leaves the file, carol joins; the watcher reloads without a restart.
    let reloading = tokens.spawn_reload(Duration::from_millis(50));
    let carol = "mapp_carol-0123456789";
    std::fs::write(
        &path,
        format!(
            "{}{}",
            token_line("ada", "engineer", ADA),
            token_line("carol", "engineer", carol)
        ),
    )
    .expect("rewrite tokens");
    let mut refused = false;
    for _ in 0..100 {
        if create(&app, Some(BOB), "bob").await.status == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(refused, "a revoked token is refused after the reload");
    assert_eq!(
        create(&app, Some(carol), "carol").await.status,
        StatusCode::CREATED
    );
    // A broken file keeps the tokens in force.
    std::fs::write(&path, "carol engineer not-a-hash\n").expect("break tokens");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        create(&app, Some(carol), "carol").await.status,
        StatusCode::CREATED
    );
    reloading.abort();
}

#[tokio::test]
async fn token_mode_on_the_embedded_store() {
    let (store, _dir) = embedded();
    token_mode(store).await;
}

#[tokio::test]
async fn token_mode_on_dynamodb() {
    if let Some(store) = common::dynamodb("token_mode_on_dynamodb").await {
        token_mode(store).await;
    }
}

fn from(peer: &str, request: axum::http::request::Builder) -> axum::http::request::Builder {
    let addr: SocketAddr = peer.parse().expect("addr");
    request.extension(ConnectInfo(addr))
}

fn proxied(peer: &str, engineer: &str, body: &str) -> Request<Body> {
    from(peer, Request::builder())
        .method(Method::POST)
        .uri("/api/v1/activities")
        .header("x-auth-request-email", engineer)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

async fn proxy_mode(store: SharedStore) {
    let (_dir, path) = token_file();
    let proxy = Proxy {
        header: HeaderName::from_static("x-auth-request-email"),
        trusted: vec!["10.0.0.0/8".parse().expect("cidr")],
    };
    let app = with_auth(
        store,
        Auth::proxy(
            proxy,
            Some((Tokens::load(&path).expect("tokens"), drawn_key())),
        ),
    );

    let trusted = reply(&app, proxied("10.1.2.3:4000", "ada", &activity("ada"))).await;
    assert_eq!(trusted.status, StatusCode::CREATED, "{}", trusted.text);
    let other = reply(&app, proxied("10.1.2.3:4000", "ada", &activity("bob"))).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    // From anywhere else the header is ignored: without a token, 401.
    let untrusted = reply(&app, proxied("203.0.113.9:4000", "ada", &activity("ada"))).await;
    assert_eq!(
        (untrusted.status, untrusted.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let unknown_peer = reply(&app, {
        let mut request = proxied("203.0.113.9:4000", "ada", &activity("ada"));
        request.extensions_mut().remove::<ConnectInfo<SocketAddr>>();
        request
    })
    .await;
    assert_eq!(unknown_peer.status, StatusCode::UNAUTHORIZED);
    // ... and a token works from anywhere.
    let scripted = create(&app, Some(ADA), "ada").await;
    assert_eq!(scripted.status, StatusCode::CREATED, "{}", scripted.text);
    // /picus writes need a token even behind the proxy.
    let item = reply(
        &app,
        from("10.1.2.3:4000", Request::builder())
            .method(Method::POST)
            .uri("/picus/put")
            .header("x-auth-request-email", "ada")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"Data": 1}"#))
            .expect("request"),
    )
    .await;
    assert_eq!(item.status, StatusCode::FORBIDDEN, "{}", item.text);
    assert_eq!(
        text_plain_post(&app, "/api/v1/activities", Some(ADA))
            .await
            .status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

#[tokio::test]
async fn proxy_mode_on_the_embedded_store() {
    let (store, _dir) = embedded();
    proxy_mode(store).await;
}

#[tokio::test]
async fn proxy_mode_on_dynamodb() {
    if let Some(store) = common::dynamodb("proxy_mode_on_dynamodb").await {
        proxy_mode(store).await;
    }
}

async fn none_mode(store: SharedStore) {
    let app = app(AppState::new(
        store,
        Settings {
            open_to_anyone: true,
            ..Settings::default()
        },
    ));
    // Anyone may write, as before sign-in existed; the pages say so.
    assert_eq!(
        create(&app, None, "anyone").await.status,
        StatusCode::CREATED
    );
    let page = get(&app, "/").await;
    assert!(page.text.contains("Sign-in is off"), "{}", page.text);
    // But not from another site: no text/plain JSON, no form without its token.
    let plain = text_plain_post(&app, "/api/v1/activities", None).await;
    assert_eq!(plain.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let form = "customer=Acme&project=Data&engineer=ada&date=2026-11-20&hours=1";
    let no_token = post_form(&app, "/", &[], form).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN, "{}", no_token.text);
    assert!(no_token.text.contains("CSRF"), "{}", no_token.text);
    let (cookie, token) = common::csrf(&app).await;
    let cross_site = post_form(
        &app,
        "/",
        &[
            (header::HOST, "metrics.example.com"),
            (header::ORIGIN, "https://evil.example.com"),
            (header::COOKIE, cookie.as_str()),
        ],
        format!("csrf_token={token}&{form}"),
    )
    .await;
    assert_eq!(
        cross_site.status,
        StatusCode::FORBIDDEN,
        "{}",
        cross_site.text
    );
    let wrong_token = post_form(
        &app,
        "/",
        &[(header::COOKIE, cookie.as_str())],
        format!("csrf_token=forged&{form}"),
    )
    .await;
    assert_eq!(wrong_token.status, StatusCode::FORBIDDEN);
    let same_site = post_form(
        &app,
        "/",
        &[
            (header::HOST, "metrics.example.com"),
            (header::ORIGIN, "https://metrics.example.com"),
            (header::COOKIE, cookie.as_str()),
        ],
        format!("csrf_token={token}&{form}"),
    )
    .await;
    assert_eq!(
        same_site.status,
        StatusCode::SEE_OTHER,
        "{}",
        same_site.text
    );
}

#[tokio::test]
async fn none_mode_on_the_embedded_store() {
    let (store, _dir) = embedded();
    none_mode(store).await;
}

#[tokio::test]
async fn none_mode_on_dynamodb() {
    if let Some(store) = common::dynamodb("none_mode_on_dynamodb").await {
        none_mode(store).await;
    }
}

fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

#[tokio::test]
async fn the_sign_in_form_turns_a_token_into_a_session() {
    let (store, _dir) = embedded();
    let (_tokens_dir, path) = token_file();
    let tokens = Tokens::load(&path).expect("tokens");
    let app = with_auth(store, Auth::token(tokens.clone(), drawn_key()));

    // Pages hint at signing in.
    let page = get(&app, "/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.text.contains(r#"action="/sign-in""#), "{}", page.text);

    let wrong = submit_form(&app, "/sign-in", "token=mapp_wrong", &[]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&wrong, "metrics_session").is_none());
    let signed_in = submit_form(&app, "/sign-in", &format!("token={ADA}"), &[]).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.text
    );
    let cookie = set_cookie(&signed_in, "metrics_session").expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(!cookie.contains(ADA), "the cookie is not the token");
    let session = cookie.split(';').next().expect("pair").to_owned();

    // Over TLS (at a proxy that says so) the cookie is Secure.
    let (csrf_cookie, csrf) = common::csrf(&app).await;
    let tls = post_form(
        &app,
        "/sign-in",
        &[
            (HeaderName::from_static("x-forwarded-proto"), "https"),
            (header::COOKIE, csrf_cookie.as_str()),
        ],
        format!("csrf_token={csrf}&token={ADA}"),
    )
    .await;
    assert!(
        set_cookie(&tls, "metrics_session")
            .expect("cookie")
            .contains("Secure")
    );

    // Signed in: the form names ada, and records for ada whatever is typed.
    let form = reply(
        &app,
        Request::get("/")
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.text.contains("Signed in as") && form.text.contains(r#"value="ada""#),
        "{}",
        form.text
    );
    let recorded = submit_form(
        &app,
        "/",
        "customer=Acme&project=Data&engineer=bob&date=2026-11-20&hours=2",
        &[&session],
    )
    .await;
    assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.text);
    let list = send_with_token(
        &app,
        Method::GET,
        "/api/v1/activities?engineer=ada",
        Some(ADA),
        None,
    )
    .await;
    assert_eq!(list.json()["items"].as_array().map(Vec::len), Some(1));

    // A form post without its CSRF token is refused, signed in or not.
    let forged = post_form(
        &app,
        "/",
        &[(header::COOKIE, session.as_str())],
        "customer=Acme&project=Data&engineer=ada&date=2026-11-20&hours=2",
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);

    // Revoking the token ends its sessions.
    std::fs::write(&path, token_line("bob", "engineer", BOB)).expect("rewrite");
    assert!(tokens.reload().expect("reload"));
    let after = reply(
        &app,
        Request::get("/activities")
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    let signed_out = submit_form(&app, "/sign-out", "", &[&session]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert!(
        set_cookie(&signed_out, "metrics_session")
            .expect("cleared")
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn pages_forbid_script_and_framing() {
    let (app, _dir) = embedded_router();
    for uri in [
        "/",
        "/activities",
        "/summary",
        "/sign-in",
        "/api/v1/activities",
    ] {
        let page = get(&app, uri).await;
        let csp = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        // The pages need no inline script or style to work under that policy.
        assert!(
            !page.text.contains("<script") && !page.text.contains("style="),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn writes_are_rate_limited_per_client() {
    let (store, _dir) = embedded();
    let one = NonZeroU32::new(1).expect("one");
    let app = app(AppState::new(
        store,
        Settings {
            write_limit: WriteLimit {
                per_second: one,
                burst: NonZeroU32::new(2).expect("two"),
            },
            ..Settings::default()
        },
    ));
    let write = |peer: &'static str| {
        let app = app.clone();
        async move {
            reply(
                &app,
                from(peer, Request::builder())
                    .method(Method::POST)
                    .uri("/api/v1/activities")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(activity("ada")))
                    .expect("request"),
            )
            .await
        }
    };
    assert_eq!(write("192.0.2.1:1").await.status, StatusCode::CREATED);
    assert_eq!(write("192.0.2.1:2").await.status, StatusCode::CREATED);
    let limited = write("192.0.2.1:3").await;
    assert_eq!(
        (limited.status, limited.error_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(
        write("192.0.2.2:1").await.status,
        StatusCode::CREATED,
        "another client"
    );
    assert_eq!(
        get(&app, "/api/v1/activities").await.status,
        StatusCode::OK,
        "reads are not limited"
    );
}

#[tokio::test]
async fn metrics_can_move_off_the_public_address() {
    let (store, _dir) = embedded();
    let state = AppState::new(
        store,
        Settings {
            metrics_elsewhere: true,
            ..Settings::default()
        },
    );
    assert_eq!(
        get(&app(state.clone()), "/metrics").await.status,
        StatusCode::NOT_FOUND
    );
    let metrics = get(&metrics_app::web::metrics_app(state), "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_declares_who_may_call_what() {
    let (store, _dir) = embedded();
    // Without sign-in the document asks for no credentials (none would be checked).
    let open = get(&common::router(store.clone()), "/openapi.json")
        .await
        .json();
    assert!(open["components"]["securitySchemes"].is_null(), "{open}");
    let create = &open["paths"]["/api/v1/activities"]["post"];
    assert!(create["security"].is_null());
    assert!(create["responses"]["401"].is_null());
    for status in ["415", "429"] {
        assert!(create["responses"][status].is_object(), "{status}");
    }

    let (_tokens_dir, path) = token_file();
    let tokens = Tokens::load(&path).expect("load tokens");
    let doc = get(
        &with_auth(store, Auth::token(tokens, drawn_key())),
        "/openapi.json",
    )
    .await
    .json();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["token"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["proxy"]["in"], "header");
    assert_eq!(
        doc["paths"]["/picus/put"]["post"]["security"],
        json!([{"token": []}])
    );
    let create = &doc["paths"]["/api/v1/activities"]["post"];
    assert_eq!(create["security"].as_array().map(Vec::len), Some(3));
    for status in ["401", "403", "415", "429"] {
        assert!(create["responses"][status].is_object(), "{status}");
    }
}

#[test]
fn sign_in_settings_are_checked_at_startup() {
    let settings = |args: &[&str]| {
        Config::try_parse_from(std::iter::once("metrics-app").chain(args.iter().copied()))
            .expect("parses")
            .settings()
    };
    let error = settings(&["--auth", "token"]).expect_err("no file");
    assert!(error.to_string().contains("--tokens-file"), "{error}");
    let (dir, path) = token_file();
    let file = path.to_str().expect("utf-8");
    assert!(settings(&["--auth", "token", "--tokens-file", file]).is_ok());
    let broken = dir.path().join("broken");
    std::fs::write(
        &broken,
        format!("{}ada admin\n", token_line("x", "admin", "t")),
    )
    .expect("write");
    let error = settings(&[
        "--auth",
        "token",
        "--tokens-file",
        broken.to_str().expect("utf-8"),
    ])
    .expect_err("malformed");
    assert!(error.to_string().contains("line 2"), "{error}");
    assert!(
        !error.to_string().contains(&hex::encode(token_hash("t"))),
        "no hash in the message"
    );
    let error = settings(&["--auth", "proxy"]).expect_err("no trusted addresses");
    assert!(error.to_string().contains("--proxy-trusted"), "{error}");
    assert!(
        settings(&[
            "--auth",
            "proxy",
            "--proxy-trusted",
            "10.0.0.0/8,192.168.1.7"
        ])
        .is_ok()
    );
    assert!(settings(&["--auth", "proxy", "--proxy-trusted", "10.0.0/8"]).is_err());
    let open = settings(&["--listen", "0.0.0.0:8080"]).expect("none");
    assert!(open.open_to_anyone);
    assert!(!settings(&[]).expect("none").open_to_anyone);
}

/// One HTTP/1.1 request on a fresh connection to a running server.
async fn raw(addr: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}

#[tokio::test]
async fn a_running_server_trusts_the_proxy_header_only_from_its_addresses() {
    for (trusted, expected) in [("10.0.0.0/8", "401"), ("127.0.0.1/32", "201")] {
        let (store, _dir) = embedded();
        let proxy = Proxy {
            header: HeaderName::from_static("x-auth-request-email"),
            trusted: vec![trusted.parse().expect("cidr")],
        };
        let router = with_auth(store, Auth::proxy(proxy, None));
        let Served {
            addr,
            stop,
            task: server,
        } = Served::start(router, Duration::from_secs(1)).await;
        let body = activity("ada");
        let answer = raw(
            addr,
            &format!(
                "POST /api/v1/activities HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Request-Email: ada\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {expected}")),
            "{trusted}: {answer}"
        );
        let _ = stop.send(());
        server.await.expect("join").expect("served");
    }
}

/// A JSON write carrying only a session cookie, as a signed-in browser's script sends it.
async fn create_with_cookie(app: &Router, cookie: &str, engineer: &str) -> Reply {
    reply(
        app,
        Request::post("/api/v1/activities")
            .header(header::COOKIE, format!("metrics_session={cookie}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(activity(engineer)))
            .expect("request"),
    )
    .await
}

fn session_value(reply: &Reply) -> String {
    let cookie = set_cookie(reply, "metrics_session").expect("session cookie");
    let pair = cookie.split(';').next().expect("pair");
    pair.trim_start_matches("metrics_session=").to_owned()
}

/// The session cookie the app used to accept: HMAC-SHA256 under SHA-256 of a fixed label
/// and the token file's text, which holds only hashes and is no secret.
fn cookie_from_the_token_file(text: &str, token: &str, expires: u64) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};
    let key = Sha256::new_with_prefix(b"metrics-app session key v1\0")
        .chain_update(text.as_bytes())
        .finalize();
    let mut value = token_hash(token).to_vec();
    value.extend_from_slice(&expires.to_be_bytes());
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(b"session\0");
    mac.update(&value);
    value.extend_from_slice(&mac.finalize().into_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value)
}

#[tokio::test]
async fn sessions_are_signed_with_the_session_key_alone() {
    let (store, _dir) = embedded();
    let (dir, tokens_path) = token_file();
    let key_path = dir.path().join("session-key");
    std::fs::write(&key_path, format!("{}\n", "5a".repeat(32))).expect("write key");
    // Two replicas mounting the same Secret, configured as the operator configures them.
    let replica = || {
        let settings = Config::try_parse_from([
            "metrics-app",
            "--auth",
            "token",
            "--tokens-file",
            tokens_path.to_str().expect("utf-8"),
            "--session-key-file",
            key_path.to_str().expect("utf-8"),
        ])
        .expect("parses")
        .settings()
        .expect("settings");
        let Some(SessionKeys::File(key_file)) = settings.auth.session_keys().cloned() else {
            panic!("the key comes from its file");
        };
        (app(AppState::new(store.clone(), settings)), key_file)
    };
    let (a, a_key) = replica();
    let (b, b_key) = replica();
    let far = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970") + 3600;

    let signed_in = submit_form(&a, "/sign-in", &format!("token={ADA}"), &[]).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.text
    );
    let ada = session_value(&signed_in);
    let on_b = create_with_cookie(&b, &ada, "ada").await;
    assert_eq!(
        on_b.status,
        StatusCode::CREATED,
        "the other replica: {}",
        on_b.text
    );

    // Whoever reads the token file cannot sign in as its admin.
    let text = std::fs::read_to_string(&tokens_path).expect("read tokens");
    let forged = cookie_from_the_token_file(&text, ROOT, far);
    for app in [&a, &b] {
        let refused = create_with_cookie(app, &forged, "bob").await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    }
    // Nor can anyone with a key of their own.
    let own_key = SessionKey::random().expect("random");
    let minted = metrics_app::auth::session::issue(&own_key, &token_hash(ROOT), far);
    let refused = create_with_cookie(&a, &minted, "bob").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);

    // A new key ends every session, on every replica; signing in again works.
    std::fs::write(&key_path, format!("{}\n", "c3".repeat(32))).expect("rotate");
    assert!(a_key.reload().expect("reload a") && b_key.reload().expect("reload b"));
    for app in [&a, &b] {
        let ended = create_with_cookie(app, &ada, "ada").await;
        assert_eq!(ended.status, StatusCode::UNAUTHORIZED, "{}", ended.text);
    }
    let again = session_value(&submit_form(&b, "/sign-in", &format!("token={ADA}"), &[]).await);
    let on_a = create_with_cookie(&a, &again, "ada").await;
    assert_eq!(on_a.status, StatusCode::CREATED, "{}", on_a.text);
    assert_eq!(count(&a, Some(ROOT)).await, 2);
}

#[test]
fn a_session_key_file_is_checked_at_startup() {
    let (dir, tokens) = token_file();
    let settings = |key: &std::path::Path| {
        Config::try_parse_from([
            "metrics-app",
            "--auth",
            "token",
            "--tokens-file",
            tokens.to_str().expect("utf-8"),
            "--session-key-file",
            key.to_str().expect("utf-8"),
        ])
        .expect("parses")
        .settings()
    };
    let missing = dir.path().join("missing");
    let error = settings(&missing).expect_err("missing").to_string();
    assert!(
        error.contains("cannot read the session key file") && error.contains("missing"),
        "{error}"
    );
    let short = dir.path().join("short");
    std::fs::write(&short, "ab".repeat(16)).expect("write");
    let error = settings(&short).expect_err("too short").to_string();
    assert!(
        error.contains("16 bytes") && error.contains("at least 32"),
        "{error}"
    );
    // The token file itself is not a key: its text is neither hex nor base64.
    let error = settings(&tokens).expect_err("token file").to_string();
    assert!(error.contains("neither hex nor base64"), "{error}");
    let good = dir.path().join("good");
    std::fs::write(&good, "ab".repeat(32)).expect("write");
    assert!(settings(&good).is_ok());
    // Without a file a key is drawn, and sign-in still works on this replica.
    let drawn = Config::try_parse_from([
        "metrics-app",
        "--auth",
        "token",
        "--tokens-file",
        tokens.to_str().expect("utf-8"),
    ])
    .expect("parses")
    .settings()
    .expect("settings");
    assert!(matches!(
        drawn.auth.session_keys(),
        Some(SessionKeys::Drawn(_))
    ));
}
