use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;

use super::metadata;
use crate::Result;
use crate::crd::MetricsApp;

/// Annotation that gives the pods of a ServiceAccount an IAM role on EKS (IRSA).
pub const IRSA_ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// The ServiceAccount the app pods run as, with the IRSA role annotation when
/// `serviceAccount.roleArn` is set.
pub fn service_account(app: &MetricsApp) -> Result<ServiceAccount> {
    let mut meta = metadata(app)?;
    if let Some(role_arn) = app
        .spec
        .service_account
        .as_ref()
        .and_then(|account| account.role_arn.clone())
    {
        meta.annotations = Some(BTreeMap::from([(IRSA_ROLE_ANNOTATION.into(), role_arn)]));
    }
    Ok(ServiceAccount {
        metadata: meta,
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ServiceAccountSpec;
    use crate::fixtures::MetricsAppExt;

    #[test]
    fn role_arn_becomes_the_irsa_annotation() {
        let mut app = MetricsApp::test();
        app.spec.service_account = Some(ServiceAccountSpec {
            role_arn: Some("arn:aws:iam::123456789012:role/metrics".into()),
        });
        let account = service_account(&app).unwrap();
        assert_eq!(
            account.metadata.annotations.unwrap()[IRSA_ROLE_ANNOTATION],
            "arn:aws:iam::123456789012:role/metrics"
        );
    }

    #[test]
    fn no_role_arn_no_annotation_and_no_api_token() {
        let account = service_account(&MetricsApp::test()).unwrap();
        assert_eq!(account.metadata.annotations, None);
        assert_eq!(account.automount_service_account_token, Some(false));
    }
}
