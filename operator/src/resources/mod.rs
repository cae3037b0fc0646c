//! The Kubernetes objects that run the app for a MetricsApp `<name>`: a ServiceAccount,
//! ConfigMap, Service and Deployment, all named `<name>`, labelled as the app's, and
//! owned by the MetricsApp so that deleting it deletes them. Pure builders; the
//! controller applies what they return.

pub mod auth;
mod config_map;
mod deployment;
pub mod drift;
mod network_policy;
mod scaling;
mod service;
mod service_account;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use config_map::config_map;
pub use deployment::{
    APP_PORT, CONFIG_CHECKSUM_ANNOTATION, PRE_STOP_SLEEP_SECONDS, SHUTDOWN_TIMEOUT_SECONDS,
    deployment,
};
pub use network_policy::network_policy;
pub use scaling::{autoscaler, disruption_budget, fewest_pods};
pub use service::{service, url};
pub use service_account::{IRSA_ROLE_ANNOTATION, service_account};

use crate::crd::MetricsApp;
use crate::{Error, Result};

/// What the operator knows besides the spec when it builds the app's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettings {
    /// Region the app's DynamoDB client uses (the operator's own region).
    pub region: String,
    /// Put in front of every AWS name the operator makes (`--name-prefix`).
    pub name_prefix: String,
}

/// Labels on every object of the app; [`selector_labels`] select its pods.
pub fn labels(app: &MetricsApp) -> BTreeMap<String, String> {
    let mut labels = selector_labels(app);
    labels.insert("app.kubernetes.io/managed-by".into(), crate::MANAGER.into());
    labels
}

/// The labels that tell this app's pods from any other's (stable for the Deployment's
/// immutable selector).
pub fn selector_labels(app: &MetricsApp) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "metrics-app".into()),
        ("app.kubernetes.io/instance".into(), app.name_any()),
    ])
}

/// Metadata of an object named after the app, in its namespace, owned by it.
fn metadata(app: &MetricsApp) -> Result<ObjectMeta> {
    let owner = app
        .controller_owner_ref(&())
        .ok_or(Error::MissingMetadata("metadata.uid"))?;
    Ok(ObjectMeta {
        name: Some(app.name_any()),
        namespace: Some(
            app.namespace()
                .ok_or(Error::MissingMetadata("metadata.namespace"))?,
        ),
        labels: Some(labels(app)),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    })
}

/// Hex SHA-256 of the object's JSON form, stable across builds and Rust versions.
pub fn hash_of(what: &'static str, object: &impl Serialize) -> Result<String> {
    let json = serde_json::to_vec(object).map_err(|source| Error::Serialize { what, source })?;
    Ok(hex(&Sha256::digest(json)))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::MetricsAppExt;

    #[test]
    fn every_object_is_named_labelled_and_owned_by_the_app() {
        let app = MetricsApp::test();
        let meta = metadata(&app).unwrap();
        assert_eq!(meta.name.as_deref(), Some("metrics"));
        assert_eq!(meta.namespace.as_deref(), Some("team"));
        let labels = meta.labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/name"], "metrics-app");
        assert_eq!(labels["app.kubernetes.io/instance"], "metrics");
        assert_eq!(
            labels["app.kubernetes.io/managed-by"],
            "metricsapp-operator"
        );
        let owner = &meta.owner_references.unwrap()[0];
        assert_eq!(owner.kind, "MetricsApp");
        assert_eq!(owner.api_version, "metricsapp.dev/v1alpha1");
        assert_eq!(owner.name, "metrics");
        assert_eq!(owner.uid, app.uid().unwrap());
        assert_eq!(owner.controller, Some(true));
    }

    #[test]
    fn the_hash_changes_with_content_only() {
        let app = MetricsApp::test();
        let settings = AppSettings {
            region: "us-east-1".into(),
            name_prefix: String::new(),
        };
        let first = hash_of("ConfigMap", &config_map(&app, &settings).unwrap()).unwrap();
        let again = hash_of("ConfigMap", &config_map(&app, &settings).unwrap()).unwrap();
        assert_eq!(first, again);
        let other_region = AppSettings {
            region: "eu-west-1".into(),
            name_prefix: String::new(),
        };
        let other = hash_of("ConfigMap", &config_map(&app, &other_region).unwrap()).unwrap();
        assert_ne!(first, other);
        assert_eq!(first.len(), 64);
    }
}
