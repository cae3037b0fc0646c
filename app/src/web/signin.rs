//! Signing in on the pages: the form that turns an API token into a session cookie, the
//! line at the top of every page saying who is signed in (or that anyone may write), and
//! the page a refused request gets instead of a JSON error.

use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;

use super::AppState;
use super::context::{page_context, served_over_tls, set_cookie};
use super::views::sign_in_page;
use crate::auth::session;
use crate::auth::tokens::token_hash;
use crate::error::Error;

/// The sign-in form and signing out.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(form).post(sign_in))
        .route("/sign-out", post(sign_out))
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
