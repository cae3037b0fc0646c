"""Digest and deployment records: stored as git notes on origin, read back by commit."""

import json
import sys

from conftest import SCRIPTS, fake_digest, git

sys.path.insert(0, str(SCRIPTS))

from promote_lib import records  # noqa: E402
from promote_lib.environments import environment  # noqa: E402
from promote_lib.git import Git  # noqa: E402


def test_digests_recorded_by_the_build_are_found_by_commit_from_another_clone(repos):
    feature = repos.built("dev", "Add activity export")

    record = json.loads(repos.ok("digests", "--commit", feature, repo=repos.dev))
    assert record["commit"] == feature
    assert record["images"] == repos.images(feature)

    outputs = dict(line.split("=", 1) for line in repos.ok("digests", "--commit", feature, "--format", "github-output").splitlines())
    assert outputs["app_digest"] == fake_digest(feature, "app")
    assert outputs["operator_image"] == repos.images(feature)["operator"]


def test_recording_the_same_digests_again_is_idempotent(repos):
    feature = repos.built("dev", "Add activity export")
    repos.build(feature)

    assert json.loads(repos.ok("digests", "--commit", feature))["images"] == repos.images(feature)


def test_recording_different_digests_for_a_built_commit_is_refused(repos):
    feature = repos.built("dev", "Add activity export")
    other = f"ghcr.io/metricsapp/metrics-app@{fake_digest('rebuild', 'app')}"

    err = repos.refused(
        "record-digests", "--commit", feature,
        "--image", f"operator={repos.images(feature)['operator']}", "--image", f"app={other}", "--push",
    )
    assert "already has different digests" in err
    assert json.loads(repos.ok("digests", "--commit", feature))["images"] == repos.images(feature)


def test_a_clone_that_has_not_fetched_the_notes_keeps_the_records_of_others(repos):
    first = repos.commit_on("dev", "First feature")
    second = repos.commit_on("dev", "Second feature")
    # The developer clone has not fetched the first record when it writes the second.
    repos.build(first)
    images = repos.images(second)
    repos.ok(
        "record-digests", "--commit", second,
        "--image", f"operator={images['operator']}", "--image", f"app={images['app']}", "--push",
        repo=repos.dev, fetch=False,
    )

    assert json.loads(repos.ok("digests", "--commit", first))["images"] == repos.images(first)
    assert json.loads(repos.ok("digests", "--commit", second))["images"] == repos.images(second)


def test_deployment_records_written_from_two_clones_are_all_kept(repos):
    feature = repos.commit_on("dev", "Add activity export")
    repos.ok("record-deployment", "--commit", feature, "--env", "dev", "--result", "success", "--push")
    repos.ok(
        "record-deployment", "--commit", feature, "--env", "dev", "--result", "failure", "--push",
        repo=repos.dev, fetch=False,
    )

    assert "ended in failure" in repos.refused("check-green", "--commit", feature, "--env", "dev")


def test_images_must_be_pinned_by_digest(repos):
    feature = repos.commit_on("dev", "Add activity export")
    err = repos.refused(
        "record-digests", "--commit", feature,
        "--image", "operator=ghcr.io/metricsapp/metricsapp-operator:latest",
        "--image", f"app={repos.images(feature)['app']}",
    )
    assert "is not pinned by digest" in err and "operator" in err

    err = repos.refused("record-digests", "--commit", feature, "--image", f"app={repos.images(feature)['app']}")
    assert "missing --image for: operator" in err


def test_a_corrupt_record_is_reported_not_trusted(repos):
    feature = repos.commit_on("dev", "Add activity export")
    git(repos.ci, "fetch", "--quiet", "origin")
    git(repos.ci, "notes", "--ref=refs/notes/digests", "add", "-m", "not json", feature)

    err = repos.refused("digests", "--commit", feature, fetch=False)
    assert "is not JSON" in err


def test_a_push_that_loses_the_race_merges_the_winner_and_retries(repos):
    """Both clones wrote a note before either pushed: the loser merges and pushes again."""
    first = repos.commit_on("dev", "First feature")
    second = repos.commit_on("dev", "Second feature")
    git(repos.ci, "fetch", "--quiet", "origin")
    dev, ci = Git(str(repos.dev)), Git(str(repos.ci))
    env = environment("dev")
    ref = records.deployments_ref(env)
    for clone, commit in ((dev, first), (ci, second)):
        deployment = records.Deployment(records.now(), commit, "dev", "success")
        records.record_deployment(clone, env, deployment, push=False)

    records._push(dev, ref)
    records._push(ci, ref)

    assert "dev is green" in repos.ok("check-green", "--commit", first, "--env", "dev", repo=repos.dev)
    assert "dev is green" in repos.ok("check-green", "--commit", second, "--env", "dev", repo=repos.dev)


def test_status_shows_per_environment_the_commit_its_digests_when_verified_and_a_failure(repos):
    feature = repos.built("dev", "Add activity export", deployed_to="dev")
    repos.ok("record-deployment", "--commit", feature, "--env", "dev", "--result", "failure", "--reason", "RolledBack", "--push")

    text = repos.ok("status")
    dev, staging, production = text.split("\nstaging: ")[0], *text.split("\nstaging: ")[1].split("\nproduction: ")

    assert dev.startswith(f"dev: branch dev at {feature[:12]}\n  running: {feature[:12]}, verified 20")
    assert f"    app: {repos.images(feature)['app']}" in dev
    assert f"  last deployment failed (RolledBack): {feature[:12]} at " in dev
    assert staging == f"branch staging at {repos.initial[:12]}\n  running: nothing verified yet"
    assert production.startswith(f"branch main at {repos.initial[:12]}\n  running: nothing verified yet")


def test_status_says_when_an_environment_runs_another_commit_than_its_branch_tip(repos):
    first = repos.built("dev", "First feature", deployed_to="dev")
    second = repos.built("dev", "Second feature")

    assert f"  running: {first[:12]}, verified" in repos.ok("status")
    assert f"  not the branch tip {second[:12]}: rolled back, or the tip is not verified yet" in repos.ok("status")
