//! Signing in on the pages: the form that turns an API token into a session cookie, the
//! line at the top of every page saying who is signed in (or that anyone may write), and
//! the page a refused request gets instead of a JSON error.

use axum::Form;
use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::AppState;
use super::pages::{Page, layout};
use super::security::{CSRF_FIELD, PageContext, page_context, served_over_tls, set_cookie};
use crate::auth::tokens::token_hash;
use crate::auth::{AuthMode, Caller, Role, session};
use crate::error::Error;

/// The hidden field every posting form carries (double-submit of the CSRF cookie).
pub fn csrf_field() -> Markup {
    let token = page_context().map(|c| c.csrf).unwrap_or_default();
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// Who is signed in, with a sign-out button; or a sign-in link; or, with sign-in off on
/// a network address, a warning that anyone may write.
pub fn status_bar() -> Markup {
    let Some(context) = page_context() else {
        return html! {};
    };
    html! {
        @match &context.caller {
            Caller::Everyone => @if context.open_to_anyone {
                p.banner.warning role="alert" {
                    "Sign-in is off: anyone who can reach this app can record, change and delete every activity. "
                    "Start it with " code { "--auth token" } " (see the README, Sign-in)."
                }
            },
            Caller::Anonymous => p.banner { "Not signed in. " a href="/sign-in" { "Sign in" } },
            Caller::SignedIn { identity, .. } => div.banner {
                "Signed in as " strong { (identity.engineer) }
                @if identity.role == Role::Admin { " (admin)" }
                @if context.mode == AuthMode::Token {
                    form.inline method="post" action="/sign-out" {
                        (csrf_field())
                        button.secondary type="submit" { "Sign out" }
                    }
                }
            },
        }
    }
}

/// The engineer a form records for: the signed-in one, unless an admin names another.
pub fn fill_engineer(caller: &Caller, engineer: &mut String) {
    if let Some(identity) = caller.identity()
        && (identity.role == Role::Engineer || engineer.trim().is_empty())
    {
        identity.engineer.clone_into(engineer);
    }
}

fn sign_in_page(context: &PageContext, error: Option<&str>) -> Markup {
    let form_available = context.mode == AuthMode::Token;
    layout(
        Page::SignIn,
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(error) = error {
                p.notice.error role="alert" { (error) }
            }
            @match context.mode {
                AuthMode::None => p.notice { "Sign-in is off on this app (" code { "--auth none" } "): everyone may read and write." },
                AuthMode::Proxy => p.notice { "This app signs you in through your organisation's sign-in proxy. Open it through the proxy's address." },
                AuthMode::Token => {}
            }
            @if form_available {
                div.card {
                    form.record method="post" action="/sign-in" {
                        (csrf_field())
                        div.wide {
                            label for="token" { "API token" }
                            input id="token" name="token" type="password" autocomplete="current-password" required;
                            p.hint { "Paste the token your administrator gave you. It is sent once; the browser keeps a session cookie, not the token." }
                        }
                        div.wide { button type="submit" { "Sign in" } }
                    }
                }
            }
        },
    )
}

/// A request the guard refused, as a page: the sign-in form for 401, else the reason.
pub fn refused(context: &PageContext, error: &Error) -> Response {
    let status = error.status();
    let body = match error {
        Error::Unauthorized => sign_in_page(context, Some("Sign in to use this page.")),
        _ => layout(
            Page::Record,
            "Refused",
            html! {
                h1 { "Not allowed" }
                p.notice.error role="alert" { (error.body().error.message) }
                p { a href="/" { "Back to the form" } }
            },
        ),
    };
    let mut response = (status, body).into_response();
    if let Error::RateLimited { retry_after } = error {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, (*retry_after).into());
    }
    response
}

pub async fn form() -> Markup {
    match page_context() {
        Some(context) => sign_in_page(&context, None),
        None => html! {},
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignInForm {
    token: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<SignInForm>,
) -> Response {
    let Some(context) = page_context() else {
        return Error::Unauthorized.into_response();
    };
    let tokens = state.settings.auth.tokens().map(|t| t.current());
    let token = form.token.trim();
    let known = tokens.is_some_and(|t| t.identify(token).is_some());
    let Some(key) = state.settings.auth.session_key().filter(|_| known) else {
        return (
            StatusCode::UNAUTHORIZED,
            sign_in_page(
                &context,
                Some("That token is not valid. Check it and try again."),
            ),
        )
            .into_response();
    };
    let now = chrono::Utc::now().timestamp().max(0).unsigned_abs();
    let value = session::issue(&key, &token_hash(token), now + session::LIFETIME_SECS);
    let secure = served_over_tls(&headers, &uri);
    let lifetime = i64::try_from(session::LIFETIME_SECS).unwrap_or(i64::MAX);
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, HeaderValue::from_static("/")),
            (
                SET_COOKIE,
                set_cookie(session::COOKIE, value, lifetime, secure),
            ),
        ],
    )
        .into_response()
}

pub async fn sign_out(headers: HeaderMap, uri: Uri) -> Response {
    let secure = served_over_tls(&headers, &uri);
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, HeaderValue::from_static("/sign-in")),
            (
                SET_COOKIE,
                set_cookie(session::COOKIE, String::new(), 0, secure),
            ),
        ],
    )
        .into_response()
}
