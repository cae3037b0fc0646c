"""Rendering an environment's MetricsApp with its image pinned by digest."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PROMOTE, SCRIPTS

sys.path.insert(0, str(SCRIPTS))

from promote_lib.errors import PromotionError  # noqa: E402
from promote_lib.render import render_metricsapp  # noqa: E402

REPO = SCRIPTS.parent
DIGEST = "sha256:" + "ab" * 32
PINNED = f"ghcr.io/metricsapp/metrics-app@{DIGEST}"


def _spec(text: str) -> dict:
    (doc,) = [d for d in yaml.safe_load_all(text) if d]
    return doc["spec"]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_projects_examples_render_with_only_the_image_changed(env):
    path = REPO / "examples" / env / "metricsapp.yaml"
    original = path.read_text()

    rendered = render_metricsapp(original, PINNED, {}, str(path))

    before, after = _spec(original), _spec(rendered)
    assert after["image"] == PINNED
    assert {k: v for k, v in after.items() if k != "image"} == {k: v for k, v in before.items() if k != "image"}


def test_the_command_pins_a_digest_of_the_app_repository():
    proc = subprocess.run(
        [sys.executable, str(PROMOTE), "render-metricsapp", "--env", "production", "--digest", DIGEST],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert _spec(proc.stdout)["image"] == PINNED


def test_a_digest_that_is_not_sha256_is_refused():
    proc = subprocess.run(
        [sys.executable, str(PROMOTE), "render-metricsapp", "--env", "dev", "--digest", "latest"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert "--digest 'latest': expected sha256:" in proc.stderr


def test_extra_env_is_appended_to_an_existing_list_and_comments_are_kept():
    text = """\
kind: MetricsApp
metadata:
  name: app
spec:
  image: old
  env:
    # first
    - name: A
      value: "1"
  replicas: 2
"""
    rendered = render_metricsapp(text, PINNED, {"AWS_ENDPOINT_URL": "http://moto:5000", "QUOTE": 'say "hi"'}, "t.yaml")

    spec = _spec(rendered)
    assert spec["env"] == [
        {"name": "A", "value": "1"},
        {"name": "AWS_ENDPOINT_URL", "value": "http://moto:5000"},
        {"name": "QUOTE", "value": 'say "hi"'},
    ]
    assert spec["replicas"] == 2
    assert "# first" in rendered


@pytest.mark.parametrize(
    "env_block",
    ["", "  env: []\n", "  env:\n", "  env:\n  - name: A\n    value: x\n"],
    ids=["absent", "empty-flow", "null", "same-indent-items"],
)
def test_extra_env_works_for_every_block_form(env_block):
    text = f"kind: MetricsApp\nspec:\n  image: old\n{env_block}  replicas: 1\nstatus: {{}}\n"

    spec = _spec(render_metricsapp(text, PINNED, {"B": "y"}, "t.yaml"))

    assert spec["env"][-1] == {"name": "B", "value": "y"}
    assert spec["image"] == PINNED and spec["replicas"] == 1


def test_a_missing_image_field_is_added():
    spec = _spec(render_metricsapp("kind: MetricsApp\nspec:\n  replicas: 1\n", PINNED, {}, "t.yaml"))
    assert spec == {"image": PINNED, "replicas": 1}


def test_other_documents_are_left_alone():
    text = "---\nkind: ConfigMap\ndata:\n  image: keep\n---\nkind: MetricsApp\nspec:\n  image: old\n"

    docs = list(yaml.safe_load_all(render_metricsapp(text, PINNED, {}, "t.yaml")))

    assert docs[0]["data"]["image"] == "keep"
    assert docs[1]["spec"]["image"] == PINNED


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("kind: Deployment\nspec: {}\n", {}, "no MetricsApp"),
        ("kind: MetricsApp\nmetadata:\n  name: x\n", {}, "no top-level `spec:`"),
        ("kind: MetricsApp\nspec: {image: a}\n", {}, "must be a block mapping"),
        ("kind: MetricsApp\nspec:\n  image: a\n  env: [{name: A, value: b}]\n", {"B": "c"}, "spec.env must be a block list"),
        ("kind: MetricsApp\nspec:\n  image: a\n  env:\n    - name: B\n      value: b\n", {"B": "c"}, "already sets B"),
        ("kind: MetricsApp\nspec:\n  image: a\n", {"1BAD": "c"}, "not a valid environment variable name"),
    ],
)
def test_unsupported_input_is_refused_with_the_reason(text, env, message):
    with pytest.raises(PromotionError, match=message):
        render_metricsapp(text, PINNED, env, "t.yaml")


def test_the_command_renders_a_commits_file_with_its_recorded_digest(repos):
    feature = repos.built("dev", "Add activity export")

    out = repos.ok("render-metricsapp", "--env", "staging", "--commit", feature, "--set-env", "X=1")

    spec = _spec(out)
    assert spec["image"] == repos.images(feature)["app"]
    assert spec["table"] == {"name": "metricsapp-staging"}
    assert spec["env"] == [{"name": "X", "value": "1"}]


def test_the_command_refuses_a_commit_without_digests(repos, tmp_path: Path):
    err = repos.refused("render-metricsapp", "--env", "dev", "--commit", repos.initial, "--output", str(tmp_path / "out.yaml"))
    assert "no image digests recorded" in err
    assert not (tmp_path / "out.yaml").exists()


def test_an_output_that_cannot_be_written_is_named(tmp_path: Path):
    target = tmp_path / "missing-dir" / "metricsapp.yaml"
    proc = subprocess.run(
        [sys.executable, str(PROMOTE), "render-metricsapp", "--env", "dev", "--digest", DIGEST, "--output", str(target)],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert f"cannot write {target}: No such file or directory" in proc.stderr
