"""Rollback targets and the hotfix back-merge check."""

from conftest import git


def _release(repos, subject):
    commit = repos.commit_on("dev", subject)
    repos.build(commit)
    repos.deployed(commit, "dev")
    return commit


def test_rollback_target_in_the_environments_history_is_resolved_with_its_digests(repos):
    first = _release(repos, "First feature")
    second = _release(repos, "Second feature")

    out = repos.ok("resolve-rollback", "--env", "dev", "--commit", first[:10])
    assert f"dev can roll back to {first}" in out
    assert repos.images(first)["app"] in out
    assert "last deployed to dev" in out and "(success)" in out

    outputs = dict(
        line.split("=", 1)
        for line in repos.ok("resolve-rollback", "--env", "dev", "--commit", first, "--format", "github-output").splitlines()
    )
    assert outputs["commit"] == first
    assert outputs["app_image"] == repos.images(first)["app"]
    assert outputs["operator_image"] == repos.images(first)["operator"]
    assert second != first


def test_rollback_to_an_unknown_commit_is_refused(repos):
    err = repos.refused("resolve-rollback", "--env", "production", "--commit", "0123456789abcdef0123456789abcdef01234567")
    assert "is not a commit in this repository" in err


def test_rollback_to_a_commit_the_environment_never_had_is_refused(repos):
    newer = _release(repos, "Not yet promoted")

    err = repos.refused("resolve-rollback", "--env", "staging", "--commit", newer)
    assert "is not in the history of staging" in err


def test_rollback_to_a_commit_without_digests_is_refused(repos):
    err = repos.refused("resolve-rollback", "--env", "production", "--commit", repos.initial)
    assert "no image digests recorded" in err


def test_hotfix_on_main_fails_the_back_merge_check_until_merged_down(repos):
    assert "every commit on staging and main is in dev" in repos.ok("check-backmerge")
    repos.commit_on("main", "Hotfix: reject empty customer names")
    feature = _release(repos, "Add activity export")

    err = repos.refused("check-backmerge")
    assert "main has 1 commit(s) not in dev" in err
    assert "Hotfix: reject empty customer names" in err

    # The back-merge pull request: its merge commit passes before dev itself does.
    git(repos.dev, "fetch", "--quiet", "origin")
    git(repos.dev, "checkout", "--quiet", "-B", "backmerge", "origin/dev")
    git(repos.dev, "merge", "--quiet", "--no-edit", "origin/main")
    git(repos.dev, "push", "--quiet", "origin", "HEAD:refs/heads/backmerge")
    merged = git(repos.dev, "rev-parse", "HEAD")
    assert "in origin/backmerge" in repos.ok("check-backmerge", "--candidate", "origin/backmerge")
    repos.refused("check-backmerge")
    git(repos.dev, "push", "--quiet", "origin", "HEAD:refs/heads/dev")
    repos.ok("check-backmerge")

    # With the hotfix merged down, the merge commit flows up by fast-forward again.
    repos.build(merged)
    repos.deployed(merged, "dev")
    repos.ok("promote", "--to", "staging", "--push")
    repos.deployed(merged, "staging")
    repos.ok("promote", "--to", "production", "--push")
    assert repos.tip("main") == merged
    assert feature != merged


def test_hotfix_on_staging_is_detected_too(repos):
    repos.commit_on("staging", "Hotfix on staging")

    assert "staging has 1 commit(s) not in dev" in repos.refused("check-backmerge")
