//! A MetricsApp's table in the plain terms of `metricsapp-aws`: the spec becomes a
//! [`DesiredTable`], the object an [`Owner`], the policy a [`DeletionPolicy`]. Pure.

use kube::ResourceExt;
use metricsapp_aws::table::{
    Billing, Capacity, DeletionPolicy, DesiredTable, Owner, StreamView, TableRecord, TableReport,
};

use crate::crd::{self, BillingMode, MetricsApp, StreamViewType, TableStatus};
use crate::{Error, Result};

/// The table name: the one recorded in the status when the table was created (so a
/// new operator default or prefix never moves an app to another, empty table), else
/// `prefix` + `spec.table.name`, or `prefix` + `<namespace>-<name>` when unset. The
/// administrator's prefix (`--name-prefix`) keeps every table inside the names the
/// operator's IAM policy allows.
pub fn table_name(app: &MetricsApp, prefix: &str) -> Result<String> {
    let recorded = app
        .status
        .as_ref()
        .and_then(|status| status.table.as_ref())
        .filter(|table| table.arn.is_some())
        .map(|table| table.name.clone());
    if let Some(name) = recorded {
        return Ok(name);
    }
    match &app.spec.table.name {
        Some(name) => Ok(format!("{prefix}{name}")),
        None => Ok(format!("{prefix}{}-{}", namespace(app)?, app.name_any())),
    }
}

/// The table the spec asks for. Billing capacity is checked by the CRD's CEL rule;
/// the same check here keeps a spec that bypassed it (an older CRD) from becoming a
/// half-provisioned table.
pub fn desired_table(app: &MetricsApp, prefix: &str) -> Result<DesiredTable> {
    let spec = &app.spec.table;
    let billing = match (spec.billing_mode, spec.read_capacity, spec.write_capacity) {
        (BillingMode::PayPerRequest, None, None) => Billing::OnDemand,
        (BillingMode::Provisioned, Some(read), Some(write)) => {
            Billing::Provisioned(Capacity { read, write })
        }
        (BillingMode::Provisioned, _, _) => {
            return Err(Error::InvalidSpec(
                "table.readCapacity and table.writeCapacity are required when table.billingMode is PROVISIONED".into(),
            ));
        }
        (BillingMode::PayPerRequest, _, _) => {
            return Err(Error::InvalidSpec(
                "table.readCapacity and table.writeCapacity are not allowed when table.billingMode is PAY_PER_REQUEST".into(),
            ));
        }
    };
    Ok(DesiredTable {
        name: table_name(app, prefix)?,
        billing,
        point_in_time_recovery: spec.point_in_time_recovery,
        ttl_attribute: spec.ttl_attribute.clone(),
        stream: spec.stream.map(stream_view),
        tags: spec.tags.clone(),
    })
}

fn stream_view(view: StreamViewType) -> StreamView {
    match view {
        StreamViewType::KeysOnly => StreamView::KeysOnly,
        StreamViewType::NewImage => StreamView::NewImage,
        StreamViewType::OldImage => StreamView::OldImage,
        StreamViewType::NewAndOldImages => StreamView::NewAndOldImages,
    }
}

/// The MetricsApp as the owner written on its table's tags.
pub fn owner(app: &MetricsApp) -> Result<Owner> {
    Ok(Owner {
        namespace: namespace(app)?,
        name: app.name_any(),
        uid: app.uid().ok_or(Error::MissingMetadata("metadata.uid"))?,
    })
}

/// Annotation asking the operator to create the table again after it was lost; its
/// value must be the table's name, so that an old annotation cannot re-create a table
/// by accident later.
pub const RECREATE_ANNOTATION: &str = metricsapp_aws::table::RECREATE_ANNOTATION;

/// The policy in the spec; else the one fixed in the status when the table was
/// created; else the operator's default. Fixing it at creation means a later change of
/// the operator's default does not change what happens to an existing table.
pub fn deletion_policy(app: &MetricsApp, default: DeletionPolicy) -> DeletionPolicy {
    let recorded = app
        .status
        .as_ref()
        .and_then(|status| status.table.as_ref())
        .and_then(|table| table.deletion_policy);
    match app.spec.table.deletion_policy.or(recorded) {
        Some(crd::DeletionPolicy::Retain) => DeletionPolicy::Retain,
        Some(crd::DeletionPolicy::Delete) => DeletionPolicy::Delete,
        None => default,
    }
}

/// What earlier passes recorded in the status about the table.
pub fn record(app: &MetricsApp, prefix: &str) -> Result<TableRecord> {
    let name = table_name(app, prefix)?;
    let table = app
        .status
        .as_ref()
        .and_then(|status| status.table.as_ref())
        .filter(|table| table.name == name);
    Ok(TableRecord {
        arn: table.and_then(|table| table.arn.clone()),
        managed_tags: table
            .map(|table| table.managed_tags.iter().cloned().collect())
            .unwrap_or_default(),
        recreate: app.annotations().get(RECREATE_ANNOTATION) == Some(&name),
    })
}

/// The table part of the status, from one reconcile pass.
pub fn table_status(
    report: &TableReport,
    app: &MetricsApp,
    default: DeletionPolicy,
) -> TableStatus {
    let policy = match deletion_policy(app, default) {
        DeletionPolicy::Retain => crd::DeletionPolicy::Retain,
        DeletionPolicy::Delete => crd::DeletionPolicy::Delete,
    };
    TableStatus {
        name: report.name.clone(),
        arn: report.arn.clone(),
        status: Some(report.status.clone()),
        stream_arn: report.stream_arn.clone(),
        deletion_policy: Some(policy),
        managed_tags: report.managed_tags.iter().cloned().collect(),
    }
}

fn namespace(app: &MetricsApp) -> Result<String> {
    app.namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::fixtures::MetricsAppExt;

    #[test]
    fn table_name_defaults_to_namespace_and_name() {
        let app = MetricsApp::test();
        assert_eq!(table_name(&app, "").unwrap(), "team-metrics");
    }

    #[test]
    fn the_prefix_goes_in_front_of_every_name_and_the_recorded_name_wins() {
        let mut app = MetricsApp::test();
        assert_eq!(
            table_name(&app, "metricsapp-").unwrap(),
            "metricsapp-team-metrics"
        );
        app.spec.table.name = Some("activities".into());
        assert_eq!(
            table_name(&app, "metricsapp-").unwrap(),
            "metricsapp-activities"
        );
        app.status = Some(crd::MetricsAppStatus {
            table: Some(TableStatus {
                name: "activities".into(),
                arn: Some("arn:aws:dynamodb:us-east-1:123456789012:table/activities".into()),
                ..TableStatus::default()
            }),
            ..crd::MetricsAppStatus::default()
        });
        assert_eq!(
            table_name(&app, "metricsapp-").unwrap(),
            "activities",
            "a table created before the prefix keeps its name"
        );
    }

    #[test]
    fn table_name_from_spec_wins() {
        let mut app = MetricsApp::test();
        app.spec.table.name = Some("activities".into());
        assert_eq!(table_name(&app, "").unwrap(), "activities");
        assert_eq!(desired_table(&app, "").unwrap().name, "activities");
    }

    #[test]
    fn default_spec_is_an_on_demand_table_without_extras() {
        let desired = desired_table(&MetricsApp::test(), "").unwrap();
        assert_eq!(
            desired,
            DesiredTable {
                name: "team-metrics".into(),
                billing: Billing::OnDemand,
                point_in_time_recovery: false,
                ttl_attribute: None,
                stream: None,
                tags: BTreeMap::new(),
            }
        );
    }

    #[test]
    fn provisioned_spec_carries_capacity_and_every_setting() {
        let mut app = MetricsApp::test();
        app.spec.table.billing_mode = BillingMode::Provisioned;
        app.spec.table.read_capacity = Some(5);
        app.spec.table.write_capacity = Some(7);
        app.spec.table.point_in_time_recovery = true;
        app.spec.table.ttl_attribute = Some("expiresAt".into());
        app.spec.table.stream = Some(StreamViewType::NewAndOldImages);
        app.spec.table.tags = BTreeMap::from([("team".into(), "metrics".into())]);
        let desired = desired_table(&app, "").unwrap();
        assert_eq!(
            desired.billing,
            Billing::Provisioned(Capacity { read: 5, write: 7 })
        );
        assert!(desired.point_in_time_recovery);
        assert_eq!(desired.ttl_attribute.as_deref(), Some("expiresAt"));
        assert_eq!(desired.stream, Some(StreamView::NewAndOldImages));
        assert_eq!(
            desired.tags.get("team").map(String::as_str),
            Some("metrics")
        );
    }

    #[test]
    fn capacity_mismatch_is_refused_with_the_field_names() {
        let mut app = MetricsApp::test();
        app.spec.table.billing_mode = BillingMode::Provisioned;
        app.spec.table.read_capacity = Some(5);
        let error = desired_table(&app, "").unwrap_err().to_string();
        assert!(error.contains("table.writeCapacity"), "{error}");

        let mut app = MetricsApp::test();
        app.spec.table.write_capacity = Some(5);
        let error = desired_table(&app, "").unwrap_err().to_string();
        assert!(error.contains("PAY_PER_REQUEST"), "{error}");
    }

    #[test]
    fn every_stream_view_maps_to_its_aws_view() {
        let cases = [
            (StreamViewType::KeysOnly, StreamView::KeysOnly),
            (StreamViewType::NewImage, StreamView::NewImage),
            (StreamViewType::OldImage, StreamView::OldImage),
            (StreamViewType::NewAndOldImages, StreamView::NewAndOldImages),
        ];
        for (spec, aws) in cases {
            assert_eq!(stream_view(spec), aws);
        }
    }

    #[test]
    fn owner_is_namespace_name_and_uid() {
        let owner = owner(&MetricsApp::test()).unwrap();
        assert_eq!(owner.namespace, "team");
        assert_eq!(owner.name, "metrics");
        assert_eq!(owner.uid, MetricsApp::test().uid().unwrap());
    }

    #[test]
    fn object_without_uid_is_an_error_not_a_panic() {
        let mut app = MetricsApp::test();
        app.metadata.uid = None;
        assert!(matches!(owner(&app), Err(Error::MissingMetadata(_))));
    }

    #[test]
    fn the_policy_fixed_at_creation_outlives_a_new_operator_default() {
        let mut app = MetricsApp::test();
        app.status = Some(crd::MetricsAppStatus {
            table: Some(TableStatus {
                name: "team-metrics".into(),
                deletion_policy: Some(crd::DeletionPolicy::Retain),
                ..TableStatus::default()
            }),
            ..crd::MetricsAppStatus::default()
        });
        assert_eq!(
            deletion_policy(&app, DeletionPolicy::Delete),
            DeletionPolicy::Retain
        );
        app.spec.table.deletion_policy = Some(crd::DeletionPolicy::Delete);
        assert_eq!(
            deletion_policy(&app, DeletionPolicy::Retain),
            DeletionPolicy::Delete
        );
    }

    #[test]
    fn the_record_comes_from_the_status_and_the_recreate_annotation_names_the_table() {
        let mut app = MetricsApp::test();
        assert_eq!(record(&app, "").unwrap(), TableRecord::default());
        app.status = Some(crd::MetricsAppStatus {
            table: Some(TableStatus {
                name: "team-metrics".into(),
                arn: Some("arn:aws:dynamodb:us-east-1:123456789012:table/team-metrics".into()),
                managed_tags: vec!["team".into()],
                ..TableStatus::default()
            }),
            ..crd::MetricsAppStatus::default()
        });
        let recorded = record(&app, "").unwrap();
        assert!(recorded.arn.is_some());
        assert!(recorded.managed_tags.contains("team"));
        assert!(!recorded.recreate);
        app.annotations_mut()
            .insert(RECREATE_ANNOTATION.into(), "another-table".into());
        assert!(!record(&app, "").unwrap().recreate);
        app.annotations_mut()
            .insert(RECREATE_ANNOTATION.into(), "team-metrics".into());
        assert!(record(&app, "").unwrap().recreate);
    }

    #[test]
    fn deletion_policy_uses_spec_then_operator_default() {
        let mut app = MetricsApp::test();
        assert_eq!(
            deletion_policy(&app, DeletionPolicy::Retain),
            DeletionPolicy::Retain
        );
        assert_eq!(
            deletion_policy(&app, DeletionPolicy::Delete),
            DeletionPolicy::Delete
        );
        app.spec.table.deletion_policy = Some(crd::DeletionPolicy::Retain);
        assert_eq!(
            deletion_policy(&app, DeletionPolicy::Delete),
            DeletionPolicy::Retain
        );
        app.spec.table.deletion_policy = Some(crd::DeletionPolicy::Delete);
        assert_eq!(
            deletion_policy(&app, DeletionPolicy::Retain),
            DeletionPolicy::Delete
        );
    }
}
