//! The app's Kubernetes objects, read from the watch caches and applied with
//! server-side apply only when something may differ.
//!
//! Whether to apply is decided from what the operator last applied (kept in memory:
//! the hash of the object it sent and the resourceVersion the API server answered) and
//! the resourceVersion the watch cache holds. Same hash and same resourceVersion: the
//! object is as the operator left it, so nothing is sent. Anything else (a spec change,
//! a `kubectl edit`, a deleted label, an operator restart) sends the apply; server-side
//! apply of an unchanged object writes nothing, so only a real difference becomes a
//! write, and the answer's resourceVersion tells whether one was made. A hand edit
//! reverted that way is reported as `DriftCorrected`.

use std::fmt::Debug;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::info;

use super::events::{publish, update_note};
use super::{Context, key};
use crate::crd::MetricsApp;
use crate::resources::{self, drift};
use crate::rollback::template_image;
use crate::status::{AppState, Failure};
use crate::{Error, MANAGER, Result};

/// What the operator last applied to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Hash of the object as sent.
    pub hash: String,
    /// resourceVersion the API server answered with.
    pub resource_version: Option<String>,
}

/// Whether an apply is needed, from the last apply and the cached resourceVersion.
pub fn needs_apply(hash: &str, cached: Option<&str>, last: Option<&Applied>) -> bool {
    match (cached, last) {
        (Some(cached), Some(last)) => {
            last.hash != hash || last.resource_version.as_deref() != Some(cached)
        }
        (None, _) | (_, None) => true,
    }
}

/// What an apply did, from the resourceVersions before and after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The object did not exist.
    Created,
    /// The object was re-created after someone deleted it.
    Recreated,
    /// The object changed because the spec (or the operator) asks for something new.
    Updated,
    /// The object had been changed by someone else and was put back.
    DriftCorrected,
    /// The apply changed nothing.
    Unchanged,
}

pub fn outcome(
    hash: &str,
    cached: Option<&str>,
    last: Option<&Applied>,
    after: Option<&str>,
) -> Outcome {
    let spec_unchanged = last.is_some_and(|last| last.hash == hash);
    match cached {
        None if spec_unchanged => Outcome::Recreated,
        None => Outcome::Created,
        Some(before) if Some(before) == after => Outcome::Unchanged,
        Some(_) if spec_unchanged => Outcome::DriftCorrected,
        Some(_) => Outcome::Updated,
    }
}

/// Applies the app's ServiceAccount, ConfigMap, Service and Deployment. A refused
/// object does not stop the others (a Service the cluster cannot allocate must not
/// hold back a new image): the first refusal is returned with the Deployment's state.
pub(super) async fn apply_app(app: &MetricsApp, ctx: &Context) -> (AppState, Option<Failure>) {
    match apply_all(app, ctx).await {
        Ok(outcome) => outcome,
        Err(error) => (AppState::Unknown, Some(failure("app objects", &error))),
    }
}

async fn apply_all(app: &MetricsApp, ctx: &Context) -> Result<(AppState, Option<Failure>)> {
    let namespace = app
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let config_map = resources::config_map(app, &ctx.settings.app)?;
    let deployment = resources::deployment(app, &config_map)?;
    let caches = &ctx.caches;
    let mut failures = Vec::new();
    let service_account = resources::service_account(app)?;
    let cached = version(&caches.service_accounts, &service_account);
    if let Err(failure) = apply_child(app, ctx, &namespace, cached, service_account).await {
        failures.push(failure);
    }
    let cached = version(&caches.config_maps, &config_map);
    if let Err(failure) = apply_child(app, ctx, &namespace, cached, config_map).await {
        failures.push(failure);
    }
    // A Service type the administrator does not allow is not applied; the one that
    // exists (if any) stays as it was.
    match crate::limits::check_service(app, &ctx.settings.limits) {
        Ok(()) => {
            let service = resources::service(app)?;
            let cached = version(&caches.services, &service);
            if let Err(failure) = apply_child(app, ctx, &namespace, cached, service).await {
                failures.push(failure);
            }
        }
        Err(refusal) => failures.push(super::failures::not_allowed(refusal)),
    }
    // Pods that mount an incomplete token Secret cannot start: the Deployment is left as
    // it is (its pods keep serving) until the Secret is whole.
    let secret_ready = match ensure_token_secret(app, ctx, &namespace).await {
        Ok(()) => true,
        Err(failure) => {
            failures.push(failure);
            false
        }
    };
    let reference = ObjectRef::from_obj(&deployment);
    let live = caches.deployments.get(&reference);
    let cached = live.as_ref().and_then(|d| d.resource_version());
    let applied = if secret_ready {
        apply_child(app, ctx, &namespace, cached, deployment).await
    } else {
        Ok(None)
    };
    let deployment = match applied {
        Ok(Some(applied)) => Some(applied),
        Ok(None) => live.map(|live| live.as_ref().clone()),
        Err(failure) => {
            failures.push(failure);
            live.map(|live| live.as_ref().clone())
        }
    };
    // After the Deployment they act on; each removed when the spec stops asking for it.
    // Boxed: each child's apply is a large future, and a pass holds them all.
    let optional: [BoxFuture<'_, Result<(), Failure>>; 3] = [
        Box::pin(keep_or_remove(
            app,
            ctx,
            &namespace,
            &caches.autoscalers,
            resources::autoscaler(app)?,
        )),
        Box::pin(keep_or_remove(
            app,
            ctx,
            &namespace,
            &caches.disruption_budgets,
            resources::disruption_budget(app)?,
        )),
        Box::pin(keep_or_remove(
            app,
            ctx,
            &namespace,
            &caches.network_policies,
            resources::network_policy(app)?,
        )),
    ];
    for child in optional {
        if let Err(failure) = child.await {
            failures.push(failure);
        }
    }
    let state = match deployment {
        Some(deployment) => AppState::Deployed {
            replicas: app.spec.replicas,
            generation: deployment.metadata.generation,
            status: deployment.status,
        },
        None => AppState::Unknown,
    };
    Ok((state, failures.into_iter().next()))
}

fn version<K, C>(store: &kube::runtime::reflector::Store<C>, object: &K) -> Option<String>
where
    K: Resource<DynamicType = ()>,
    C: Resource<DynamicType = ()> + Clone,
{
    let reference = ObjectRef::<C>::new(&object.name_any()).within(&object.namespace()?);
    store
        .get(&reference)
        .and_then(|cached| cached.resource_version())
}

/// Applies an optional child the spec asks for, or deletes the one the operator made
/// when the spec no longer asks for it.
async fn keep_or_remove<K>(
    app: &MetricsApp,
    ctx: &Context,
    namespace: &str,
    cache: &kube::runtime::reflector::Store<kube::core::PartialObjectMeta<K>>,
    desired: Option<K>,
) -> Result<(), Failure>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    if let Some(desired) = desired {
        let cached = version(cache, &desired);
        return apply_child(app, ctx, namespace, cached, desired)
            .await
            .map(drop);
    }
    let name = app.name_any();
    let reference = ObjectRef::new(&name).within(namespace);
    if cache.get(&reference).is_none() {
        return Ok(());
    }
    let kind = K::kind(&()).into_owned();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    match api.delete(&name, &Default::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(error) => {
            let mut failure = failure(&format!("{kind} {name}"), &Error::Kube(error));
            failure.reason = format!("{kind}DeleteFailed");
            return Err(failure);
        }
    }
    ctx.forget_applied(&format!("{kind}/{namespace}/{name}"));
    publish(
        app,
        ctx,
        EventType::Normal,
        &format!("{kind}Deleted"),
        "Delete",
        format!("deleted {kind} {name}: the spec no longer asks for one"),
    )
    .await;
    Ok(())
}

/// Applies `desired` when [`needs_apply`] says so; returns the object as applied, or
/// `None` when nothing was sent.
async fn apply_child<K>(
    app: &MetricsApp,
    ctx: &Context,
    namespace: &str,
    cached: Option<String>,
    desired: K,
) -> Result<Option<K>, Failure>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let kind = K::kind(&()).into_owned();
    let name = desired.name_any();
    let record = format!("{kind}/{namespace}/{name}");
    let hash = resources::hash_of("app object", &desired).map_err(|e| failure(&kind, &e))?;
    let last = ctx.last_applied(&record);
    if !needs_apply(&hash, cached.as_deref(), last.as_ref()) {
        return Ok(None);
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let refused = |error: kube::Error| {
        let mut failure = failure(&format!("{kind} {name}"), &Error::Kube(error));
        failure.reason = format!("{kind}ApplyFailed");
        tracing::warn!(app = %key(app), %kind, %name, message = %failure.message, "apply refused");
        failure
    };
    let wanted = serde_json::to_value(&desired)
        .map_err(|source| Error::Serialize {
            what: "app object",
            source,
        })
        .map_err(|e| failure(&kind, &e))?;
    let params = PatchParams::apply(MANAGER).force();
    let mut put_back = Vec::new();
    let applied = match api.patch(&name, &params, &Patch::Apply(&desired)).await {
        Ok(applied) => applied,
        // An item someone added can make the merged object invalid (a second port named
        // `http`): set the fields the spec owns whole, then apply again.
        Err(kube::Error::Api(status)) if status.code == 422 => {
            let Some(patch) = drift::put_back(&kind, &wanted, None) else {
                return Err(refused(kube::Error::Api(status)));
            };
            send_put_back(&api, &name, &patch).await.map_err(refused)?;
            put_back.push(format!("the spec's {} set whole", fields_of(&patch)));
            api.patch(&name, &params, &Patch::Apply(&desired))
                .await
                .map_err(refused)?
        }
        Err(error) => return Err(refused(error)),
    };
    let answer = serde_json::to_value(&applied).unwrap_or_default();
    let strays = drift::strays(&kind, &wanted, &answer);
    let applied = match drift::put_back(&kind, &wanted, Some(&strays)) {
        Some(patch) => {
            put_back.extend(strays.iter().map(ToString::to_string));
            send_put_back(&api, &name, &patch).await.map_err(refused)?
        }
        None => applied,
    };
    let after = applied.resource_version();
    let outcome = match outcome(&hash, cached.as_deref(), last.as_ref(), after.as_deref()) {
        // Items the spec does not name were removed: whatever else happened, that is drift.
        Outcome::Unchanged | Outcome::Updated | Outcome::DriftCorrected if !put_back.is_empty() => {
            Outcome::DriftCorrected
        }
        other => other,
    };
    ctx.remember_applied(
        record,
        Applied {
            hash,
            resource_version: after,
        },
    );
    let (type_, reason, note) = match outcome {
        Outcome::Unchanged => return Ok(Some(applied)),
        Outcome::Created => (
            EventType::Normal,
            format!("{kind}Created"),
            format!("created {kind} {name}"),
        ),
        Outcome::Recreated => (
            EventType::Warning,
            "DriftCorrected".to_owned(),
            format!("{kind} {name} was deleted outside the operator; re-created"),
        ),
        Outcome::Updated => (
            EventType::Normal,
            format!("{kind}Updated"),
            update_note(
                &kind,
                &name,
                cached_image(ctx, &kind, namespace, &name),
                &applied,
            ),
        ),
        Outcome::DriftCorrected => (
            EventType::Warning,
            "DriftCorrected".to_owned(),
            if put_back.is_empty() {
                format!("{kind} {name} was changed outside the operator; put back to the spec")
            } else {
                format!(
                    "{kind} {name} was changed outside the operator ({}); put back to the spec",
                    put_back.join("; ")
                )
            },
        ),
    };
    info!(app = %key(app), %kind, %name, "{note}");
    publish(app, ctx, type_, &reason, "Apply", note).await;
    Ok(Some(applied))
}

/// Sets the fields of a child that the spec owns whole (see [`drift`]).
async fn send_put_back<K>(api: &Api<K>, name: &str, patch: &serde_json::Value) -> kube::Result<K>
where
    K: Clone + DeserializeOwned + Debug,
{
    let params = PatchParams {
        field_manager: Some(MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::Merge(patch)).await
}

/// The fields a put-back patch sets, as users write them (`spec.ports`).
fn fields_of(patch: &serde_json::Value) -> String {
    fn walk(value: &serde_json::Value, path: &str, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (key, value) in map {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(value, &path, found);
                }
            }
            _ => found.push(path.to_owned()),
        }
    }
    let mut found = Vec::new();
    walk(patch, "", &mut found);
    found.join(", ")
}

/// Makes sure the token Secret the pods mount holds the token file and a session key.
///
/// A generated Secret is created once, with a new admin token and session key, and never
/// overwritten; when its session key is gone (deleted to sign everyone out, or made by an
/// operator that did not write one) a new key is added. A Secret the spec names is never
/// written: what it lacks is reported. Token Secrets are read from the labelled Secrets
/// watch, which keeps the names of their keys and none of their values.
async fn ensure_token_secret(
    app: &MetricsApp,
    ctx: &Context,
    namespace: &str,
) -> Result<(), Failure> {
    let Some(name) = resources::auth::token_secret_name(app) else {
        return Ok(());
    };
    let reference = ObjectRef::<Secret>::new(&name).within(namespace);
    let cached = ctx.caches.secrets.get(&reference);
    let generated = resources::auth::generates_token_secret(app);
    let Some(cached) = cached else {
        return if generated {
            create_token_secret(app, ctx, namespace, &name).await
        } else {
            Err(incomplete(format!(
                "Secret {name} (spec.auth.tokenSecretRef) is not among the Secrets labelled \
                 {label}: create it with the keys {tokens} and {key}, and label it \
                 (kubectl label secret {name} {label}=true)",
                label = resources::auth::TOKENS_LABEL,
                tokens = resources::auth::TOKENS_KEY,
                key = resources::auth::SESSION_KEY,
            )))
        };
    };
    let keys = cached
        .data
        .iter()
        .flat_map(|data| data.keys().map(String::as_str));
    let missing = resources::auth::missing_keys(keys);
    let ours = cached
        .owner_references()
        .iter()
        .any(|owner| Some(&owner.uid) == app.metadata.uid.as_ref());
    match missing[..] {
        [] => Ok(()),
        [key] if key == resources::auth::SESSION_KEY && generated && ours => {
            add_session_key(app, ctx, namespace, &name).await
        }
        _ if generated && !ours => Err(incomplete(format!(
            "Secret {name} exists and was not created for this MetricsApp; it lacks {}: \
             add them, or delete it so the operator creates one",
            missing.join(" and ")
        ))),
        _ => Err(incomplete(format!(
            "Secret {name} has no {}: {}; the operator never writes into a Secret it did \
             not create, and the app's pods cannot start without them",
            missing.join(" and "),
            how_to_add(&name, &missing),
        ))),
    }
}

/// How to add the missing keys by hand.
fn how_to_add(name: &str, missing: &[&str]) -> String {
    missing
        .iter()
        .map(|key| match *key {
            resources::auth::SESSION_KEY => format!(
                "kubectl patch secret {name} --type merge -p \
                 \"{{\\\"stringData\\\":{{\\\"{key}\\\":\\\"$(openssl rand -hex 32)\\\"}}}}\""
            ),
            other => format!(
                "add the token file under {other} (`<engineer> <role> <sha256-hex>` per line)"
            ),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn incomplete(message: String) -> Failure {
    Failure {
        reason: "AuthSecretIncomplete".to_owned(),
        message,
        terminal: false,
    }
}

fn random_failure(what: &str, error: getrandom::Error) -> Failure {
    Failure {
        reason: "TokenGenerationFailed".to_owned(),
        message: format!("{what}: no random bytes: {error}"),
        terminal: false,
    }
}

fn secret_refused(what: &str, error: kube::Error) -> Failure {
    let mut failure = failure(what, &Error::Kube(error));
    failure.reason = "SecretApplyFailed".to_owned();
    failure
}

async fn create_token_secret(
    app: &MetricsApp,
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(), Failure> {
    let what = format!("Secret {name}");
    let token = resources::auth::new_token().map_err(|e| random_failure(&what, e))?;
    let key = resources::auth::new_session_key().map_err(|e| random_failure(&what, e))?;
    let secret =
        resources::auth::token_secret(app, &token, &key).map_err(|e| failure(&what, &e))?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            publish(
                app,
                ctx,
                EventType::Normal,
                "AuthSecretCreated",
                "CreateSecret",
                format!(
                    "created Secret {name} with an admin token and a session key: kubectl get secret {name} -o jsonpath='{{.data.{}}}' | base64 -d",
                    resources::auth::ADMIN_TOKEN_KEY
                ),
            )
            .await;
            Ok(())
        }
        // Not labelled (else the watch would hold it): someone else's Secret by that name.
        Err(kube::Error::Api(status)) if status.code == 409 => Err(incomplete(format!(
            "Secret {name} exists but is not labelled {label}, so the operator cannot tell \
             whether it holds {tokens} and {key}: label it (kubectl label secret {name} \
             {label}=true), or delete it so the operator creates one",
            label = resources::auth::TOKENS_LABEL,
            tokens = resources::auth::TOKENS_KEY,
            key = resources::auth::SESSION_KEY,
        ))),
        Err(error) => Err(secret_refused(&what, error)),
    }
}

/// Adds a new session key to the generated Secret; every earlier session ends.
async fn add_session_key(
    app: &MetricsApp,
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(), Failure> {
    let what = format!("Secret {name}");
    let key = resources::auth::new_session_key().map_err(|e| random_failure(&what, e))?;
    let patch = serde_json::json!({
        "stringData": { resources::auth::SESSION_KEY: key },
    });
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|error| secret_refused(&what, error))?;
    publish(
        app,
        ctx,
        EventType::Normal,
        "SessionKeyGenerated",
        "PatchSecret",
        format!(
            "Secret {name} had no {}: a new session key was added; every earlier session has ended",
            resources::auth::SESSION_KEY
        ),
    )
    .await;
    Ok(())
}

/// The image the cached Deployment ran before an update, for the Event.
fn cached_image(ctx: &Context, kind: &str, namespace: &str, name: &str) -> Option<String> {
    if kind != "Deployment" {
        return None;
    }
    let reference = ObjectRef::new(name).within(namespace);
    ctx.caches
        .deployments
        .get(&reference)
        .and_then(|d| template_image(&d).map(str::to_owned))
}

/// A failed apply as the Available condition tells it: the API server's own message,
/// terminal when the API server calls the object invalid (the spec must change).
pub fn failure(what: &str, error: &Error) -> Failure {
    match error {
        Error::Kube(kube::Error::Api(status)) => Failure {
            reason: "ApplyFailed".to_owned(),
            message: format!(
                "{what}: the API server refused it ({} {}): {}",
                status.code, status.reason, status.message
            ),
            terminal: matches!(status.code, 400 | 422),
        },
        other => Failure {
            reason: other.reason().to_owned(),
            message: format!("{what}: {other}"),
            terminal: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(hash: &str, version: &str) -> Applied {
        Applied {
            hash: hash.into(),
            resource_version: Some(version.into()),
        }
    }

    #[test]
    fn an_object_as_the_operator_left_it_is_not_sent_again() {
        assert!(!needs_apply("h1", Some("7"), Some(&applied("h1", "7"))));
    }

    #[test]
    fn a_spec_change_an_edit_a_deletion_or_a_restart_sends_the_apply() {
        assert!(
            needs_apply("h2", Some("7"), Some(&applied("h1", "7"))),
            "spec"
        );
        assert!(
            needs_apply("h1", Some("8"), Some(&applied("h1", "7"))),
            "edit"
        );
        assert!(
            needs_apply("h1", None, Some(&applied("h1", "7"))),
            "deleted"
        );
        assert!(needs_apply("h1", Some("7"), None), "restart");
        assert!(needs_apply("h1", None, None), "new");
    }

    #[test]
    fn the_outcome_tells_a_revert_from_an_update() {
        let last = applied("h1", "7");
        assert_eq!(outcome("h1", None, None, Some("1")), Outcome::Created);
        assert_eq!(
            outcome("h1", None, Some(&last), Some("9")),
            Outcome::Recreated
        );
        assert_eq!(
            outcome("h1", Some("8"), Some(&last), Some("9")),
            Outcome::DriftCorrected
        );
        assert_eq!(
            outcome("h2", Some("7"), Some(&last), Some("9")),
            Outcome::Updated
        );
        // A status update moved the resourceVersion; the apply changed nothing.
        assert_eq!(
            outcome("h1", Some("8"), Some(&last), Some("8")),
            Outcome::Unchanged
        );
        // After a restart the operator cannot tell an edit from a spec change.
        assert_eq!(outcome("h1", Some("8"), None, Some("9")), Outcome::Updated);
    }
}
