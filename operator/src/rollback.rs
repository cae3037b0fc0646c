//! Automatic rollback of a failed rollout. Pure: from the spec, the previous status
//! and the Deployment as cached, whether the app must run the last good image instead
//! of the spec's.
//!
//! A rollout has failed when the Deployment runs the spec's image in its template and
//! reports `Progressing=False` with `ProgressDeadlineExceeded`. The last good image is
//! `status.image`: the image every replica ran the last time the rollout completed.
//! Once recorded, the rollback lasts until the spec changes (a new generation), so the
//! operator does not roll forward to the broken image again on the next pass.

use k8s_openapi::api::apps::v1::Deployment;

use crate::crd::{MetricsApp, RollbackStatus};

/// The rollback in force for this pass, if any.
pub fn rollback(app: &MetricsApp, deployment: Option<&Deployment>) -> Option<RollbackStatus> {
    let generation = app.metadata.generation?;
    let previous = app.status.as_ref()?;
    if let Some(record) = &previous.rollback
        && record.generation == generation
    {
        return Some(record.clone());
    }
    if !app.spec.rollout.auto_rollback {
        return None;
    }
    let good = previous.image.as_ref()?;
    if *good == app.spec.image {
        return None;
    }
    let deployment = deployment?;
    let runs_spec_image = template_image(deployment) == Some(app.spec.image.as_str());
    (runs_spec_image && deadline_exceeded(deployment)).then(|| RollbackStatus {
        generation,
        failed_image: app.spec.image.clone(),
        restored_image: good.clone(),
    })
}

/// The image of the Deployment's first container, as its pod template says.
pub(crate) fn template_image(deployment: &Deployment) -> Option<&str> {
    deployment
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .as_deref()
}

fn deadline_exceeded(deployment: &Deployment) -> bool {
    let Some(status) = &deployment.status else {
        return false;
    };
    let observed =
        status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0);
    observed
        && status.conditions.iter().flatten().any(|condition| {
            condition.type_ == "Progressing"
                && condition.status == "False"
                && condition.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentStatus};

    use super::*;
    use crate::crd::MetricsAppStatus;
    use crate::fixtures::MetricsAppExt;

    const GOOD: &str = "ghcr.io/metricsapp/metrics-app:1";
    const BROKEN: &str = "ghcr.io/metricsapp/metrics-app:2";

    fn app(image: &str, generation: i64, last_good: Option<&str>) -> MetricsApp {
        let mut app = MetricsApp::test();
        app.spec.image = image.into();
        app.metadata.generation = Some(generation);
        app.status = Some(MetricsAppStatus {
            image: last_good.map(str::to_owned),
            ..MetricsAppStatus::default()
        });
        app
    }

    fn deployment(image: &str, stalled: bool) -> Deployment {
        let app = MetricsApp {
            spec: crate::crd::MetricsAppSpec {
                image: image.into(),
                ..MetricsApp::test().spec
            },
            ..MetricsApp::test()
        };
        let settings = crate::resources::AppSettings {
            region: "us-east-1".into(),
            name_prefix: String::new(),
        };
        let config = crate::resources::config_map(&app, &settings).unwrap();
        let mut deployment = crate::resources::deployment(&app, &config).unwrap();
        deployment.metadata.generation = Some(4);
        deployment.status = Some(DeploymentStatus {
            observed_generation: Some(4),
            conditions: Some(vec![DeploymentCondition {
                type_: "Progressing".into(),
                status: if stalled { "False" } else { "True" }.into(),
                reason: Some(
                    if stalled {
                        "ProgressDeadlineExceeded"
                    } else {
                        "ReplicaSetUpdated"
                    }
                    .into(),
                ),
                ..DeploymentCondition::default()
            }]),
            ..DeploymentStatus::default()
        });
        deployment
    }

    #[test]
    fn a_stalled_rollout_of_a_new_image_goes_back_to_the_last_good_one() {
        let record = rollback(&app(BROKEN, 2, Some(GOOD)), Some(&deployment(BROKEN, true)));
        assert_eq!(
            record,
            Some(RollbackStatus {
                generation: 2,
                failed_image: BROKEN.into(),
                restored_image: GOOD.into(),
            })
        );
    }

    #[test]
    fn a_rollout_still_progressing_is_left_alone() {
        assert_eq!(
            rollback(
                &app(BROKEN, 2, Some(GOOD)),
                Some(&deployment(BROKEN, false))
            ),
            None
        );
    }

    #[test]
    fn without_a_good_image_or_with_auto_rollback_off_nothing_is_rolled_back() {
        assert_eq!(
            rollback(&app(BROKEN, 2, None), Some(&deployment(BROKEN, true))),
            None,
            "first deployment: nothing to go back to"
        );
        let mut off = app(BROKEN, 2, Some(GOOD));
        off.spec.rollout.auto_rollback = false;
        assert_eq!(rollback(&off, Some(&deployment(BROKEN, true))), None);
        assert_eq!(
            rollback(&app(GOOD, 2, Some(GOOD)), Some(&deployment(GOOD, true))),
            None,
            "the good image itself stalls: there is nothing better to restore"
        );
    }

    #[test]
    fn the_rollback_lasts_until_the_spec_changes() {
        let mut rolled = app(BROKEN, 2, Some(GOOD));
        let record = rollback(&rolled, Some(&deployment(BROKEN, true))).unwrap();
        rolled.status.as_mut().unwrap().rollback = Some(record.clone());
        // The Deployment runs the good image again and is progressing fine.
        assert_eq!(
            rollback(&rolled, Some(&deployment(GOOD, false))),
            Some(record)
        );
        rolled.metadata.generation = Some(3);
        rolled.spec.image = "ghcr.io/metricsapp/metrics-app:3".into();
        assert_eq!(rollback(&rolled, Some(&deployment(GOOD, false))), None);
    }
}
