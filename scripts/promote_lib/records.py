"""Durable records kept as git notes on the commit they describe, pushed to the remote.

- `refs/notes/digests`: what the build workflow produced for a commit, written once
  when it is built and read by every later environment: the image digests and the
  Lambda zips (S3 bucket, content-addressed key and the zip's sha256).
- `refs/notes/deployments/<environment>`: one line per deployment of a commit to an
  environment and its result, written by the deploy workflow.

Notes survive as long as the repository (workflow artifacts expire) and any clone can
look them up by commit with no GitHub API. Each record is one line of JSON, so two
writers racing on a notes ref merge cleanly with git's `cat_sort_uniq` strategy.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
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
# `CodeSha256` as Lambda reports it: the base64 of the zip's SHA-256.
CODE_SHA256 = re.compile(r"^[A-Za-z0-9+/]{43}=$")
ARCHITECTURES = ("x86_64", "arm64")
FUNCTION_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FUNCTION_ZIP = re.compile(r"^(?P<name>[^/=]+)/(?P<arch>[^=]+)=s3://(?P<bucket>[^/]+)/(?P<key>[^#]+)#(?P<sha256>.+)$")
PUSH_ATTEMPTS = 5


def deployments_ref(env: Environment) -> str:
    return f"refs/notes/deployments/{env.name}"


@dataclass(frozen=True)
class FunctionZip:
    """One Lambda zip the build uploaded: where it is and the `CodeSha256` Lambda will report."""

    bucket: str
    key: str
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key, "sha256": self.sha256}


def function_key(name: str, arch: str, sha256: str) -> str:
    """The S3 key a zip is uploaded under: its content's SHA-256 (hex), so a key never changes meaning."""
    if not FUNCTION_NAME.match(name):
        raise PromotionError(f"function name {name!r}: expected lower-case letters, digits and dashes")
    if arch not in ARCHITECTURES:
        raise PromotionError(f"architecture {arch!r}: expected one of {', '.join(ARCHITECTURES)}")
    if not CODE_SHA256.match(sha256):
        raise PromotionError(f"sha256 {sha256!r}: expected the base64 SHA-256 of the zip (44 characters ending in '=')")
    try:
        digest = base64.b64decode(sha256, validate=True)
    except binascii.Error as err:
        raise PromotionError(f"sha256 {sha256!r}: not base64 ({err})") from err
    return f"functions/{name}/{arch}/{digest.hex()}.zip"


@dataclass(frozen=True)
class Digests:
    """What was built for one commit: images pinned by digest (`repository@sha256:...`) and
    Lambda zips keyed `"<function>/<architecture>"`."""

    commit: str
    images: dict[str, str]
    run_url: str | None = None
    functions: dict[str, FunctionZip] = field(default_factory=dict)

    def digest(self, image: str) -> str:
        return IMAGE_BY_DIGEST.match(self.images[image]).group("digest")

    def artifacts(self) -> dict:
        """Everything built, as one comparable JSON object (two builds of a commit must agree)."""
        body: dict = {"images": self.images}
        if self.functions:
            body["functions"] = {name: zip_.to_json() for name, zip_ in sorted(self.functions.items())}
        return body

    def to_line(self) -> str:
        body = {"commit": self.commit, **self.artifacts()}
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
    # Why a deployment failed, as the MetricsApp's Ready condition said (e.g. `RolledBack`).
    reason: str | None = None

    def to_line(self) -> str:
        body = {"at": self.at, "commit": self.commit, "environment": self.environment, "result": self.result}
        if self.run_url:
            body["run_url"] = self.run_url
        if self.reason:
            body["reason"] = self.reason
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


def parse_functions(pairs: list[str]) -> dict[str, FunctionZip]:
    """`--function NAME/ARCH=s3://BUCKET/KEY#SHA256` arguments, by `NAME/ARCH`."""
    functions: dict[str, FunctionZip] = {}
    for pair in pairs:
        match = FUNCTION_ZIP.match(pair)
        if not match:
            raise PromotionError(f"--function {pair!r}: expected NAME/ARCH=s3://BUCKET/KEY#SHA256")
        expected_key = function_key(match["name"], match["arch"], match["sha256"])
        if match["key"] != expected_key:
            raise PromotionError(f"--function {pair!r}: the key must be the zip's content address {expected_key}")
        name = f"{match['name']}/{match['arch']}"
        if name in functions:
            raise PromotionError(f"--function {name} given twice")
        functions[name] = FunctionZip(match["bucket"], match["key"], match["sha256"])
    return functions


def _functions_of(body: dict, commit: str, line: str) -> dict[str, FunctionZip]:
    raw = body.get("functions", {})
    if not isinstance(raw, dict):
        raise PromotionError(f"{DIGESTS_REF} note on {commit[:12]}: `functions` is not an object: {line!r}")
    functions = {}
    for name, zip_ in raw.items():
        if not isinstance(zip_, dict) or not all(isinstance(zip_.get(k), str) for k in ("bucket", "key", "sha256")):
            raise PromotionError(f"{DIGESTS_REF} note on {commit[:12]}: function {name!r} lacks bucket, key or sha256: {line!r}")
        if not CODE_SHA256.match(zip_["sha256"]):
            raise PromotionError(f"{DIGESTS_REF} note on {commit[:12]}: function {name!r} has no valid sha256: {line!r}")
        functions[name] = FunctionZip(zip_["bucket"], zip_["key"], zip_["sha256"])
    return functions


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
    """What was recorded as built for `commit`, None when nothing was."""
    found: list[Digests] = []
    for line in _note_lines(git, DIGESTS_REF, commit):
        body = _parse(line, DIGESTS_REF, commit)
        images = body.get("images")
        if not isinstance(images, dict) or any(
            not isinstance(images.get(name), str) or not IMAGE_BY_DIGEST.match(images[name]) for name in REQUIRED_IMAGES
        ):
            raise PromotionError(f"{DIGESTS_REF} note on {commit[:12]} lacks pinned images for {', '.join(REQUIRED_IMAGES)}: {line!r}")
        found.append(Digests(commit, images, body.get("run_url"), _functions_of(body, commit, line)))
    if not found:
        return None
    distinct = {json.dumps(digests.artifacts(), sort_keys=True) for digests in found}
    if len(distinct) > 1:
        raise PromotionError(
            f"commit {commit[:12]} has {len(distinct)} conflicting digest records in {DIGESTS_REF}; "
            "remove the wrong one with `git notes --ref=digests edit` and push it"
        )
    return min(found, key=lambda digests: digests.run_url or "")


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
    return Deployment(
        at=body["at"],
        commit=commit,
        environment=env.name,
        result=body["result"],
        run_url=body.get("run_url"),
        reason=body.get("reason"),
    )


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
        if existing.artifacts() != digests.artifacts():
            raise PromotionError(
                f"commit {digests.commit[:12]} already has different digests recorded "
                f"({json.dumps(existing.artifacts(), sort_keys=True)}); a commit is built once"
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
