//! What the operator's administrator allows any MetricsApp to ask for, whatever the
//! editors of a namespace write: the operator acts with one IAM role for every
//! namespace, so these bounds are set by flags (chart values), not in each spec. Pure.
//!
//! A spec beyond a limit gets a terminal condition naming the flag, on the part it
//! concerns; the other parts go on.

use std::time::Duration;

use crate::crd::{AuthMode, MetricsApp, ServiceType};

/// The administrator's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Highest provisioned read capacity a table may ask for.
    pub max_read_capacity: i64,
    /// Highest provisioned write capacity a table may ask for.
    pub max_write_capacity: i64,
    /// Whether `adopt: true` (take over an existing table or function) is honoured.
    pub allow_adopt: bool,
    /// Whether `deletionPolicy: Delete` may skip the backup (`backupBeforeDelete: false`).
    pub allow_delete_without_backup: bool,
    /// Service types a MetricsApp may ask for.
    pub service_types: Vec<ServiceType>,
    /// Longest `expireAfter` a MetricsApp may ask for (none: any).
    pub max_expire_after: Option<Duration>,
    /// Most MetricsApps with `expireAfter` (previews) per namespace (none: any).
    pub max_previews: Option<usize>,
}

impl Default for Limits {
    /// The defaults are the safe ones: nothing adopted, no deletion without a backup,
    /// no Service outside the cluster.
    fn default() -> Self {
        Limits {
            max_read_capacity: 100,
            max_write_capacity: 100,
            allow_adopt: false,
            allow_delete_without_backup: false,
            service_types: vec![ServiceType::ClusterIP],
            max_expire_after: None,
            max_previews: None,
        }
    }
}

/// A spec beyond a limit: what it asks, and the flag that allows more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
}

impl Refusal {
    fn new(field: &str, asked: impl std::fmt::Display, flag: &str) -> Self {
        Refusal {
            message: format!(
                "{field}: {asked} is not allowed by the operator's administrator ({flag})"
            ),
        }
    }
}

/// The table part of the spec against the limits.
pub fn check_table(app: &MetricsApp, limits: &Limits) -> Result<(), Refusal> {
    let table = &app.spec.table;
    if let Some(read) = table.read_capacity
        && read > limits.max_read_capacity
    {
        return Err(Refusal::new(
            "table.readCapacity",
            format!("{read} (limit {})", limits.max_read_capacity),
            "--max-read-capacity",
        ));
    }
    if let Some(write) = table.write_capacity
        && write > limits.max_write_capacity
    {
        return Err(Refusal::new(
            "table.writeCapacity",
            format!("{write} (limit {})", limits.max_write_capacity),
            "--max-write-capacity",
        ));
    }
    if table.adopt && !limits.allow_adopt {
        return Err(Refusal::new("table.adopt", "true", "--allow-adopt"));
    }
    if !table.backup_before_delete
        && table.deletion_policy == Some(crate::crd::DeletionPolicy::Delete)
        && !limits.allow_delete_without_backup
    {
        return Err(Refusal::new(
            "table.backupBeforeDelete",
            "false with deletionPolicy Delete",
            "--allow-delete-without-backup",
        ));
    }
    Ok(())
}

/// One function's part of the spec against the limits.
pub fn check_function(function: &crate::crd::FunctionSpec, limits: &Limits) -> Result<(), Refusal> {
    if function.adopt && !limits.allow_adopt {
        return Err(Refusal::new(
            &format!("functions[{}].adopt", function.name),
            "true",
            "--allow-adopt",
        ));
    }
    Ok(())
}

/// The Service type against the limits. A Service reachable from outside the cluster
/// also needs authentication: the app would otherwise take writes from anyone.
pub fn check_service(app: &MetricsApp, limits: &Limits) -> Result<(), Refusal> {
    let asked = app.spec.service.type_;
    if !limits.service_types.contains(&asked) {
        return Err(Refusal::new(
            "service.type",
            asked.as_str(),
            "--allowed-service-types",
        ));
    }
    match (asked, app.spec.auth.mode) {
        (ServiceType::NodePort | ServiceType::LoadBalancer, AuthMode::None) => Err(Refusal {
            message: format!(
                "service.type: {} exposes the app outside the cluster, which needs auth.mode token or proxy",
                asked.as_str()
            ),
        }),
        (ServiceType::ClusterIP, _)
        | (ServiceType::NodePort | ServiceType::LoadBalancer, AuthMode::Token | AuthMode::Proxy) => {
            Ok(())
        }
    }
}

/// A MetricsApp with `expireAfter` (a preview) against the limits on previews: its
/// lifetime, and its place among the namespace's previews (`previews`: each one's
/// creation time and name, this one included). The oldest previews keep their places,
/// so a new one beyond the limit never takes the place of one already running.
pub fn check_preview(
    app: &MetricsApp,
    lifetime: Option<Duration>,
    previews: &[(Option<k8s_openapi::jiff::Timestamp>, String)],
    limits: &Limits,
) -> Result<(), Refusal> {
    let Some(lifetime) = lifetime else {
        return Ok(());
    };
    if let Some(max) = limits.max_expire_after
        && lifetime > max
    {
        return Err(Refusal::new(
            "expireAfter",
            format!("{} (limit {})", friendly(lifetime), friendly(max)),
            "--max-expire-after",
        ));
    }
    if let Some(max) = limits.max_previews {
        let me = (
            app.metadata.creation_timestamp.as_ref().map(|t| t.0),
            app.metadata.name.clone().unwrap_or_default(),
        );
        // Not yet created sorts last (`None` is a creation still to come).
        let key = |(created, name): &(Option<k8s_openapi::jiff::Timestamp>, String)| {
            (created.is_none(), *created, name.clone())
        };
        let ahead = previews
            .iter()
            .filter(|other| other.1 != me.1 && key(other) < key(&me))
            .count();
        if ahead >= max {
            return Err(Refusal::new(
                "expireAfter",
                format!("a preview beyond the {max} this namespace may run ({ahead} older)"),
                "--max-previews",
            ));
        }
    }
    Ok(())
}

/// `72h`, `1h 30m`, as users write periods.
fn friendly(period: Duration) -> String {
    k8s_openapi::jiff::SignedDuration::try_from(period)
        .map_or_else(|_| format!("{period:?}"), |period| format!("{period:#}"))
}

/// Whether deleting this table must take a backup first: as the spec says, unless the
/// administrator does not allow skipping it.
pub fn backup_before_delete(app: &MetricsApp, limits: &Limits) -> bool {
    app.spec.table.backup_before_delete || !limits.allow_delete_without_backup
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{BillingMode, DeletionPolicy};
    use crate::fixtures::{MetricsAppExt, function_spec};
    use k8s_openapi::jiff::Timestamp;

    fn preview(name: &str, created_secs: Option<i64>) -> (MetricsApp, (Option<Timestamp>, String)) {
        let mut app = MetricsApp::test();
        app.metadata.name = Some(name.into());
        let created = created_secs.map(|secs| Timestamp::from_second(secs).unwrap());
        app.metadata.creation_timestamp =
            created.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time);
        (app, (created, name.into()))
    }

    #[test]
    fn a_preview_longer_than_the_administrator_allows_is_refused_naming_the_flag() {
        let (app, me) = preview("pr-1", Some(100));
        let limits = Limits {
            max_expire_after: Some(Duration::from_secs(168 * 3600)),
            ..Limits::default()
        };
        let week = Duration::from_secs(168 * 3600);
        assert_eq!(
            check_preview(&app, Some(week), std::slice::from_ref(&me), &limits),
            Ok(())
        );
        let refusal =
            check_preview(&app, Some(week * 2), std::slice::from_ref(&me), &limits).unwrap_err();
        assert_eq!(
            refusal.message,
            "expireAfter: 336h (limit 168h) is not allowed by the operator's administrator \
             (--max-expire-after)"
        );
        // Without expireAfter it is no preview: no limit applies.
        assert_eq!(check_preview(&app, None, &[], &limits), Ok(()));
        assert_eq!(
            check_preview(&app, Some(week * 100), &[me], &Limits::default()),
            Ok(())
        );
    }

    #[test]
    fn the_oldest_previews_keep_their_places_and_newer_ones_beyond_the_limit_are_refused() {
        let limits = Limits {
            max_previews: Some(2),
            ..Limits::default()
        };
        let day = Some(Duration::from_secs(86_400));
        let (first, a) = preview("pr-9", Some(100));
        let (second, b) = preview("pr-3", Some(200));
        let (third, c) = preview("pr-1", Some(300));
        let (unborn, d) = preview("pr-0", None);
        let all = [c.clone(), a.clone(), d.clone(), b.clone()];
        assert_eq!(check_preview(&first, day, &all, &limits), Ok(()));
        assert_eq!(check_preview(&second, day, &all, &limits), Ok(()));
        let refusal = check_preview(&third, day, &all, &limits).unwrap_err();
        assert!(
            refusal.message.contains("--max-previews"),
            "{}",
            refusal.message
        );
        assert!(refusal.message.contains("2 older"), "{}", refusal.message);
        assert!(check_preview(&unborn, day, &all, &limits).is_err());
        // The same creation time: the name decides, so two passes agree.
        let (twin, e) = preview("pr-4", Some(200));
        let tied = [a, b, e];
        assert!(check_preview(&twin, day, &tied, &limits).is_err());
        assert_eq!(check_preview(&second, day, &tied, &limits), Ok(()));
        let _ = c;
    }

    #[test]
    fn a_default_app_is_within_the_default_limits() {
        let app = MetricsApp::test();
        let limits = Limits::default();
        assert_eq!(check_table(&app, &limits), Ok(()));
        assert_eq!(check_service(&app, &limits), Ok(()));
        assert_eq!(check_function(&function_spec("rollup"), &limits), Ok(()));
    }

    #[test]
    fn capacity_above_the_limit_is_refused_naming_the_field_and_the_flag() {
        let mut app = MetricsApp::test();
        app.spec.table.billing_mode = BillingMode::Provisioned;
        app.spec.table.read_capacity = Some(100);
        app.spec.table.write_capacity = Some(101);
        let refusal = check_table(&app, &Limits::default()).unwrap_err();
        assert!(
            refusal
                .message
                .contains("table.writeCapacity: 101 (limit 100)"),
            "{}",
            refusal.message
        );
        assert!(
            refusal.message.contains("--max-write-capacity"),
            "{}",
            refusal.message
        );
        let generous = Limits {
            max_write_capacity: 1000,
            ..Limits::default()
        };
        assert_eq!(check_table(&app, &generous), Ok(()));
    }

    #[test]
    fn adoption_needs_the_administrators_consent() {
        let mut app = MetricsApp::test();
        app.spec.table.adopt = true;
        let refusal = check_table(&app, &Limits::default()).unwrap_err();
        assert!(
            refusal.message.contains("--allow-adopt"),
            "{}",
            refusal.message
        );
        let mut function = function_spec("rollup");
        function.adopt = true;
        let refusal = check_function(&function, &Limits::default()).unwrap_err();
        assert!(
            refusal.message.starts_with("functions[rollup].adopt"),
            "{}",
            refusal.message
        );
        let allowed = Limits {
            allow_adopt: true,
            ..Limits::default()
        };
        assert_eq!(check_table(&app, &allowed), Ok(()));
        assert_eq!(check_function(&function, &allowed), Ok(()));
    }

    #[test]
    fn deleting_without_a_backup_is_refused_and_a_backup_is_taken_anyway() {
        let mut app = MetricsApp::test();
        app.spec.table.deletion_policy = Some(DeletionPolicy::Delete);
        app.spec.table.backup_before_delete = false;
        let limits = Limits::default();
        assert!(check_table(&app, &limits).is_err());
        assert!(backup_before_delete(&app, &limits));
        let allowed = Limits {
            allow_delete_without_backup: true,
            ..Limits::default()
        };
        assert_eq!(check_table(&app, &allowed), Ok(()));
        assert!(!backup_before_delete(&app, &allowed));
    }

    #[test]
    fn a_public_service_needs_the_administrators_consent() {
        let mut app = MetricsApp::test();
        app.spec.service.type_ = ServiceType::LoadBalancer;
        let refusal = check_service(&app, &Limits::default()).unwrap_err();
        assert!(
            refusal.message.contains("service.type: LoadBalancer"),
            "{}",
            refusal.message
        );
        let allowed = Limits {
            service_types: vec![ServiceType::ClusterIP, ServiceType::LoadBalancer],
            ..Limits::default()
        };
        let refusal = check_service(&app, &allowed).unwrap_err();
        assert!(
            refusal.message.contains("needs auth.mode"),
            "{}",
            refusal.message
        );
        app.spec.auth.mode = AuthMode::Token;
        assert_eq!(check_service(&app, &allowed), Ok(()));
    }
}
