//! Who is asking, and what they may do. The mode is configuration (`--auth`):
//!
//! - `none`: everyone may do everything (a laptop); the pages say so when the app
//!   listens beyond loopback.
//! - `token`: API tokens from a file ([`tokens`]), sent as `Authorization: Bearer`, or
//!   pasted once into the sign-in form for a session cookie ([`session`]).
//! - `proxy`: an authenticating proxy names the engineer in a header, believed only from
//!   the configured source addresses; anyone else needs a token.
//!
//! The rules are plain functions of a [`Caller`]; the web layer finds the caller.

pub mod session;
pub mod tokens;
pub mod watched;

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, header};
use clap::ValueEnum;
use ipnet::IpNet;

use self::session::{SessionKey, SessionKeys};
use self::tokens::Tokens;
use crate::error::{Error, Result};

/// How people and scripts sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AuthMode {
    /// No sign-in: anyone who reaches the app may write.
    #[default]
    None,
    /// API tokens from `--tokens-file`, and a sign-in form that turns one into a session.
    Token,
    /// An authenticating proxy names the engineer in `--proxy-header`.
    Proxy,
}

/// What a token may do beyond its own engineer's activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Records, edits and deletes the activities of its engineer.
    Engineer,
    /// Records, edits and deletes anyone's activities.
    Admin,
}

/// A signed-in engineer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub engineer: String,
    pub role: Role,
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer` with a token from the file.
    Token,
    /// The session cookie of the sign-in form.
    Session,
    /// The header of a trusted authenticating proxy.
    Proxy,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Mode `none`: nobody signs in and everyone may do everything.
    Everyone,
    /// Sign-in is on and this request proves no identity.
    Anonymous,
    SignedIn {
        identity: Identity,
        via: Via,
    },
}

impl Caller {
    /// The signed-in engineer, if any.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Caller::SignedIn { identity, .. } => Some(identity),
            Caller::Everyone | Caller::Anonymous => None,
        }
    }

    /// May read: everyone in mode `none`, else anyone signed in.
    pub fn may_read(&self) -> Result<()> {
        match self {
            Caller::Everyone | Caller::SignedIn { .. } => Ok(()),
            Caller::Anonymous => Err(Error::Unauthorized),
        }
    }

    /// May record (or edit into) an activity of `engineer`: their own, or anyone's as admin.
    pub fn may_act_for(&self, engineer: &str) -> Result<()> {
        match self {
            Caller::Everyone => Ok(()),
            Caller::Anonymous => Err(Error::Unauthorized),
            Caller::SignedIn { identity, .. } => match identity.role {
                Role::Admin => Ok(()),
                Role::Engineer if identity.engineer == engineer => Ok(()),
                Role::Engineer => Err(Error::Forbidden(format!(
                    "signed in as {:?}: only an admin may write another engineer's activities",
                    identity.engineer
                ))),
            },
        }
    }

    /// Whether changing an activity depends on whose it is (not in mode `none`), so its
    /// owner must be read first.
    pub fn checks_owner(&self) -> bool {
        match self {
            Caller::Everyone => false,
            Caller::Anonymous | Caller::SignedIn { .. } => true,
        }
    }

    /// May edit or delete an activity recorded for `owner`; an unknown activity (`None`)
    /// is left to the handler's 404.
    pub fn may_change(&self, owner: Option<&str>) -> Result<()> {
        match owner {
            Some(owner) => self.may_act_for(owner),
            None => Ok(()),
        }
    }

    /// The engineer a form records for: the signed-in one, unless an admin names another.
    pub fn fill_engineer(&self, engineer: &mut String) {
        if let Some(identity) = self.identity()
            && (identity.role == Role::Engineer || engineer.trim().is_empty())
        {
            identity.engineer.clone_into(engineer);
        }
    }

    /// May write `/picus` items: with a token (scripts), or anyone in mode `none`.
    pub fn may_write_items(&self) -> Result<()> {
        match self {
            Caller::Everyone
            | Caller::SignedIn {
                via: Via::Token, ..
            } => Ok(()),
            Caller::Anonymous => Err(Error::Unauthorized),
            Caller::SignedIn {
                via: Via::Session | Via::Proxy,
                ..
            } => Err(Error::Forbidden(
                "/picus writes need an API token (Authorization: Bearer)".into(),
            )),
        }
    }
}

/// The header a trusted proxy names the engineer in, and where it may come from.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub header: HeaderName,
    pub trusted: Vec<IpNet>,
}

impl Proxy {
    pub fn trusts(&self, peer: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            IpAddr::V4(_) => peer,
        };
        self.trusted.iter().any(|net| net.contains(&peer))
    }
}

/// The sign-in configuration of a running app.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    mode: AuthMode,
    tokens: Option<Tokens>,
    proxy: Option<Proxy>,
    /// Signs session cookies; none without tokens (nobody can sign in through the form).
    session_keys: Option<SessionKeys>,
}

impl Auth {
    /// Mode `none`.
    pub fn none() -> Self {
        Self::default()
    }

    /// Mode `token`, with the key that signs session cookies.
    pub fn token(tokens: Tokens, session_keys: SessionKeys) -> Self {
        Self {
            inner: Arc::new(Inner {
                mode: AuthMode::Token,
                tokens: Some(tokens),
                proxy: None,
                session_keys: Some(session_keys),
            }),
        }
    }

    /// Mode `proxy`; `tokens` (and the session key for signing in with one) for the
    /// people and scripts that do not come through the proxy.
    pub fn proxy(proxy: Proxy, tokens: Option<(Tokens, SessionKeys)>) -> Self {
        let (tokens, session_keys) = tokens.unzip();
        Self {
            inner: Arc::new(Inner {
                mode: AuthMode::Proxy,
                tokens,
                proxy: Some(proxy),
                session_keys,
            }),
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.inner.mode
    }

    pub fn tokens(&self) -> Option<&Tokens> {
        self.inner.tokens.as_ref()
    }

    /// Where the session key comes from; none when nobody can sign in with a token.
    pub fn session_keys(&self) -> Option<&SessionKeys> {
        self.inner.session_keys.as_ref()
    }

    /// The key that signs session cookies now.
    pub fn session_key(&self) -> Option<Arc<SessionKey>> {
        self.inner.session_keys.as_ref().map(SessionKeys::current)
    }

    /// Who sent a request with these headers from `peer` (none: unknown, so untrusted),
    /// given its session cookie value, if any, at `now` (Unix seconds).
    pub fn identify(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        session: Option<&str>,
        now: u64,
    ) -> Caller {
        if self.inner.mode == AuthMode::None {
            return Caller::Everyone;
        }
        let tokens = self.inner.tokens.as_ref().map(Tokens::current);
        if let Some(token) = bearer(headers) {
            // A wrong token is not retried as another kind of sign-in: the script is told.
            return match tokens.as_ref().and_then(|set| set.identify(token)) {
                Some(identity) => Caller::SignedIn {
                    identity: identity.clone(),
                    via: Via::Token,
                },
                None => Caller::Anonymous,
            };
        }
        if let Some(proxy) = &self.inner.proxy
            && let Some(engineer) = headers.get(&proxy.header)
            && peer.is_some_and(|peer| proxy.trusts(peer))
            && let Ok(engineer) = engineer.to_str()
            && !engineer.trim().is_empty()
        {
            return Caller::SignedIn {
                identity: Identity {
                    engineer: engineer.trim().to_owned(),
                    role: Role::Engineer,
                },
                via: Via::Proxy,
            };
        }
        if let (Some(set), Some(key), Some(value)) = (tokens.as_ref(), self.session_key(), session)
            && let Some(identity) = session::verify(&key, set, value, now)
        {
            return Caller::SignedIn {
                identity: identity.clone(),
                via: Via::Session,
            };
        }
        Caller::Anonymous
    }
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_in(engineer: &str, role: Role, via: Via) -> Caller {
        Caller::SignedIn {
            identity: Identity {
                engineer: engineer.into(),
                role,
            },
            via,
        }
    }

    #[test]
    fn engineers_write_their_own_activities_and_admins_anyone_s() {
        let ada = signed_in("ada", Role::Engineer, Via::Session);
        assert!(ada.may_act_for("ada").is_ok());
        assert_eq!(ada.may_act_for("bob").unwrap_err().status(), 403);
        assert!(
            signed_in("root", Role::Admin, Via::Token)
                .may_act_for("bob")
                .is_ok()
        );
        assert_eq!(
            Caller::Anonymous.may_act_for("ada").unwrap_err().status(),
            401
        );
        assert!(Caller::Everyone.may_act_for("anyone").is_ok());
    }

    #[test]
    fn an_activity_is_changed_by_its_engineer_or_an_admin() {
        let ada = signed_in("ada", Role::Engineer, Via::Session);
        assert!(ada.checks_owner() && Caller::Anonymous.checks_owner());
        assert!(
            !Caller::Everyone.checks_owner(),
            "no store read in mode none"
        );
        assert!(ada.may_change(Some("ada")).is_ok());
        assert_eq!(ada.may_change(Some("bob")).unwrap_err().status(), 403);
        assert!(ada.may_change(None).is_ok(), "unknown: the handler's 404");
        let root = signed_in("root", Role::Admin, Via::Token);
        assert!(root.may_change(Some("bob")).is_ok());
        assert_eq!(
            Caller::Anonymous
                .may_change(Some("ada"))
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn a_form_records_for_the_signed_in_engineer_unless_an_admin_names_another() {
        let fill = |caller: &Caller, typed: &str| {
            let mut engineer = typed.to_owned();
            caller.fill_engineer(&mut engineer);
            engineer
        };
        let ada = signed_in("ada", Role::Engineer, Via::Session);
        assert_eq!(fill(&ada, "bob"), "ada");
        let root = signed_in("root", Role::Admin, Via::Session);
        assert_eq!(fill(&root, "bob"), "bob");
        assert_eq!(fill(&root, " "), "root");
        assert_eq!(fill(&Caller::Everyone, "bob"), "bob");
    }

    #[test]
    fn items_need_a_token_when_sign_in_is_on() {
        assert!(
            signed_in("ada", Role::Engineer, Via::Token)
                .may_write_items()
                .is_ok()
        );
        assert_eq!(
            signed_in("ada", Role::Admin, Via::Proxy)
                .may_write_items()
                .unwrap_err()
                .status(),
            403
        );
        assert!(Caller::Everyone.may_write_items().is_ok());
    }

    #[test]
    fn the_proxy_header_counts_only_from_trusted_addresses() {
        let auth = Auth::proxy(
            Proxy {
                header: HeaderName::from_static("x-auth-request-email"),
                trusted: vec!["10.0.0.0/8".parse().expect("cidr")],
            },
            None,
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-auth-request-email",
            "ada@example.com".parse().expect("v"),
        );
        let from = |ip: &str| auth.identify(&headers, Some(ip.parse().expect("ip")), None, 0);
        assert_eq!(
            from("10.1.2.3").identity().map(|i| i.engineer.as_str()),
            Some("ada@example.com")
        );
        assert!(from("::ffff:10.1.2.3").identity().is_some());
        assert_eq!(from("192.168.1.1"), Caller::Anonymous);
        assert_eq!(auth.identify(&headers, None, None, 0), Caller::Anonymous);
    }

    #[test]
    fn only_a_bearer_authorization_is_a_token() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer  mapp_x ".parse().expect("v"));
        assert_eq!(bearer(&headers), Some("mapp_x"));
        headers.insert(header::AUTHORIZATION, "Basic YWRhOng=".parse().expect("v"));
        assert_eq!(bearer(&headers), None);
    }
}
