"""The markdown summary reviewers see before approving a promotion."""

from conftest import git


def test_summary_lists_the_commits_being_promoted_and_their_digests(repos):
    first = repos.commit_on("dev", "Add activity export")
    second = repos.commit_on(
        "dev",
        "Run three staging replicas",
        {"examples/staging/metricsapp.yaml": (repos.dev / "examples/staging/metricsapp.yaml").read_text().replace("replicas: 2", "replicas: 3")},
    )
    repos.build(second)

    out = repos.ok("summary", "--env", "staging", "--commit", second)

    assert "the tip of `staging` (no deployment to staging recorded)" in out
    assert "Commits deployed (2)" in out and "taken out" not in out
    assert "Add activity export" in out and "Run three staging replicas" in out
    assert "Initial release" not in out
    assert first[:7] in out and second[:7] in out
    assert repos.images(second)["app"] in out and repos.images(second)["operator"] in out
    assert "-  replicas: 2" in out and "+  replicas: 3" in out
    assert f"+  image: {repos.images(second)['app']}" in out
    assert "-  image: ghcr.io/metricsapp/metrics-app:0.1.0" in out


def test_summary_compares_with_what_the_environment_last_ran(repos):
    first, second = repos.built_on_dev("First feature", "Second feature")
    repos.ok("promote", "--to", "staging", "--commit", first, "--push")
    repos.deployed(first, "staging")

    out = repos.ok("summary", "--env", "staging", "--commit", second)

    assert f"`{first[:12]}`, the last successful deployment to staging" in out
    assert "Commits deployed (1)" in out and "Second feature" in out and "First feature" not in out
    assert f"| operator | `{repos.images(second)['operator']}` | `{repos.images(first)['operator']}` |" in out
    assert f"-  image: {repos.images(first)['app']}" in out
    assert f"+  image: {repos.images(second)['app']}" in out
    assert "Operator chart values" in out and "_no change_" in out


def test_summary_after_a_rollback_compares_with_the_rolled_back_commit(repos):
    first, broken = repos.built_on_dev("First feature", "Broken feature")
    repos.deployed(first, "dev")  # the rollback
    fix = repos.built("dev", "Revert the broken feature")

    out = repos.ok("summary", "--env", "dev", "--commit", fix)

    assert f"`{first[:12]}`, the last successful deployment to dev" in out
    assert "Commits deployed (2)" in out and "Broken feature" in out and "Revert the broken feature" in out


def test_summary_of_a_rollback_lists_the_commits_taken_out(repos):
    first, second = repos.built_on_dev("First feature", "Broken feature", deployed=False)
    repos.deployed(second, "dev")

    out = repos.ok("summary", "--env", "dev", "--commit", first)

    assert "Commits taken out (1)" in out and "Broken feature" in out
    assert "Commits deployed" not in out
    assert f"+  image: {repos.images(first)['app']}" in out


def test_summary_across_a_hotfix_lists_both_sides(repos):
    hotfix = repos.built("main", "Hotfix on main", deployed_to="production")
    feature = repos.built("dev", "Add activity export")

    out = repos.ok("summary", "--env", "production", "--commit", feature)

    assert "Commits deployed (1)" in out and "Add activity export" in out
    assert "Commits taken out (1)" in out and "Hotfix on main" in out
    assert git(repos.origin, "rev-parse", "refs/heads/main") == hotfix


def test_summary_needs_digests(repos):
    feature = repos.commit_on("dev", "Add activity export")

    assert "no image digests recorded" in repos.refused("summary", "--env", "staging", "--commit", feature)
