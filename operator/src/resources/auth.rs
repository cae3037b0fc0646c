//! What the app's authentication needs from Kubernetes: the Secret with its API
//! tokens and its session key (created by the operator with one admin token and a random
//! key when the spec names none, and never overwritten), where the pods find it, and the
//! app's settings for each mode.
//!
//! The token file holds only hashes and is not a secret; the session key is. Nothing is
//! derived from the token file: the key that signs session cookies is 256 random bits.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{KeyToPath, Secret, SecretVolumeSource, Volume, VolumeMount};
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use super::{hex, metadata};
use crate::Result;
use crate::crd::{AuthMode, MetricsApp};

/// Where the pods find the token file (the Secret's `tokens` key).
pub const TOKENS_DIR: &str = "/var/run/metrics-app/auth";
pub const TOKENS_FILE: &str = "/var/run/metrics-app/auth/tokens";
/// Where the pods find the session key (the Secret's `session-key` key).
pub const SESSION_KEY_FILE: &str = "/var/run/metrics-app/auth/session-key";

/// The Secret's key holding the token file.
pub const TOKENS_KEY: &str = "tokens";
/// The Secret's key holding the key that signs session cookies (hex of 32 random bytes).
/// Deleting it from a generated Secret makes the operator draw a new one, which ends
/// every session.
pub const SESSION_KEY: &str = "session-key";
/// The label the operator watches Secrets by: the generated Secret carries it, and a
/// Secret named by `spec.auth.tokenSecretRef` must carry it to be seen.
pub const TOKENS_LABEL: &str = "metricsapp.dev/tokens";

/// The key of a generated Secret holding the admin token, for the administrator to read
/// once (`kubectl get secret <name>-auth -o jsonpath='{.data.admin-token}' | base64 -d`).
pub const ADMIN_TOKEN_KEY: &str = "admin-token";

const VOLUME: &str = "auth";

/// The Secret the pods mount: the one the spec names, or `<name>-auth`; `None` unless
/// the mode is `token`.
pub fn token_secret_name(app: &MetricsApp) -> Option<String> {
    let auth = &app.spec.auth;
    match auth.mode {
        AuthMode::Token => Some(
            auth.token_secret_ref
                .as_ref()
                .map_or_else(|| format!("{}-auth", app.name_any()), |r| r.name.clone()),
        ),
        AuthMode::None | AuthMode::Proxy => None,
    }
}

/// Whether the operator must create the token Secret (mode `token`, none named).
pub fn generates_token_secret(app: &MetricsApp) -> bool {
    app.spec.auth.mode == AuthMode::Token && app.spec.auth.token_secret_ref.is_none()
}

/// The generated token Secret: one admin token (`token`, kept under `admin-token` for
/// the administrator), the token file the app reads, which holds only its hash, and the
/// session key.
pub fn token_secret(app: &MetricsApp, token: &str, session_key: &str) -> Result<Secret> {
    let mut meta = metadata(app)?;
    meta.name = token_secret_name(app);
    meta.labels
        .get_or_insert_default()
        .insert(TOKENS_LABEL.into(), "generated".into());
    Ok(Secret {
        metadata: meta,
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([
            (ADMIN_TOKEN_KEY.into(), token.to_owned()),
            (
                TOKENS_KEY.into(),
                format!("admin admin {}\n", token_hash(token)),
            ),
            (SESSION_KEY.into(), session_key.to_owned()),
        ])),
        ..Secret::default()
    })
}

/// A new session key: 32 random bytes, hex.
pub fn new_session_key() -> std::result::Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// What a token Secret lacks for the app to start, from the names of its keys.
pub fn missing_keys<'a>(keys: impl IntoIterator<Item = &'a str> + Clone) -> Vec<&'static str> {
    [TOKENS_KEY, SESSION_KEY]
        .into_iter()
        .filter(|wanted| !keys.clone().into_iter().any(|key| key == *wanted))
        .collect()
}

/// A new API token: 32 random bytes, hex, with a prefix that secret scanners can
/// recognise.
pub fn new_token() -> std::result::Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("mapp_{}", hex(&bytes)))
}

/// How a token is stored in the token file: hex SHA-256 of the token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The app's settings for its mode, added to its ConfigMap.
pub fn settings(app: &MetricsApp) -> BTreeMap<String, String> {
    let auth = &app.spec.auth;
    let mut settings = BTreeMap::from([("METRICS_APP_AUTH".into(), auth.mode.as_str().into())]);
    match auth.mode {
        AuthMode::None => {}
        AuthMode::Token => {
            settings.insert("METRICS_APP_TOKENS_FILE".into(), TOKENS_FILE.into());
            settings.insert(
                "METRICS_APP_SESSION_KEY_FILE".into(),
                SESSION_KEY_FILE.into(),
            );
        }
        AuthMode::Proxy => {
            if let Some(proxy) = &auth.proxy {
                settings.insert("METRICS_APP_PROXY_HEADER".into(), proxy.header.clone());
                settings.insert(
                    "METRICS_APP_PROXY_TRUSTED".into(),
                    proxy.trusted_cidrs.join(","),
                );
            }
        }
    }
    settings
}

/// The volume and mount of the token Secret (read-only, only its `tokens` and
/// `session-key` keys: never the admin token).
pub fn token_volume(app: &MetricsApp) -> Option<(Volume, VolumeMount)> {
    let secret = token_secret_name(app)?;
    Some((
        Volume {
            name: VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret),
                items: Some(
                    [TOKENS_KEY, SESSION_KEY]
                        .into_iter()
                        .map(|key| KeyToPath {
                            key: key.into(),
                            path: key.into(),
                            mode: Some(0o440),
                        })
                        .collect(),
                ),
                default_mode: Some(0o440),
                optional: Some(false),
            }),
            ..Volume::default()
        },
        VolumeMount {
            name: VOLUME.into(),
            mount_path: TOKENS_DIR.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ProxyAuthSpec, SecretRef};
    use crate::fixtures::MetricsAppExt;

    #[test]
    fn without_auth_the_app_is_told_so_and_nothing_is_mounted() {
        let app = MetricsApp::test();
        assert_eq!(settings(&app)["METRICS_APP_AUTH"], "none");
        assert_eq!(token_volume(&app), None);
        assert!(!generates_token_secret(&app));
    }

    #[test]
    fn token_mode_mounts_the_named_secret_or_a_generated_one() {
        let mut app = MetricsApp::test();
        app.spec.auth.mode = AuthMode::Token;
        assert!(generates_token_secret(&app));
        assert_eq!(token_secret_name(&app).as_deref(), Some("metrics-auth"));
        assert_eq!(settings(&app)["METRICS_APP_TOKENS_FILE"], TOKENS_FILE);
        assert_eq!(
            settings(&app)["METRICS_APP_SESSION_KEY_FILE"],
            SESSION_KEY_FILE
        );
        let (volume, mount) = token_volume(&app).unwrap();
        let secret = volume.secret.unwrap();
        assert_eq!(secret.secret_name.as_deref(), Some("metrics-auth"));
        let mounted: Vec<_> = secret.items.unwrap().into_iter().map(|i| i.key).collect();
        assert_eq!(mounted, [TOKENS_KEY, SESSION_KEY], "never the admin token");
        assert!(SESSION_KEY_FILE.starts_with(&mount.mount_path));
        assert_eq!(mount.read_only, Some(true));
        app.spec.auth.token_secret_ref = Some(SecretRef {
            name: "team-tokens".into(),
        });
        assert!(!generates_token_secret(&app));
        assert_eq!(token_secret_name(&app).as_deref(), Some("team-tokens"));
    }

    #[test]
    fn the_generated_secret_holds_the_token_and_only_its_hash_in_the_token_file() {
        let mut app = MetricsApp::test();
        app.spec.auth.mode = AuthMode::Token;
        let token = new_token().unwrap();
        assert!(token.starts_with("mapp_") && token.len() == 69, "{token}");
        assert_ne!(new_token().unwrap(), token);
        let key = new_session_key().unwrap();
        assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(new_session_key().unwrap(), key);
        let secret = token_secret(&app, &token, &key).unwrap();
        assert_eq!(
            secret.metadata.labels.as_ref().unwrap()[TOKENS_LABEL],
            "generated"
        );
        let data = secret.string_data.unwrap();
        assert_eq!(data[SESSION_KEY], key);
        assert!(!data[TOKENS_KEY].contains(&key));
        assert_eq!(data[ADMIN_TOKEN_KEY], token);
        assert!(!data[TOKENS_KEY].contains(&token));
        assert_eq!(
            data[TOKENS_KEY],
            format!("admin admin {}\n", token_hash(&token))
        );
        assert_eq!(secret.metadata.owner_references.unwrap()[0].name, "metrics");
    }

    #[test]
    fn a_token_secret_needs_the_tokens_and_a_session_key() {
        assert_eq!(
            missing_keys(["tokens", "session-key", "x"]),
            Vec::<&str>::new()
        );
        assert_eq!(missing_keys(["tokens"]), [SESSION_KEY]);
        assert_eq!(missing_keys(["admin-token"]), [TOKENS_KEY, SESSION_KEY]);
    }

    #[test]
    fn proxy_mode_passes_the_header_and_the_trusted_addresses() {
        let mut app = MetricsApp::test();
        app.spec.auth.mode = AuthMode::Proxy;
        app.spec.auth.proxy = Some(ProxyAuthSpec {
            header: "X-Auth-Request-Email".into(),
            trusted_cidrs: vec!["10.0.0.0/8".into(), "192.168.0.0/16".into()],
        });
        let settings = settings(&app);
        assert_eq!(settings["METRICS_APP_AUTH"], "proxy");
        assert_eq!(settings["METRICS_APP_PROXY_HEADER"], "X-Auth-Request-Email");
        assert_eq!(
            settings["METRICS_APP_PROXY_TRUSTED"],
            "10.0.0.0/8,192.168.0.0/16"
        );
    }
}
