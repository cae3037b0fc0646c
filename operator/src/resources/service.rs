use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{metadata, selector_labels};
use crate::Result;
use crate::crd::MetricsApp;

/// The Service in front of the app pods: `service.port` → the pods' `http` port.
pub fn service(app: &MetricsApp) -> Result<Service> {
    Ok(Service {
        metadata: metadata(app)?,
        spec: Some(ServiceSpec {
            type_: Some(app.spec.service.type_.as_str().into()),
            selector: Some(selector_labels(app)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: app.spec.service.port,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

/// The app's in-cluster URL: `http://<name>.<namespace>.svc:<port>`.
pub fn url(app: &MetricsApp) -> Option<String> {
    let namespace = app.namespace()?;
    Some(format!(
        "http://{}.{namespace}.svc:{}",
        app.name_any(),
        app.spec.service.port
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ServiceType;
    use crate::fixtures::MetricsAppExt;

    #[test]
    fn service_forwards_its_port_to_the_app_pods() {
        let mut app = MetricsApp::test();
        app.spec.service.port = 8081;
        app.spec.service.type_ = ServiceType::LoadBalancer;
        let spec = service(&app).unwrap().spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
        let port = &spec.ports.unwrap()[0];
        assert_eq!(port.port, 8081);
        assert_eq!(port.target_port, Some(IntOrString::String("http".into())));
        assert_eq!(spec.selector.unwrap(), selector_labels(&app));
    }

    #[test]
    fn url_names_service_namespace_and_port() {
        assert_eq!(
            url(&MetricsApp::test()).as_deref(),
            Some("http://metrics.team.svc:80")
        );
    }
}
