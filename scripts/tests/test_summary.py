"""The markdown summary reviewers see before approving a promotion."""


def test_summary_lists_the_commits_being_promoted_and_their_digests(repos):
    first = repos.commit_on("dev", "Add activity export")
    second = repos.commit_on(
        "dev",
        "Run three staging replicas",
        {"examples/staging/metricsapp.yaml": (repos.dev / "examples/staging/metricsapp.yaml").read_text().replace("replicas: 2", "replicas: 3")},
    )
    repos.build(second)

    out = repos.ok("summary", "--env", "staging", "--commit", second)

    assert "Commits promoted (2" in out
    assert "Add activity export" in out and "Run three staging replicas" in out
    assert "Initial release" not in out
    assert first[:7] in out and second[:7] in out
    assert repos.images(second)["app"] in out and repos.images(second)["operator"] in out
    assert "-  replicas: 2" in out and "+  replicas: 3" in out
    assert f"+  image: {repos.images(second)['app']}" in out
    assert "-  image: ghcr.io/metricsapp/metrics-app:0.1.0" in out


def test_summary_compares_pinned_images_when_both_commits_were_built(repos):
    first = repos.commit_on("dev", "First feature")
    second = repos.commit_on("dev", "Second feature")
    for commit in (first, second):
        repos.build(commit)
        repos.deployed(commit, "dev")
    repos.ok("promote", "--to", "staging", "--commit", first, "--push")

    out = repos.ok("summary", "--env", "staging", "--commit", second)

    assert "Commits promoted (1" in out and "Second feature" in out and "First feature" not in out
    assert f"-  image: {repos.images(first)['app']}" in out
    assert f"+  image: {repos.images(second)['app']}" in out
    assert "Operator chart values" in out and "_no change_" in out


def test_summary_of_a_rollback_lists_the_commits_taken_out(repos):
    first = repos.commit_on("dev", "First feature")
    second = repos.commit_on("dev", "Broken feature")
    for commit in (first, second):
        repos.build(commit)

    out = repos.ok("summary", "--env", "dev", "--commit", first)

    assert "Commits rolled back (1" in out and "Broken feature" in out
    assert f"+  image: {repos.images(first)['app']}" in out


def test_summary_needs_digests(repos):
    feature = repos.commit_on("dev", "Add activity export")

    assert "no image digests recorded" in repos.refused("summary", "--env", "staging", "--commit", feature)
