"""The promotion decisions, each a function of the repository's (fetched) state.

None of these writes anything: they answer "may this go ahead?" and raise a
PromotionError whose message says what is wrong and what to do about it.
"""

from dataclasses import dataclass

from . import records
from .environments import ENVIRONMENTS, Environment, environment, lowest
from .errors import PromotionError
from .git import Commit, Git

HOTFIX_HELP = "docs/promotion.md#hotfixes"


@dataclass(frozen=True)
class FastForward:
    """How the branch `branch` would move from `current` (None: not created yet) to `target`."""

    branch: str
    current: str | None
    target: str
    commits: list[Commit]

    @property
    def up_to_date(self) -> bool:
        return self.current == self.target


def _listing(commits: list[Commit], limit: int = 10) -> str:
    shown = [f"  {c.short} {c.subject} ({c.author})" for c in commits[:limit]]
    if len(commits) > limit:
        shown.append(f"  ... and {len(commits) - limit} more")
    return "\n".join(shown)


def check_fast_forward(git: Git, commit: str, branch: str) -> FastForward:
    """Refuses unless moving the remote's `branch` to `commit` is a fast-forward."""
    target = git.commit(commit)
    current = git.branch_tip(branch)
    if current is None:
        return FastForward(branch, None, target, git.commits_between(None, target))
    if not git.is_ancestor(current, target):
        missing = git.commits_between(target, current)
        if git.is_ancestor(target, current):
            raise PromotionError(
                f"{branch} ({current[:12]}) is ahead of {target[:12]}: promoting it would move {branch} "
                f"backwards; use the rollback workflow to redeploy an earlier commit"
            )
        raise PromotionError(
            f"{branch} ({current[:12]}) is not an ancestor of {target[:12]}: the branches have diverged. "
            f"{branch} has {len(missing)} commit(s) that {target[:12]} lacks:\n{_listing(missing)}\n"
            f"Merge {branch} down into {lowest().branch} (a hotfix back-merge, see {HOTFIX_HELP}) "
            f"and promote a commit that contains them."
        )
    return FastForward(branch, current, target, git.commits_between(current, target))


def check_green(git: Git, commit: str, env: Environment) -> records.Deployment:
    """The last deployment of `commit` to `env`; refuses unless it succeeded."""
    sha = git.commit(commit)
    deployments = records.read_deployments(git, env, sha)
    if not deployments:
        raise PromotionError(
            f"{env.name} is not green for {sha[:12]}: it was never deployed there "
            f"(no record in {records.deployments_ref(env)}; did you fetch the notes?)"
        )
    last = deployments[-1]
    if last.result != "success":
        where = f" ({last.run_url})" if last.run_url else ""
        raise PromotionError(
            f"{env.name} is not green for {sha[:12]}: its last deployment there at {last.at} ended in {last.result}{where}"
        )
    return last


@dataclass(frozen=True)
class Promotion:
    """A checked promotion of `commit` into `env`, with the digests it will deploy."""

    env: Environment
    fast_forward: FastForward
    digests: records.Digests


def check_promotion(git: Git, env: Environment, commit: str | None) -> Promotion:
    """Everything that must hold before `env`'s branch moves to `commit`.

    `commit` defaults to the tip of the lower environment's branch.
    """
    if env.lower is None:
        raise PromotionError(f"{env.name} is the first environment: commits reach it by a push to {env.branch}, not by promotion")
    lower = environment(env.lower)
    if commit is None:
        tip = git.branch_tip(lower.branch)
        if tip is None:
            raise PromotionError(f"branch {lower.branch} does not exist on {git.remote} (did you fetch?)")
        commit = tip
    sha = git.commit(commit)
    lower_tip = git.branch_tip(lower.branch)
    if lower_tip is None or not git.is_ancestor(sha, lower_tip):
        raise PromotionError(
            f"{sha[:12]} is not on {lower.branch}: only commits that went through {lower.name} can be promoted to {env.name}"
        )
    digests = records.require_digests(git, sha)
    check_green(git, sha, lower)
    fast_forward = check_fast_forward(git, sha, env.branch)
    return Promotion(env=env, fast_forward=fast_forward, digests=digests)


@dataclass(frozen=True)
class RollbackTarget:
    commit: str
    digests: records.Digests
    last_deployment: records.Deployment | None


def resolve_rollback(git: Git, env: Environment, commit: str) -> RollbackTarget:
    """The commit to redeploy to `env`: one in `env`'s history whose digests are recorded."""
    sha = git.resolve_commit(commit)
    if sha is None:
        raise PromotionError(f"rollback target {commit!r} is not a commit in this repository (did you fetch?)")
    tip = git.branch_tip(env.branch)
    if tip is None:
        raise PromotionError(f"branch {env.branch} does not exist on {git.remote} (did you fetch?)")
    if not git.is_ancestor(sha, tip):
        raise PromotionError(
            f"rollback target {sha[:12]} is not in the history of {env.branch} ({tip[:12]}): "
            f"{env.name} can only go back to a commit it has run before; promote new commits instead"
        )
    digests = records.require_digests(git, sha)
    deployments = records.read_deployments(git, env, sha)
    return RollbackTarget(commit=sha, digests=digests, last_deployment=deployments[-1] if deployments else None)


def check_backmerge(git: Git, candidate: str | None = None) -> None:
    """Refuses while a commit on a higher environment's branch is missing from the lowest one.

    A hotfix that lands on `staging` or `main` directly must be merged down into `dev`,
    or the next promotion from `dev` would not be a fast-forward and would drop it.
    `candidate` stands in for `dev`'s tip (a pull request's merge commit into `dev`).
    """
    base_env = lowest()
    base = git.commit(candidate) if candidate else git.branch_tip(base_env.branch)
    if base is None:
        raise PromotionError(f"branch {base_env.branch} does not exist on {git.remote} (did you fetch?)")
    problems = []
    for env in ENVIRONMENTS.values():
        if env is base_env:
            continue
        tip = git.branch_tip(env.branch)
        if tip is None:
            continue
        missing = git.commits_between(base, tip)
        if missing:
            problems.append(f"{env.branch} has {len(missing)} commit(s) not in {base_env.branch}:\n{_listing(missing)}")
    if problems:
        raise PromotionError(
            "\n".join(problems)
            + f"\nMerge them down into {base_env.branch} (git merge origin/<branch> on {base_env.branch}); see {HOTFIX_HELP}"
        )
