"""The markdown that shows a reviewer what a deployment to an environment changes."""

import difflib

from . import records
from .environments import Environment
from .errors import PromotionError
from .git import Commit, Git
from .render import render_metricsapp


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _commit_table(commits: list[Commit]) -> list[str]:
    lines = ["| commit | author | subject |", "| --- | --- | --- |"]
    lines += [f"| `{c.short}` | {_cell(c.author)} | {_cell(c.subject)} |" for c in commits]
    return lines


def _diff(before: str | None, after: str | None, path: str, label_before: str, label_after: str) -> list[str]:
    if before == after:
        return ["_no change_"]
    diff = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile=f"{path} @ {label_before}",
        tofile=f"{path} @ {label_after}",
    )
    body = "".join(line if line.endswith("\n") else line + "\n" for line in diff)
    return ["```diff", body.rstrip("\n"), "```"]


def _deployed_metricsapp(git: Git, env: Environment, commit: str | None) -> tuple[str | None, str]:
    """The MetricsApp `env` gets at `commit` (image pinned when its digests are known)."""
    if commit is None:
        return None, "(nothing deployed yet)"
    text = git.file_at(commit, env.metricsapp_path)
    if text is None:
        return None, f"{commit[:12]} (no {env.metricsapp_path})"
    digests = records.read_digests(git, commit)
    if digests is None:
        return text, f"{commit[:12]} (no digests recorded: shown as written)"
    return render_metricsapp(text, digests.images["app"], {}, f"{env.metricsapp_path}@{commit[:12]}"), commit[:12]


def deployment_summary(git: Git, env: Environment, commit: str, base: str | None = None) -> str:
    """What deploying `commit` to `env` changes compared with `base` (default: the env's branch tip)."""
    target = git.commit(commit)
    base = git.commit(base) if base else git.branch_tip(env.branch)
    digests = records.require_digests(git, target)
    lines = [f"## Deploy `{target[:12]}` to {env.name} (branch `{env.branch}`)", ""]
    if base is None:
        lines += [f"`{env.branch}` does not exist yet: this is the first deployment.", ""]
        commits = git.commits_between(None, target)
        heading = f"### Commits ({len(commits)})"
    elif base == target:
        commits = []
        heading = f"### Commits\n\n`{env.branch}` is already at `{target[:12]}`: this redeploys it."
    elif git.is_ancestor(base, target):
        commits = git.commits_between(base, target)
        heading = f"### Commits promoted ({len(commits)}, `{base[:12]}..{target[:12]}`)"
    elif git.is_ancestor(target, base):
        commits = git.commits_between(target, base)
        heading = f"### Commits rolled back ({len(commits)}, `{target[:12]}..{base[:12]}`)"
    else:
        raise PromotionError(f"{target[:12]} and {env.branch} ({base[:12]}) have diverged: neither contains the other")
    lines += [heading, ""]
    if commits:
        lines += _commit_table(commits) + [""]
    lines += ["### Images (built once, pinned by digest)", "", "| image | reference |", "| --- | --- |"]
    lines += [f"| {name} | `{ref}` |" for name, ref in sorted(digests.images.items())]
    if digests.run_url:
        lines += ["", f"Built by {digests.run_url}"]
    before, before_label = _deployed_metricsapp(git, env, base)
    after, after_label = _deployed_metricsapp(git, env, target)
    lines += ["", f"### MetricsApp (`{env.metricsapp_path}`, as applied)", ""]
    lines += _diff(before, after, env.metricsapp_path, before_label, after_label)
    lines += ["", f"### Operator chart values (`{env.values_path}`)", ""]
    lines += _diff(
        git.file_at(base, env.values_path) if base else None,
        git.file_at(target, env.values_path),
        env.values_path,
        base[:12] if base else "(none)",
        target[:12],
    )
    if base:
        stat = git.out("diff", "--stat", base, target, "--", "charts", "crds")
        lines += ["", "### Chart and CRD files changed", ""]
        lines += (["```", stat, "```"] if stat else ["_no change_"])
    return "\n".join(lines) + "\n"
