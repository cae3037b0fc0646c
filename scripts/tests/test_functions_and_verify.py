"""Lambda zips promoted by sha256 like images, and what makes a deployment verified."""

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PROMOTE, SCRIPTS, GIT_ENV

sys.path.insert(0, str(SCRIPTS))

from promote_lib.errors import PromotionError  # noqa: E402
from promote_lib.records import FunctionZip, function_key  # noqa: E402
from promote_lib.render import PinnedFunction, Rendered, render  # noqa: E402
from promote_lib.verify import State, verify  # noqa: E402

SHA_ARM = base64.b64encode(hashlib.sha256(b"rollup arm64").digest()).decode()
SHA_X86 = base64.b64encode(hashlib.sha256(b"rollup x86_64").digest()).decode()
BUCKET = "metricsapp-functions"
ZIPS = {
    "rollup/arm64": FunctionZip(BUCKET, function_key("rollup", "arm64", SHA_ARM), SHA_ARM),
    "rollup/x86_64": FunctionZip(BUCKET, function_key("rollup", "x86_64", SHA_X86), SHA_X86),
}
IMAGE = "ghcr.io/metricsapp/metrics-app@sha256:" + "ab" * 32

APP = """\
apiVersion: metricsapp.dev/v1alpha1
kind: MetricsApp
metadata:
  name: metrics-app
spec:
  image: ghcr.io/metricsapp/metrics-app:0.1.0
  functions:
    # the rollup function
    - name: rollup
      code:
        s3:
          bucket: metricsapp-functions
          key: rollup/bootstrap.zip
      architecture: arm64
      memoryMB: 256
    - name: form
      code:
        imageUri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/form@sha256:00
  replicas: 1
"""


def _spec(text: str) -> dict:
    return yaml.safe_load(text)["spec"]


def test_a_zips_key_is_its_content_address():
    digest = hashlib.sha256(b"rollup arm64").hexdigest()
    assert function_key("rollup", "arm64", SHA_ARM) == f"functions/rollup/arm64/{digest}.zip"
    with pytest.raises(PromotionError, match="base64 SHA-256"):
        function_key("rollup", "arm64", "not-a-sha")


def test_render_points_the_function_at_the_zip_for_its_architecture_and_leaves_the_rest():
    rendered = render(APP, IMAGE, {}, "app.yaml", ZIPS)

    spec = _spec(rendered.text)
    rollup, form = spec["functions"]
    assert rollup["code"] == {"s3": {"bucket": BUCKET, "key": ZIPS["rollup/arm64"].key}, "sha256": SHA_ARM}
    assert {k: v for k, v in rollup.items() if k != "code"} == {"name": "rollup", "architecture": "arm64", "memoryMB": 256}
    assert form == _spec(APP)["functions"][1]
    assert spec["image"] == IMAGE and spec["replicas"] == 1
    assert "# the rollup function" in rendered.text
    assert rendered.name == "metrics-app"
    assert rendered.functions == [PinnedFunction("rollup", "arm64", SHA_ARM)]


def test_render_defaults_to_x86_64_and_replaces_a_sha256_already_there():
    text = APP.replace("      architecture: arm64\n", "").replace(
        "          key: rollup/bootstrap.zip\n", "          key: rollup/bootstrap.zip\n        sha256: old\n"
    )
    rollup = _spec(render(text, IMAGE, {}, "app.yaml", ZIPS).text)["functions"][0]
    assert rollup["code"] == {"s3": {"bucket": BUCKET, "key": ZIPS["rollup/x86_64"].key}, "sha256": SHA_X86}


@pytest.mark.parametrize(
    ("edit", "zips", "message"),
    [
        (("bucket: metricsapp-functions", "bucket: elsewhere"), ZIPS, "the build uploaded the zip to 'metricsapp-functions'"),
        (("architecture: arm64", "architecture: arm64"), {"rollup/x86_64": ZIPS["rollup/x86_64"]}, "runs on arm64"),
        (("key: rollup/bootstrap.zip", "key: rollup/bootstrap.zip\n          objectVersion: v1"), ZIPS, "objectVersion"),
        (("    - name: rollup\n", "    - name: rollup\n      code: {s3: {bucket: b, key: k}}\n      x: y\n"), ZIPS, "block mapping"),
    ],
)
def test_render_refuses_what_it_cannot_pin_safely(edit, zips, message):
    text = APP.replace(*edit)
    if "code: {s3" in text:
        text = text.replace("      code:\n        s3:\n          bucket: metricsapp-functions\n          key: rollup/bootstrap.zip\n", "", 1)
    with pytest.raises(PromotionError, match=message):
        render(text, IMAGE, {}, "app.yaml", zips)


def test_a_function_the_build_made_no_zip_for_is_left_as_written():
    assert render(APP, IMAGE, {}, "app.yaml", {}).text == render(APP, IMAGE, {}, "app.yaml", None).text
    assert _spec(render(APP, IMAGE, {}, "app.yaml", {}).text)["functions"] == _spec(APP)["functions"]


EXPECTED = Rendered(text="", name="metrics-app", image=IMAGE, functions=[PinnedFunction("rollup", "arm64", SHA_ARM)])


def _live(generation=3, observed=3, ready=("True", "Ready"), image=IMAGE, code=SHA_ARM, terminal=None, ready_generation=None):
    conditions = []
    if ready:
        condition = {"type": "Ready", "status": ready[0], "reason": ready[1], "message": "m"}
        if ready_generation is not None:
            condition["observedGeneration"] = ready_generation
        conditions.append(condition)
    if terminal:
        conditions.append({"type": "Terminal", "status": "True", "reason": terminal, "message": "t"})
    return {
        "metadata": {"name": "metrics-app", "generation": generation},
        "status": {"observedGeneration": observed, "conditions": conditions, "image": image,
                   "functions": [{"name": "rollup", "codeSha256": code}]},
    }


@pytest.mark.parametrize(
    ("live", "state", "reason"),
    [
        (_live(), State.VERIFIED, None),
        (_live(observed=2), State.PENDING, None),
        (_live(ready_generation=2), State.PENDING, None),
        (_live(ready=None), State.PENDING, None),
        (_live(ready=("False", "Progressing")), State.PENDING, "Progressing"),
        (_live(ready=("False", "RolledBack")), State.FAILED, "RolledBack"),
        (_live(ready=("False", "RolloutFailed")), State.FAILED, "RolloutFailed"),
        (_live(terminal="AccessDenied"), State.FAILED, "AccessDenied"),
        (_live(image="ghcr.io/metricsapp/metrics-app@sha256:" + "cd" * 32), State.PENDING, None),
        (_live(code=SHA_X86), State.PENDING, None),
        (_live(generation=4, observed=4), State.FAILED, None),
    ],
    ids=["ready", "generation-not-observed", "ready-for-older-generation", "no-ready", "progressing", "rolled-back",
         "rollout-failed", "terminal", "other-image", "other-code", "spec-changed-since"],
)
def test_verified_only_when_ready_for_the_applied_generation_with_the_pinned_image_and_code(live, state, reason):
    verdict = verify(live, EXPECTED, applied_generation=3)
    assert verdict.state is state, verdict.message
    assert verdict.reason == reason


def _record_zips(repos, commit):
    images = repos.images(commit)
    repos.ok(
        "record-digests", "--commit", commit,
        "--image", f"operator={images['operator']}", "--image", f"app={images['app']}",
        "--function", f"rollup/arm64=s3://{BUCKET}/{ZIPS['rollup/arm64'].key}#{SHA_ARM}",
        "--function", f"rollup/x86_64=s3://{BUCKET}/{ZIPS['rollup/x86_64'].key}#{SHA_X86}",
        "--push",
    )


def test_the_zips_recorded_at_build_are_what_every_later_environment_renders(repos):
    commit = repos.commit_on("dev", "Rollup function", {"examples/staging/metricsapp.yaml": APP})
    _record_zips(repos, commit)

    record = json.loads(repos.ok("digests", "--commit", commit, repo=repos.dev))
    assert record["functions"]["rollup/arm64"] == {"bucket": BUCKET, "key": ZIPS["rollup/arm64"].key, "sha256": SHA_ARM}
    rendered = _spec(repos.ok("render-metricsapp", "--env", "staging", "--commit", commit))
    assert rendered["functions"][0]["code"]["sha256"] == SHA_ARM
    assert rendered["image"] == repos.images(commit)["app"]


def test_a_zip_under_a_key_that_is_not_its_content_address_is_refused(repos):
    commit = repos.commit_on("dev", "Rollup function")
    images = repos.images(commit)
    err = repos.refused(
        "record-digests", "--commit", commit,
        "--image", f"operator={images['operator']}", "--image", f"app={images['app']}",
        "--function", f"rollup/arm64=s3://{BUCKET}/rollup/latest.zip#{SHA_ARM}",
    )
    assert "content address" in err


def _fake_kubectl(tmp_path: Path, states: list[dict]) -> Path:
    """A kubectl that answers `get` with each state in turn, then the last one."""
    for i, state in enumerate(states):
        (tmp_path / f"state{i}.json").write_text(json.dumps(state))
    script = tmp_path / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        f'n=$(cat "{tmp_path}/count" 2>/dev/null || echo 0)\n'
        f'[ "$n" -lt {len(states) - 1} ] && echo $((n + 1)) >"{tmp_path}/count"\n'
        f'cat "{tmp_path}/state$n.json"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.mark.parametrize(
    ("states", "code", "said"),
    [
        ([_live(observed=2), _live(ready=("False", "Progressing")), _live()], 0, "verified metrics-app"),
        ([_live(observed=2), _live(ready=("False", "RolledBack"))], 1, "Ready=False, RolledBack"),
        ([_live(ready=("False", "Progressing"))], 1, "not verified within"),
    ],
    ids=["becomes-ready", "rolled-back", "times-out"],
)
def test_the_verify_command_reads_the_cluster_until_verified_failed_or_timed_out(repos, tmp_path, states, code, said):
    commit = repos.commit_on("dev", "Rollup function", {"examples/dev/metricsapp.yaml": APP})
    _record_zips(repos, commit)
    images = repos.images(commit)
    for state in states:
        state["status"]["image"] = images["app"] if state["status"]["image"] == IMAGE else state["status"]["image"]
    kubectl = _fake_kubectl(tmp_path, states)
    outputs = tmp_path / "github-output"

    proc = subprocess.run(
        [sys.executable, str(PROMOTE), "verify", "--env", "dev", "--commit", commit, "--namespace", "metricsapp-dev",
         "--generation", "3", "--timeout", "2", "--interval", "0.05", "--kubectl", str(kubectl),
         "--github-output", str(outputs)],
        cwd=repos.ci, capture_output=True, text=True, env={**os.environ, **GIT_ENV},
    )

    assert proc.returncode == code, proc.stderr
    assert said in proc.stdout + proc.stderr
    if "RolledBack" in said:
        assert "reason=RolledBack" in outputs.read_text()
