"""Durable records kept as git notes on the commit they describe, pushed to the remote.

- `refs/notes/digests`: the image digests the build workflow produced for a commit
  (written once, when `dev` builds it; every later environment reads them).
- `refs/notes/deployments/<environment>`: one line per deployment of a commit to an
  environment and its result, written by the deploy workflow.

Notes survive as long as the repository (workflow artifacts expire) and any clone can
look them up by commit with no GitHub API. Each record is one line of JSON, so two
writers racing on a notes ref merge cleanly with git's `cat_sort_uniq` strategy.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .environments import Environment
from .errors import PromotionError
from .git import Git

DIGESTS_REF = "refs/notes/digests"
REQUIRED_IMAGES = ("operator", "app")
IMAGE_REPOSITORIES = {
    "operator": "ghcr.io/metricsapp/metricsapp-operator",
    "app": "ghcr.io/metricsapp/metrics-app",
}
IMAGE_BY_DIGEST = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9._/:-]*)@(?P<digest>sha256:[0-9a-f]{64})$")
RESULTS = ("success", "failure")
PUSH_ATTEMPTS = 5


def deployments_ref(env: Environment) -> str:
    return f"refs/notes/deployments/{env.name}"


@dataclass(frozen=True)
class Digests:
    """The images built for one commit, each pinned by digest (`repository@sha256:...`)."""

    commit: str
    images: dict[str, str]
    run_url: str | None = None

    def digest(self, image: str) -> str:
        return IMAGE_BY_DIGEST.match(self.images[image]).group("digest")

    def to_line(self) -> str:
        body = {"commit": self.commit, "images": self.images}
        if self.run_url:
            body["run_url"] = self.run_url
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Deployment:
    """One deployment of a commit to an environment, and how it ended."""

    at: str
    commit: str
    environment: str
    result: str
    run_url: str | None = None

    def to_line(self) -> str:
        body = {"at": self.at, "commit": self.commit, "environment": self.environment, "result": self.result}
        if self.run_url:
            body["run_url"] = self.run_url
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


def parse_images(pairs: list[str]) -> dict[str, str]:
    """`["operator=ghcr.io/...@sha256:...", ...]` as a dict; errors name the bad entry."""
    images: dict[str, str] = {}
    for pair in pairs:
        name, sep, ref = pair.partition("=")
        if not sep or not name:
            raise PromotionError(f"--image {pair!r}: expected NAME=REPOSITORY@sha256:DIGEST")
        if name not in REQUIRED_IMAGES:
            raise PromotionError(f"--image {pair!r}: unknown image {name!r} (expected one of {', '.join(REQUIRED_IMAGES)})")
        if not IMAGE_BY_DIGEST.match(ref):
            raise PromotionError(f"--image {pair!r}: {ref!r} is not pinned by digest (REPOSITORY@sha256:<64 hex>)")
        if name in images:
            raise PromotionError(f"--image {name} given twice")
        images[name] = ref
    missing = [name for name in REQUIRED_IMAGES if name not in images]
    if missing:
        raise PromotionError(f"missing --image for: {', '.join(missing)}")
    return images


def _note_lines(git: Git, ref: str, commit: str) -> list[str]:
    proc = git.run("notes", f"--ref={ref}", "show", commit, check=False)
    if proc.returncode != 0:
        return []
    return [line for line in proc.stdout.splitlines() if line.strip()]


def _parse(line: str, ref: str, commit: str) -> dict:
    try:
        body = json.loads(line)
    except json.JSONDecodeError as err:
        raise PromotionError(f"{ref} note on {commit[:12]} is not JSON: {line!r} ({err})") from err
    if not isinstance(body, dict):
        raise PromotionError(f"{ref} note on {commit[:12]} is not a JSON object: {line!r}")
    return body


def read_digests(git: Git, commit: str) -> Digests | None:
    """The digests recorded for `commit`, None when none were."""
    records = set()
    for line in _note_lines(git, DIGESTS_REF, commit):
        body = _parse(line, DIGESTS_REF, commit)
        images = body.get("images")
        if not isinstance(images, dict) or any(
            not isinstance(images.get(name), str) or not IMAGE_BY_DIGEST.match(images[name]) for name in REQUIRED_IMAGES
        ):
            raise PromotionError(f"{DIGESTS_REF} note on {commit[:12]} lacks pinned images for {', '.join(REQUIRED_IMAGES)}: {line!r}")
        records.add((json.dumps(images, sort_keys=True), body.get("run_url")))
    if not records:
        return None
    distinct_images = {images for images, _ in records}
    if len(distinct_images) > 1:
        raise PromotionError(
            f"commit {commit[:12]} has {len(distinct_images)} conflicting digest records in {DIGESTS_REF}; "
            "remove the wrong one with `git notes --ref=digests edit` and push it"
        )
    images, run_url = sorted(records, key=lambda record: record[1] or "")[0]
    return Digests(commit=commit, images=json.loads(images), run_url=run_url)


def require_digests(git: Git, commit: str) -> Digests:
    digests = read_digests(git, commit)
    if digests is None:
        raise PromotionError(
            f"no image digests recorded for commit {commit[:12]} ({DIGESTS_REF}); "
            "only commits built by the build workflow on dev can be deployed (did you fetch the notes?)"
        )
    return digests


def _deployment(line: str, env: Environment, commit: str) -> Deployment:
    ref = deployments_ref(env)
    body = _parse(line, ref, commit)
    if body.get("result") not in RESULTS or not isinstance(body.get("at"), str):
        raise PromotionError(f"{ref} note on {commit[:12]} has no valid result/at: {line!r}")
    return Deployment(at=body["at"], commit=commit, environment=env.name, result=body["result"], run_url=body.get("run_url"))


def read_deployments(git: Git, env: Environment, commit: str) -> list[Deployment]:
    """Deployments of `commit` to `env`, oldest first."""
    deployments = [_deployment(line, env, commit) for line in _note_lines(git, deployments_ref(env), commit)]
    return sorted(deployments, key=lambda deployment: deployment.at)


def last_deployment(git: Git, env: Environment, result: str | None = None) -> Deployment | None:
    """The most recent deployment to `env` of any commit (only those ending in `result`, if given)."""
    listing = git.run("notes", f"--ref={deployments_ref(env)}", "list", check=False)
    if listing.returncode != 0:
        return None
    pairs = [line.split() for line in listing.stdout.splitlines() if line.strip()]
    deployments = [
        _deployment(line, env, commit)
        for (_, commit), body in zip(pairs, git.read_blobs([blob for blob, _ in pairs]))
        for line in body.splitlines()
        if line.strip()
    ]
    matching = [d for d in deployments if result is None or d.result == result]
    return max(matching, key=lambda deployment: deployment.at, default=None)


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sync_from_remote(git: Git, ref: str) -> None:
    """Brings the remote's notes for `ref` into the local ref, keeping local-only notes."""
    tracking = ref.replace("refs/notes/", "refs/promote-remote/notes/", 1)
    proc = git.run("fetch", git.remote, f"+{ref}:{tracking}", check=False)
    if proc.returncode != 0:
        if "couldn't find remote ref" in proc.stderr:
            return
        raise PromotionError(f"cannot fetch {ref} from {git.remote}: {proc.stderr.strip()}")
    if git.resolve_ref(ref) is None:
        git.run("update-ref", ref, tracking)
    else:
        git.run("notes", f"--ref={ref}", "merge", "--strategy=cat_sort_uniq", "--quiet", tracking)


def _push(git: Git, ref: str) -> None:
    """Pushes `ref`; when another writer got there first, merges theirs and retries."""
    for _ in range(PUSH_ATTEMPTS):
        proc = git.run("push", git.remote, f"{ref}:{ref}", check=False)
        if proc.returncode == 0:
            return
        if "rejected" not in proc.stderr and "failed to update ref" not in proc.stderr:
            raise PromotionError(f"cannot push {ref} to {git.remote}: {proc.stderr.strip()}")
        _sync_from_remote(git, ref)
    raise PromotionError(f"cannot push {ref} to {git.remote}: still rejected after {PUSH_ATTEMPTS} attempts")


def record_digests(git: Git, digests: Digests, push: bool) -> bool:
    """Stores `digests` for their commit; False when the same record was already there."""
    if push:
        _sync_from_remote(git, DIGESTS_REF)
    existing = read_digests(git, digests.commit)
    if existing is not None:
        if existing.images != digests.images:
            raise PromotionError(
                f"commit {digests.commit[:12]} already has different digests recorded "
                f"({json.dumps(existing.images, sort_keys=True)}); a commit is built once"
            )
        return False
    git.run("notes", f"--ref={DIGESTS_REF}", "add", "-m", digests.to_line(), digests.commit)
    if push:
        _push(git, DIGESTS_REF)
    return True


def record_deployment(git: Git, env: Environment, deployment: Deployment, push: bool) -> None:
    """Appends `deployment` to the commit's record for `env`."""
    ref = deployments_ref(env)
    if push:
        _sync_from_remote(git, ref)
    git.run("notes", f"--ref={ref}", "append", "-m", deployment.to_line(), deployment.commit)
    if push:
        _push(git, ref)
