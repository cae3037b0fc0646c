//! What the app's authentication needs from Kubernetes: the Secret with its API
//! tokens (created by the operator with one admin token when the spec names none, and
//! never overwritten), where the pods find it, and the app's settings for each mode.

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

/// The Secret's key holding the token file.
pub const TOKENS_KEY: &str = "tokens";
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
/// the administrator) and the token file the app reads, which holds only its hash.
pub fn token_secret(app: &MetricsApp, token: &str) -> Result<Secret> {
    let mut meta = metadata(app)?;
    meta.name = token_secret_name(app);
    Ok(Secret {
        metadata: meta,
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([
            (ADMIN_TOKEN_KEY.into(), token.to_owned()),
            (
                TOKENS_KEY.into(),
                format!("admin admin {}\n", token_hash(token)),
            ),
        ])),
        ..Secret::default()
    })
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

/// The volume and mount of the token Secret (read-only, only its `tokens` key).
pub fn token_volume(app: &MetricsApp) -> Option<(Volume, VolumeMount)> {
    let secret = token_secret_name(app)?;
    Some((
        Volume {
            name: VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret),
                items: Some(vec![KeyToPath {
                    key: TOKENS_KEY.into(),
                    path: TOKENS_KEY.into(),
                    mode: Some(0o440),
                }]),
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
        let (volume, mount) = token_volume(&app).unwrap();
        assert_eq!(
            volume.secret.unwrap().secret_name.as_deref(),
            Some("metrics-auth")
        );
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
        let secret = token_secret(&app, &token).unwrap();
        let data = secret.string_data.unwrap();
        assert_eq!(data[ADMIN_TOKEN_KEY], token);
        assert!(!data[TOKENS_KEY].contains(&token));
        assert_eq!(
            data[TOKENS_KEY],
            format!("admin admin {}\n", token_hash(&token))
        );
        assert_eq!(secret.metadata.owner_references.unwrap()[0].name, "metrics");
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
