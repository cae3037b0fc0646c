//! `spec.expireAfter`: a MetricsApp that deletes itself when it is older than that, so a
//! preview environment whose pull request is never closed still goes, with its table and
//! functions (by their deletion policies). Pure: the controller deletes and publishes.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::crd::MetricsApp;

/// Where a MetricsApp with `expireAfter` stands at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// No `expireAfter`.
    Never,
    /// Not yet: the next pass should come no later than `check_in`.
    Later { at: Timestamp, check_in: Duration },
    /// Within the warning window: an `ExpiresSoon` Event says when.
    Soon { at: Timestamp, check_in: Duration },
    /// Past its time: the operator deletes it.
    Expired { at: Timestamp },
}

/// How long before expiry the `ExpiresSoon` warning comes: a tenth of the lifetime, at
/// most an hour.
fn warning_window(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(3600))
}

/// `expireAfter` as a duration (`72h`, `30m`, `20s`).
pub fn lifetime(app: &MetricsApp) -> Result<Option<Duration>, String> {
    app.spec
        .expire_after
        .as_deref()
        .map(crate::cli::parse_period)
        .transpose()
        .map_err(|error| format!("spec.expireAfter: {error}"))
}

/// Where `app` stands at `now`; a MetricsApp not yet created (no creationTimestamp) is
/// `Never` until it is.
pub fn expiry(app: &MetricsApp, now: Timestamp) -> Result<Expiry, String> {
    let (Some(lifetime), Some(created)) = (lifetime(app)?, &app.metadata.creation_timestamp) else {
        return Ok(Expiry::Never);
    };
    let lifetime_signed = SignedDuration::try_from(lifetime).map_err(|e| e.to_string())?;
    let at = created
        .0
        .checked_add(lifetime_signed)
        .map_err(|error| format!("spec.expireAfter is too far ahead: {error}"))?;
    let left = at.duration_since(now);
    if left <= SignedDuration::ZERO {
        return Ok(Expiry::Expired { at });
    }
    let left = Duration::try_from(left).unwrap_or_default();
    let window = warning_window(lifetime);
    Ok(if left <= window {
        Expiry::Soon { at, check_in: left }
    } else {
        Expiry::Later {
            at,
            check_in: left - window,
        }
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::fixtures::MetricsAppExt;

    fn created_at(seconds: i64, expire_after: Option<&str>) -> MetricsApp {
        let mut app = MetricsApp::test();
        app.metadata.creation_timestamp = Some(Time(Timestamp::from_second(seconds).unwrap()));
        app.spec.expire_after = expire_after.map(str::to_owned);
        app
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn an_app_expires_after_its_lifetime_with_a_warning_ahead() {
        let app = created_at(1_000, Some("100s"));
        let expires = at(1_100);
        assert_eq!(
            expiry(&app, at(1_000)).unwrap(),
            Expiry::Later {
                at: expires,
                check_in: Duration::from_secs(90)
            }
        );
        assert_eq!(
            expiry(&app, at(1_095)).unwrap(),
            Expiry::Soon {
                at: expires,
                check_in: Duration::from_secs(5)
            },
            "a tenth of the lifetime ahead"
        );
        assert_eq!(
            expiry(&app, at(1_100)).unwrap(),
            Expiry::Expired { at: expires }
        );
        // A long lifetime is warned about an hour ahead.
        let week = created_at(0, Some("168h"));
        assert!(matches!(
            expiry(&week, at(168 * 3600 - 3599)).unwrap(),
            Expiry::Soon { .. }
        ));
        assert!(matches!(
            expiry(&week, at(168 * 3600 - 3601)).unwrap(),
            Expiry::Later { .. }
        ));
    }

    #[test]
    fn without_expire_after_or_before_creation_nothing_expires() {
        assert_eq!(
            expiry(&created_at(0, None), at(1 << 33)).unwrap(),
            Expiry::Never
        );
        let mut new = created_at(0, Some("1h"));
        new.metadata.creation_timestamp = None;
        assert_eq!(expiry(&new, at(1 << 33)).unwrap(), Expiry::Never);
        let error = expiry(&created_at(0, Some("soon")), at(0)).unwrap_err();
        assert!(error.contains("spec.expireAfter"), "{error}");
    }
}
