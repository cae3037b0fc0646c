"""The environments, the branch that holds each one and the environment below it."""

from dataclasses import dataclass

from .errors import PromotionError


@dataclass(frozen=True)
class Environment:
    """One deployment environment (a GitHub Environment of the same name)."""

    name: str
    branch: str
    examples_dir: str
    lower: str | None

    @property
    def metricsapp_path(self) -> str:
        return f"examples/{self.examples_dir}/metricsapp.yaml"

    @property
    def values_path(self) -> str:
        return f"examples/{self.examples_dir}/values.yaml"

    @property
    def namespace(self) -> str:
        """Where the environment's MetricsApp lives (as examples/<env>/metricsapp.yaml say)."""
        return f"metricsapp-{self.examples_dir}"


ENVIRONMENTS = {
    "dev": Environment("dev", branch="dev", examples_dir="dev", lower=None),
    "staging": Environment("staging", branch="staging", examples_dir="staging", lower="dev"),
    "production": Environment("production", branch="main", examples_dir="prod", lower="staging"),
}

# Names people naturally type for production: its branch and its examples directory.
ALIASES = {"prod": "production", "main": "production"}


def environment(name: str) -> Environment:
    """The environment called `name` (or one of its aliases)."""
    key = ALIASES.get(name, name)
    try:
        return ENVIRONMENTS[key]
    except KeyError:
        known = ", ".join(ENVIRONMENTS)
        raise PromotionError(f"unknown environment {name!r} (known: {known})") from None


def environment_of_branch(branch: str) -> Environment:
    """The environment that the branch `branch` holds."""
    for env in ENVIRONMENTS.values():
        if env.branch == branch:
            return env
    known = ", ".join(env.branch for env in ENVIRONMENTS.values())
    raise PromotionError(f"branch {branch!r} holds no environment (environment branches: {known})")


def lowest() -> Environment:
    """The environment every change enters first (dev)."""
    return next(env for env in ENVIRONMENTS.values() if env.lower is None)
