"""The markdown that shows a reviewer what a deployment to an environment changes."""

import difflib

from . import records
from .environments import Environment
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
    source = f"{env.metricsapp_path}@{commit[:12]}"
    return render_metricsapp(text, digests.images["app"], {}, source, digests.functions), commit[:12]


def _baseline(git: Git, env: Environment, base: str | None) -> tuple[str | None, str]:
    """What to compare with, and how to describe it: by default what `env` last ran successfully."""
    if base:
        sha = git.commit(base)
        return sha, f"`{sha[:12]}` (as asked)"
    last = records.last_deployment(git, env, "success")
    if last is not None:
        return last.commit, f"`{last.commit[:12]}`, the last successful deployment to {env.name} ({last.at})"
    tip = git.branch_tip(env.branch)
    if tip is not None:
        return tip, f"`{tip[:12]}`, the tip of `{env.branch}` (no deployment to {env.name} recorded)"
    return None, f"nothing: `{env.branch}` does not exist and no deployment to {env.name} is recorded"


def deployment_summary(git: Git, env: Environment, commit: str, base: str | None = None) -> str:
    """What deploying `commit` to `env` changes compared with `base` (default: what `env` runs)."""
    target = git.commit(commit)
    digests = records.require_digests(git, target)
    base, base_description = _baseline(git, env, base)
    lines = [f"## Deploy `{target[:12]}` to {env.name} (branch `{env.branch}`)", "", f"Compared with {base_description}.", ""]
    added = git.commits_between(base, target)
    removed = git.commits_between(target, base) if base else []
    if not added and not removed:
        lines += [f"Same commit as {env.name} runs: this redeploys it.", ""]
    if added:
        lines += [f"### Commits deployed ({len(added)})", "", *_commit_table(added), ""]
    if removed:
        lines += [f"### Commits taken out ({len(removed)})", "", *_commit_table(removed), ""]

    before_digests = records.read_digests(git, base) if base else None
    lines += [
        "### Images (built once, pinned by digest)",
        "",
        "| image | deployed by this run | before |",
        "| --- | --- | --- |",
    ]
    for name, ref in sorted(digests.images.items()):
        now = before_digests.images.get(name) if before_digests else None
        lines.append(f"| {name} | `{ref}` | {'unchanged' if now == ref else f'`{now}`' if now else 'not recorded'} |")
    if digests.functions:
        lines += ["", "| function zip | CodeSha256 | before |", "| --- | --- | --- |"]
        for name, zip_ in sorted(digests.functions.items()):
            was = before_digests.functions.get(name) if before_digests else None
            before = "unchanged" if was == zip_ else f"`{was.sha256}`" if was else "not recorded"
            lines.append(f"| {name} | `{zip_.sha256}` | {before} |")
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
        lines += ["```", stat, "```"] if stat else ["_no change_"]
    return "\n".join(lines) + "\n"
