"""Fixtures: real git repositories in a temporary directory (a bare origin and clones)."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1]
PROMOTE = SCRIPTS / "promote"

METRICSAPP = """\
---
# {env}: the MetricsApp the deploy workflow applies
apiVersion: metricsapp.dev/v1alpha1
kind: MetricsApp
metadata:
  name: metrics-app
spec:
  # replaced by the pinned digest on deploy
  image: ghcr.io/metricsapp/metrics-app:0.1.0
  replicas: {replicas}
  table:
    name: metricsapp-{env}
"""

VALUES = "replicaCount: 1\nlogFormat: json\n"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout.strip()


def fake_digest(commit: str, image: str) -> str:
    """A well-formed digest that differs per commit and image (what a registry returns)."""
    return "sha256:" + hashlib.sha256(f"{commit}/{image}".encode()).hexdigest()


class Repos:
    """An origin with the environment branches, a developer clone and a CI clone."""

    def __init__(self, root: Path):
        self.origin = root / "origin.git"
        self.dev = root / "developer"
        self.ci = root / "ci"
        git(root, "init", "--quiet", "--bare", "--initial-branch=dev", str(self.origin))
        git(root, "clone", "--quiet", str(self.origin), str(self.dev))
        for env, replicas in (("dev", 1), ("staging", 2), ("prod", 3)):
            self.write(f"examples/{env}/metricsapp.yaml", METRICSAPP.format(env=env, replicas=replicas))
            self.write(f"examples/{env}/values.yaml", VALUES)
        self.write("charts/metricsapp-operator/Chart.yaml", "name: metricsapp-operator\nversion: 0.1.0\n")
        git(self.dev, "add", ".")
        git(self.dev, "commit", "--quiet", "-m", "Initial release")
        self.initial = git(self.dev, "rev-parse", "HEAD")
        for branch in ("dev", "staging", "main"):
            git(self.dev, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
        git(root, "clone", "--quiet", str(self.origin), str(self.ci))

    def write(self, path: str, text: str) -> None:
        target = self.dev / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit_on(self, branch: str, subject: str, files: dict[str, str] | None = None, base: str | None = None) -> str:
        """Commits on top of the origin's `branch` (or `base`) and pushes it; returns the commit."""
        git(self.dev, "fetch", "--quiet", "origin")
        git(self.dev, "checkout", "--quiet", "-B", branch, f"origin/{base or branch}")
        for path, text in (files or {f"notes/{subject}.txt": subject}).items():
            self.write(path, text)
        git(self.dev, "add", ".")
        git(self.dev, "commit", "--quiet", "-m", subject)
        git(self.dev, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
        return git(self.dev, "rev-parse", "HEAD")

    def tip(self, branch: str) -> str:
        return git(self.origin, "rev-parse", f"refs/heads/{branch}")

    def promote(self, *args: str, repo: Path | None = None, fetch: bool = True) -> subprocess.CompletedProcess:
        """Runs scripts/promote in the CI clone (after fetching, as the workflows do)."""
        command = [sys.executable, str(PROMOTE), *(["--fetch"] if fetch else []), *args]
        return subprocess.run(command, cwd=repo or self.ci, capture_output=True, text=True, env={**os.environ, **GIT_ENV})

    def ok(self, *args: str, **kwargs) -> str:
        proc = self.promote(*args, **kwargs)
        assert proc.returncode == 0, f"promote {' '.join(args)} failed:\n{proc.stderr}"
        return proc.stdout

    def refused(self, *args: str, **kwargs) -> str:
        proc = self.promote(*args, **kwargs)
        assert proc.returncode == 1, f"promote {' '.join(args)} should have been refused:\n{proc.stdout}{proc.stderr}"
        assert "error:" in proc.stderr
        return proc.stderr

    def images(self, commit: str) -> dict[str, str]:
        return {
            "operator": f"ghcr.io/metricsapp/metricsapp-operator@{fake_digest(commit, 'operator')}",
            "app": f"ghcr.io/metricsapp/metrics-app@{fake_digest(commit, 'app')}",
        }

    def build(self, commit: str, repo: Path | None = None) -> None:
        """What the build workflow does after pushing both images."""
        images = self.images(commit)
        self.ok(
            "record-digests",
            "--commit", commit,
            "--image", f"operator={images['operator']}",
            "--image", f"app={images['app']}",
            "--run-url", "https://github.com/metricsapp/metricsapp/actions/runs/1",
            "--push",
            repo=repo,
        )

    def deployed(self, commit: str, env: str, result: str = "success") -> None:
        """What the deploy workflow records when it ends."""
        self.ok("record-deployment", "--commit", commit, "--env", env, "--result", result, "--push")

    def built(self, branch: str, subject: str, deployed_to: str | None = None) -> str:
        """Commits `subject` on `branch` and builds it, and records its successful deployment
        to `deployed_to` when given; returns the commit."""
        commit = self.commit_on(branch, subject)
        self.build(commit)
        if deployed_to:
            self.deployed(commit, deployed_to)
        return commit

    def built_on_dev(self, *subjects: str, deployed: bool = True) -> list[str]:
        """Commits each subject on dev and builds it, and (unless told otherwise) records its
        successful deployment to dev; returns the commits in order."""
        commits = [self.commit_on("dev", subject) for subject in subjects]
        for commit in commits:
            self.build(commit)
            if deployed:
                self.deployed(commit, "dev")
        return commits


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    return Repos(tmp_path)
