use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{AppSettings, deployment::APP_PORT, metadata};
use crate::crd::MetricsApp;
use crate::{Result, table};

/// The app's configuration, read by its pods as environment variables. Its checksum
/// is on the pod template, so changing it rolls the pods.
pub fn config_map(app: &MetricsApp, settings: &AppSettings) -> Result<ConfigMap> {
    let mut data = BTreeMap::from([
        (
            "METRICS_APP_TABLE".into(),
            table::table_name(app, &settings.name_prefix)?,
        ),
        ("METRICS_APP_LISTEN".into(), format!("0.0.0.0:{APP_PORT}")),
        ("AWS_REGION".into(), settings.region.clone()),
        ("METRICS_APP_LOG_FORMAT".into(), "json".into()),
    ]);
    data.extend(super::auth::settings(app));
    Ok(ConfigMap {
        metadata: metadata(app)?,
        data: Some(data),
        ..ConfigMap::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::MetricsAppExt;

    #[test]
    fn config_names_table_listen_address_region_log_format_and_auth() {
        let settings = AppSettings {
            region: "eu-west-1".into(),
            name_prefix: String::new(),
        };
        let data = config_map(&MetricsApp::test(), &settings)
            .unwrap()
            .data
            .unwrap();
        assert_eq!(data["METRICS_APP_TABLE"], "team-metrics");
        assert_eq!(data["METRICS_APP_LISTEN"], "0.0.0.0:8080");
        assert_eq!(data["AWS_REGION"], "eu-west-1");
        assert_eq!(data["METRICS_APP_LOG_FORMAT"], "json");
        assert_eq!(data["METRICS_APP_AUTH"], "none");
        assert_eq!(data.len(), 5);
    }
}
