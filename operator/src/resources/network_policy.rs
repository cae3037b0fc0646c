//! The app pods' NetworkPolicy: who may reach them and where they may connect.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::deployment::APP_PORT;
use super::{metadata, selector_labels};
use crate::Result;
use crate::crd::MetricsApp;

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..NetworkPolicyPort::default()
    }
}

fn namespace_named(name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".into(),
                name.to_owned(),
            )])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

/// The policy, unless `networkPolicy.enabled` is false: ingress only on the app's port
/// from this namespace's pods and `ingressNamespaces`; egress to DNS (any namespace,
/// port 53) and to `egressPorts`.
pub fn network_policy(app: &MetricsApp) -> Result<Option<NetworkPolicy>> {
    let spec = &app.spec.network_policy;
    if !spec.enabled {
        return Ok(None);
    }
    let same_namespace = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    };
    let from = std::iter::once(same_namespace)
        .chain(
            spec.ingress_namespaces
                .iter()
                .map(|name| namespace_named(name)),
        )
        .collect();
    let dns = NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(vec![
            NetworkPolicyPort {
                port: Some(IntOrString::Int(53)),
                protocol: Some("UDP".into()),
                ..NetworkPolicyPort::default()
            },
            tcp(53),
        ]),
    };
    let out = NetworkPolicyEgressRule {
        to: None,
        ports: Some(spec.egress_ports.iter().copied().map(tcp).collect()),
    };
    Ok(Some(NetworkPolicy {
        metadata: metadata(app)?,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(app)),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(from),
                ports: Some(vec![tcp(APP_PORT)]),
            }]),
            egress: Some(vec![dns, out]),
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::MetricsAppExt;

    #[test]
    fn the_app_is_reached_on_its_port_only_and_reaches_dns_and_https() {
        let mut app = MetricsApp::test();
        let spec = network_policy(&app).unwrap().unwrap().spec.unwrap();
        assert_eq!(
            spec.pod_selector.unwrap().match_labels,
            Some(selector_labels(&app))
        );
        let ingress = &spec.ingress.unwrap()[0];
        assert_eq!(ingress.ports, Some(vec![tcp(APP_PORT)]));
        assert_eq!(
            ingress.from.as_ref().unwrap().len(),
            1,
            "this namespace only"
        );
        let egress = spec.egress.unwrap();
        assert_eq!(
            egress[0].ports.as_ref().unwrap().len(),
            2,
            "DNS over UDP and TCP"
        );
        assert_eq!(egress[1].ports, Some(vec![tcp(443)]));

        app.spec.network_policy.ingress_namespaces = vec!["ingress-nginx".into()];
        app.spec.network_policy.egress_ports = vec![443, 5000];
        let spec = network_policy(&app).unwrap().unwrap().spec.unwrap();
        let from = spec.ingress.unwrap()[0].from.clone().unwrap();
        assert_eq!(from[1], namespace_named("ingress-nginx"));
        assert_eq!(spec.egress.unwrap()[1].ports.as_ref().unwrap().len(), 2);

        app.spec.network_policy.enabled = false;
        assert_eq!(network_policy(&app).unwrap(), None);
    }
}
