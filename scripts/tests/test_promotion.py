"""Promotion decisions on real git repositories: fast-forward, green, digests."""

from conftest import git


def test_fast_forward_promotion_moves_staging_to_the_tested_commit(repos):
    feature = repos.built("dev", "Add activity export", deployed_to="dev")

    assert "can fast-forward" in repos.ok("check-fast-forward", "--from", feature, "--to-branch", "staging")
    out = repos.ok("promote", "--to", "staging", "--push")

    assert repos.tip("staging") == feature
    assert "by fast-forward" in out
    assert repos.tip("main") == repos.initial


def test_promotion_without_push_only_checks(repos):
    feature = repos.built("dev", "Add activity export", deployed_to="dev")

    assert "not pushed" in repos.ok("promote", "--to", "staging", "--commit", feature)
    assert repos.tip("staging") == repos.initial


def test_promotion_of_the_current_commit_is_a_no_op(repos):
    feature = repos.built("dev", "Add activity export", deployed_to="dev")
    repos.ok("promote", "--to", "staging", "--push")

    assert "already at" in repos.ok("promote", "--to", "staging", "--push")
    assert repos.tip("staging") == feature


def test_diverged_branches_are_refused(repos):
    hotfix = repos.commit_on("staging", "Hotfix straight on staging")
    feature = repos.built("dev", "Add activity export", deployed_to="dev")

    err = repos.refused("check-fast-forward", "--from", feature, "--to-branch", "staging")
    assert "not an ancestor" in err and "diverged" in err
    assert "Hotfix straight on staging" in err

    err = repos.refused("promote", "--to", "staging", "--push")
    assert "diverged" in err
    assert repos.tip("staging") == hotfix


def test_moving_a_branch_backwards_is_refused(repos):
    first, second = repos.built_on_dev("First feature", "Second feature")
    repos.ok("promote", "--to", "staging", "--commit", second, "--push")

    err = repos.refused("promote", "--to", "staging", "--commit", first, "--push")
    assert "backwards" in err and "rollback" in err
    assert repos.tip("staging") == second


def test_missing_digests_are_refused(repos):
    feature = repos.commit_on("dev", "Add activity export")
    repos.deployed(feature, "dev")

    err = repos.refused("promote", "--to", "staging", "--push")
    assert "no image digests recorded" in err and feature[:12] in err
    assert repos.tip("staging") == repos.initial
    assert "no image digests recorded" in repos.refused("digests", "--commit", feature)


def test_lower_environment_never_deployed_is_refused(repos):
    feature = repos.built("dev", "Add activity export")

    err = repos.refused("promote", "--to", "staging", "--push")
    assert "dev is not green" in err and "never deployed" in err
    assert repos.tip("staging") == repos.initial


def test_lower_environment_failed_is_refused_until_a_later_deploy_succeeds(repos):
    feature = repos.built("dev", "Add activity export")
    repos.deployed(feature, "dev", "failure")

    assert "ended in failure" in repos.refused("check-green", "--commit", feature, "--env", "dev")
    assert "ended in failure" in repos.refused("promote", "--to", "staging", "--push")

    repos.deployed(feature, "dev", "success")
    assert "dev is green" in repos.ok("check-green", "--commit", feature, "--env", "dev")

    repos.deployed(feature, "dev", "failure")
    assert "ended in failure" in repos.refused("check-green", "--commit", feature, "--env", "dev")


def test_production_needs_staging_green_not_dev(repos):
    feature = repos.built("dev", "Add activity export", deployed_to="dev")
    repos.ok("promote", "--to", "staging", "--push")

    err = repos.refused("promote", "--to", "production", "--push")
    assert "staging is not green" in err

    repos.deployed(feature, "staging")
    repos.ok("promote", "--to", "production", "--push")
    assert repos.tip("main") == feature


def test_a_commit_that_is_not_on_the_lower_branch_is_refused(repos):
    stray = repos.commit_on("experiment", "Untested experiment", base="dev")
    repos.build(stray)
    repos.deployed(stray, "dev")

    err = repos.refused("promote", "--to", "staging", "--commit", stray, "--push")
    assert "is not on dev" in err
    assert repos.tip("staging") == repos.initial


def test_promoting_into_dev_is_refused(repos):
    assert "first environment" in repos.refused("promote", "--to", "dev")


def test_unknown_environment_and_commit_are_named(repos):
    assert "unknown environment 'qa'" in repos.refused("promote", "--to", "qa")
    assert "'nope' is not a commit" in repos.refused("check-fast-forward", "--from", "nope", "--to-branch", "staging")
    assert "holds no environment" in repos.refused("check-fast-forward", "--from", "HEAD", "--to-branch", "feature")


def test_a_branch_that_moved_since_the_fetch_is_not_overwritten(repos):
    feature = repos.built("dev", "Add activity export", deployed_to="dev")
    repos.ok("check-green", "--commit", feature, "--env", "dev")  # the CI clone fetched here
    hotfix = repos.commit_on("staging", "Hotfix pushed meanwhile")

    err = repos.refused("promote", "--to", "staging", "--commit", feature, "--push", fetch=False)

    assert "git push" in err and "rejected" in err
    assert repos.tip("staging") == hotfix


def test_the_first_promotion_creates_the_branch(repos):
    git(repos.dev, "push", "--quiet", "origin", "--delete", "staging")
    feature = repos.built("dev", "Add activity export", deployed_to="dev")

    repos.ok("promote", "--to", "staging", "--push")

    assert repos.tip("staging") == feature


def test_a_directory_that_is_not_a_repository_is_named(repos, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()

    err = repos.refused("status", repo=plain, fetch=False)
    assert f"{plain} is not a git repository" in err
    assert "no such directory" in repos.refused("-C", str(tmp_path / "missing"), "status", fetch=False)
