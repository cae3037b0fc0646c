//! What a page and the guard share about the request: who is asking (for the layout), the
//! browser's CSRF token, and how this app reads and sets cookies. The bottom layer of
//! the web modules: it imports none of them.

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

use crate::auth::{AuthMode, Caller};

/// The cookie holding the browser's CSRF token, and the form field that repeats it.
pub const CSRF_COOKIE: &str = "metrics_csrf";
pub const CSRF_FIELD: &str = "csrf_token";

/// What a page needs to know of the request it renders: held for the handler's duration
/// (a task-local), so the shared layout shows who is signed in without every handler
/// passing it down.
#[derive(Debug, Clone)]
pub struct PageContext {
    pub caller: Caller,
    pub mode: AuthMode,
    /// The browser's CSRF token, for the hidden field of every form that posts.
    pub csrf: String,
    /// Mode `none` on an address beyond loopback: the pages warn that anyone may write.
    pub open_to_anyone: bool,
}

tokio::task_local! {
    /// Set by the guard around each page handler.
    pub(super) static PAGE: PageContext;
}

/// The context of the page being rendered; none outside a request (unit tests).
pub fn page_context() -> Option<PageContext> {
    PAGE.try_with(Clone::clone).ok()
}

/// A cookie of the request, by name.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the client reached the app over TLS (directly, or at a proxy that says so).
pub fn served_over_tls(parts_headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    uri.scheme_str() == Some("https")
        || parts_headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .next()
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
            })
}

/// A cookie the way this app sets them: whole site, `HttpOnly`, `SameSite=Lax`, and
/// `Secure` when served over TLS.
pub fn set_cookie(name: &str, value: String, max_age_secs: i64, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("cookie names and values are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; metrics_csrf=xyz".parse().expect("v"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "metrics_session"), None);
    }
}
