"""The workflows call scripts/promote and the chart the way those really work."""

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from conftest import SCRIPTS

sys.path.insert(0, str(SCRIPTS))

from promote_lib.cli import parser  # noqa: E402

REPO = SCRIPTS.parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
PINNED_BY_SHA = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# Actions allowed to stay on a major tag because no commit SHA for their release could be
# verified (see the table in docs/promotion.md). Empty: every action is pinned by SHA; add
# one here only with that reason, and remove it when pinning it.
TAG_PINNED_UNTIL_VERIFIED: set[str] = set()


def _workflow(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _run_scripts(path: Path) -> list[str]:
    scripts = []
    for job in _workflow(path)["jobs"].values():
        for step in job.get("steps", []):
            if "run" in step:
                scripts.append(step["run"].replace("\\\n", " "))
    return scripts


def _promote_calls() -> list:
    calls = []
    for path in WORKFLOWS:
        for script in _run_scripts(path):
            for match in re.finditer(r"scripts/promote\s+([a-z-]+)([^\n|;>]*)", script):
                flags = re.findall(r"(--[a-z0-9-]+)", match[2])
                calls.append(pytest.param(path.name, match[1], flags, id=f"{path.name}:{match[1]}:{len(calls)}"))
    return calls


def _subcommands() -> dict:
    action = next(a for a in parser()._actions if a.dest == "command")
    return action.choices


def test_there_are_workflows_calling_the_promotion_logic():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "build.yml", "deploy.yml", "promote.yml", "rollback.yml", "backmerge.yml"}
    assert len(_promote_calls()) >= 10


@pytest.mark.parametrize(("workflow", "command", "flags"), _promote_calls())
def test_every_promote_call_uses_a_real_command_and_options(workflow, command, flags):
    commands = _subcommands()
    assert command in commands, f"{workflow}: scripts/promote has no command {command!r}"
    known = {option for action in commands[command]._actions for option in action.option_strings}
    assert set(flags) <= known, f"{workflow}: scripts/promote {command} has no option(s) {set(flags) - known}"


def _schema_has(schema: dict, path: list[str]) -> bool:
    for key in path:
        properties = schema.get("properties", {})
        if key not in properties:
            return False
        schema = properties[key]
    return True


def test_every_chart_value_the_workflows_set_exists_in_the_charts_schema():
    schema = json.loads((REPO / "charts" / "metricsapp-operator" / "values.schema.json").read_text())
    keys = {
        key
        for path in WORKFLOWS
        for script in _run_scripts(path)
        for key in re.findall(r"--set\s+([A-Za-z0-9_.]+)=", script)
    }
    assert keys, "no --set found: the test would prove nothing"
    unknown = sorted(key for key in keys if not _schema_has(schema, key.split(".")))
    assert not unknown, f"chart values not in values.schema.json: {unknown}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_has_least_privilege_permissions_and_a_timeout(path):
    workflow = _workflow(path)
    assert "permissions" in workflow, f"{path.name}: no workflow-level permissions"
    for name, job in workflow["jobs"].items():
        if "uses" in job:
            assert "permissions" in job, f"{path.name}: job {name} calls a workflow without permissions"
            continue
        assert "timeout-minutes" in job, f"{path.name}: job {name} has no timeout-minutes"
        assert "permissions" in job or workflow["permissions"] in ({}, {"contents": "read"}), (
            f"{path.name}: job {name} inherits broad permissions"
        )


def _uses_lines() -> list[tuple[str, str, str]]:
    action_files = WORKFLOWS + sorted((REPO / ".github" / "actions").glob("*/action.yml"))
    found = []
    for path in action_files:
        for match in re.finditer(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", path.read_text(), re.M):
            if not match[1].startswith("./"):
                found.append((path.name, match[1], match[2]))
    return found


def test_actions_are_pinned_by_full_commit_sha_with_their_release_beside_it():
    uses = _uses_lines()
    assert uses
    unpinned = sorted({u for _, u, _ in uses if not PINNED_BY_SHA.match(u) and u not in TAG_PINNED_UNTIL_VERIFIED})
    assert not unpinned, f"actions not pinned by commit SHA: {unpinned}"
    unlabelled = sorted({f"{f}: {u}" for f, u, rest in uses if PINNED_BY_SHA.match(u) and not re.match(r"\s+# v\d+\.\d+\.\d+$", rest)})
    assert not unlabelled, f"SHA pins without a `# vX.Y.Z` comment (Dependabot updates it): {unlabelled}"
    shas = {}
    for _, u, rest in uses:
        if PINNED_BY_SHA.match(u):
            shas.setdefault(u, set()).add(rest.strip())
    assert all(len(labels) == 1 for labels in shas.values()), f"one SHA, two releases: {shas}"


def test_no_called_workflow_inherits_every_secret():
    for path in WORKFLOWS:
        for name, job in _workflow(path)["jobs"].items():
            assert job.get("secrets") != "inherit", f"{path.name}: job {name} passes secrets: inherit"


def _pushes(job: dict) -> bool:
    scripts = " ".join(step.get("run", "") for step in job.get("steps", []))
    return "--push" in scripts


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_keep_no_credentials_unless_the_job_pushes(path):
    for name, job in _workflow(path)["jobs"].items():
        for step in job.get("steps", []):
            if not str(step.get("uses", "")).startswith("actions/checkout@"):
                continue
            persist = (step.get("with") or {}).get("persist-credentials", True)
            if _pushes(job):
                assert persist is not False, f"{path.name}: job {name} pushes but drops its credentials"
            else:
                assert persist is False, f"{path.name}: job {name} pushes nothing: set persist-credentials: false"


def test_deploys_never_cancel_and_are_grouped_per_environment():
    job = _workflow(REPO / ".github" / "workflows" / "deploy.yml")["jobs"]["deploy"]
    assert job["concurrency"] == {"group": "deploy-${{ inputs.environment }}", "cancel-in-progress": False}
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["permissions"]["id-token"] == "write"


def test_the_promotion_guide_covers_every_workflow_and_command():
    guide = (REPO / "docs" / "promotion.md").read_text()
    missing = [p.name for p in WORKFLOWS if p.name not in guide]
    missing += [f"scripts/promote {c}" for c in _subcommands() if f"scripts/promote {c}" not in guide and f"`{c}`" not in guide]
    assert not missing, f"docs/promotion.md does not mention: {missing}"
