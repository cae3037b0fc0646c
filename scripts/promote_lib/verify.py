"""Is a deployment verified? Read from the MetricsApp as the cluster reports it.

Verified means: the operator observed the applied generation, `Ready` is True for it, and
the status shows the pinned image and every pinned function's `CodeSha256`. `Ready=False`
with a reason the operator uses for a rollout it gave up on (`RolloutFailed`, or
`RolledBack` after it restored the last good image) fails at once, as does `Terminal=True`:
waiting longer would not change them. Anything else is pending until the timeout.
"""

from dataclasses import dataclass
from enum import Enum

from .render import Rendered

# Ready=False reasons that end a deployment: the operator stopped the rollout.
FAILED_ROLLOUT_REASONS = ("RolledBack", "RolloutFailed")


class State(Enum):
    """Where a deployment stands."""

    VERIFIED = "verified"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    state: State
    message: str
    # The Ready condition's reason, when the verdict comes from it (recorded with a failure).
    reason: str | None = None


def _condition(status: dict, kind: str) -> dict | None:
    return next((c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") == kind), None)


def verify(live: dict, expected: Rendered, applied_generation: int | None = None) -> Verdict:
    """The verdict on `live` (the MetricsApp object as the API server returns it)."""
    generation = (live.get("metadata") or {}).get("generation")
    status = live.get("status") or {}
    if applied_generation is not None and generation is not None and generation > applied_generation:
        return Verdict(
            State.FAILED,
            f"the spec was changed again after this deployment applied it (generation {generation}, applied {applied_generation})",
        )
    observed = status.get("observedGeneration")
    if observed is None or generation is None or observed < generation:
        return Verdict(State.PENDING, f"the operator has not observed generation {generation} yet (status describes {observed})")
    terminal = _condition(status, "Terminal")
    if terminal and terminal.get("status") == "True":
        return Verdict(State.FAILED, f"Terminal: {terminal.get('reason')}: {terminal.get('message')}", terminal.get("reason"))
    ready = _condition(status, "Ready")
    if ready is None:
        return Verdict(State.PENDING, "no Ready condition yet")
    if ready.get("observedGeneration") is not None and ready["observedGeneration"] < generation:
        return Verdict(State.PENDING, f"Ready describes generation {ready['observedGeneration']}, not {generation}")
    reason, message = ready.get("reason"), ready.get("message")
    if ready.get("status") == "False" and reason in FAILED_ROLLOUT_REASONS:
        return Verdict(State.FAILED, f"Ready=False, {reason}: {message}", reason)
    if ready.get("status") != "True":
        return Verdict(State.PENDING, f"Ready={ready.get('status')}, {reason}: {message}", reason)
    if status.get("image") != expected.image:
        return Verdict(State.PENDING, f"Ready, but status.image is {status.get('image')!r}, not {expected.image!r}")
    running = {f.get("name"): f.get("codeSha256") for f in status.get("functions") or [] if isinstance(f, dict)}
    for function in expected.functions:
        if running.get(function.name) != function.sha256:
            return Verdict(
                State.PENDING,
                f"Ready, but function {function.name} runs code {running.get(function.name)!r}, not {function.sha256!r}",
            )
    pinned = "".join(f", {f.name} code {f.sha256}" for f in expected.functions)
    return Verdict(State.VERIFIED, f"Ready for generation {generation}: {expected.image}{pinned}")
