//! The pages' shared parts: the layout with its navigation and the line saying who is
//! signed in, the CSRF field of every form, the sign-in form, and the pages an error or
//! a refusal gets. Views read the request's [`PageContext`] and nothing else of the web
//! layer.

use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::context::{CSRF_FIELD, PageContext, page_context};
use crate::auth::{AuthMode, Caller, Role};
use crate::error::{Error, report};

#[derive(Clone, Copy, PartialEq)]
pub enum Page {
    Record,
    List,
    Summary,
    SignIn,
}

pub fn layout(page: Page, title: &str, body: Markup) -> Markup {
    let current = |p: Page| if p == page { Some("page") } else { None };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Metrics App" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                header { nav {
                    a.brand href="/" { "Metrics App" }
                    a href="/" aria-current=[current(Page::Record)] { "Record" }
                    a href="/activities" aria-current=[current(Page::List)] { "Activities" }
                    a href="/summary" aria-current=[current(Page::Summary)] { "Summary" }
                } (status_bar()) }
                main { (body) }
                footer { "JSON API: " a href="/openapi.json" { "/openapi.json" } }
            }
        }
    }
}

/// An error as a page, with the status the JSON API would answer.
pub fn error_page(page: Page, error: &Error) -> Response {
    if error.status().is_server_error() {
        tracing::error!(error = %report(error), "page failed");
    }
    let message = error.body().error.message;
    let body = layout(
        page,
        "Error",
        html! {
            h1 { "Something went wrong" }
            p.notice.error { (message) }
        },
    );
    (error.status(), body).into_response()
}

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

/// The sign-in form, or why there is none in this mode.
pub fn sign_in_page(context: &PageContext, error: Option<&str>) -> Markup {
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
