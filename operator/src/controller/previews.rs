//! The administrator's limits on previews (MetricsApps with `expireAfter`): the
//! namespace's previews are listed only when `--max-previews` is set.

use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::Context;
use crate::crd::MetricsApp;
use crate::limits::{self, Refusal};
use crate::{Error, Result};

/// Why the limits refuse `app` as a whole, if they do.
pub(super) async fn refusal(app: &MetricsApp, ctx: &Context) -> Result<Option<Refusal>> {
    let limits = &ctx.settings.limits;
    let lifetime = crate::expiry::lifetime(app).map_err(Error::InvalidSpec)?;
    if lifetime.is_none() || (limits.max_expire_after.is_none() && limits.max_previews.is_none()) {
        return Ok(None);
    }
    let previews = match (limits.max_previews, app.namespace()) {
        (Some(_), Some(namespace)) => {
            let apps: Api<MetricsApp> = Api::namespaced(ctx.client.clone(), &namespace);
            apps.list(&ListParams::default())
                .await
                .map_err(Error::Kube)?
                .items
                .into_iter()
                .filter(|other| {
                    other.spec.expire_after.is_some() && other.metadata.deletion_timestamp.is_none()
                })
                .map(|other| {
                    (
                        other.metadata.creation_timestamp.as_ref().map(|t| t.0),
                        other.name_any(),
                    )
                })
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(limits::check_preview(app, lifetime, &previews, limits).err())
}
