//! The app's Kubernetes objects, applied with server-side apply only when they differ
//! from what was last applied.

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::info;

use super::events::{publish, update_note};
use super::{Context, key};
use crate::crd::MetricsApp;
use crate::resources;
use crate::status::AppState;
use crate::{Error, MANAGER, Result};

/// Applies the app's ServiceAccount, ConfigMap, Service and Deployment (skipping each
/// one whose live copy already carries the hash of what would be applied) and reports
/// the Deployment's state.
pub(super) async fn apply_app(app: &MetricsApp, ctx: &Context) -> Result<AppState> {
    let namespace = app
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let service_account = resources::service_account(app)?;
    apply_child(app, ctx, &namespace, "ServiceAccount", service_account).await?;
    let config_map = resources::config_map(app, &ctx.settings.app)?;
    let deployment = resources::deployment(app, &config_map)?;
    apply_child(app, ctx, &namespace, "ConfigMap", config_map).await?;
    apply_child(app, ctx, &namespace, "Service", resources::service(app)?).await?;
    let deployment = apply_child(app, ctx, &namespace, "Deployment", deployment).await?;
    Ok(AppState::Deployed {
        replicas: app.spec.replicas,
        generation: deployment.metadata.generation,
        status: deployment.status,
    })
}

async fn apply_child<K>(
    app: &MetricsApp,
    ctx: &Context,
    namespace: &str,
    kind: &'static str,
    desired: K,
) -> Result<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let name = desired.name_any();
    let desired = resources::with_applied_hash(kind, desired)?;
    let live = api.get_opt(&name).await?;
    if let Some(live) = &live
        && resources::applied_hash(live) == resources::applied_hash(&desired)
    {
        return Ok(live.clone());
    }
    let params = PatchParams::apply(MANAGER).force();
    let applied = api.patch(&name, &params, &Patch::Apply(&desired)).await?;
    let (reason, note) = match &live {
        None => (format!("{kind}Created"), format!("created {kind} {name}")),
        Some(live) => (
            format!("{kind}Updated"),
            update_note(kind, &name, live, &applied),
        ),
    };
    info!(app = %key(app), %kind, %name, "{note}");
    publish(app, ctx, EventType::Normal, &reason, "Apply", note).await;
    Ok(applied)
}
