"""`scripts/promote`: the command line the workflows (and people) call."""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from . import decisions, records
from .environments import ENVIRONMENTS, Environment, environment, environment_of_branch
from .errors import PromotionError
from .git import Git
from .render import Rendered, render
from .summary import deployment_summary
from .verify import State, verify

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise PromotionError(f"--set-env {pair!r}: expected NAME=VALUE")
        env[name] = value
    return env


def _outputs(values: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def _digest_outputs(digests: records.Digests) -> dict[str, str]:
    return {
        "commit": digests.commit,
        "operator_image": digests.images["operator"],
        "operator_digest": digests.digest("operator"),
        "app_image": digests.images["app"],
        "app_digest": digests.digest("app"),
    }


def cmd_fetch(git: Git, args: argparse.Namespace) -> None:
    git.fetch()


def cmd_env_info(git: Git, args: argparse.Namespace) -> None:
    env = environment(args.env)
    print(
        _outputs(
            {
                "environment": env.name,
                "branch": env.branch,
                "lower": env.lower or "",
                "namespace": env.namespace,
                "metricsapp": env.metricsapp_path,
                "values": env.values_path,
            }
        ),
        end="",
    )


def cmd_function_key(git: Git, args: argparse.Namespace) -> None:
    print(records.function_key(args.name, args.arch, args.sha256))


def cmd_record_digests(git: Git, args: argparse.Namespace) -> None:
    digests = records.Digests(
        git.commit(args.commit), records.parse_images(args.image), args.run_url, records.parse_functions(args.function)
    )
    if records.record_digests(git, digests, push=args.push):
        print(f"recorded digests for {digests.commit[:12]} in {records.DIGESTS_REF}", file=sys.stderr)
    else:
        print(f"digests for {digests.commit[:12]} were already recorded (unchanged)", file=sys.stderr)


def cmd_digests(git: Git, args: argparse.Namespace) -> None:
    digests = records.require_digests(git, git.commit(args.commit))
    if args.format == "json":
        print(json.dumps({"commit": digests.commit, **digests.artifacts(), "run_url": digests.run_url}, indent=2))
    elif args.format == "github-output":
        print(_outputs(_digest_outputs(digests)), end="")
    else:
        print("| image | reference |\n| --- | --- |")
        for name, ref in sorted(digests.images.items()):
            print(f"| {name} | `{ref}` |")
        if digests.functions:
            print("\n| function zip | S3 object | CodeSha256 |\n| --- | --- | --- |")
            for name, zip_ in sorted(digests.functions.items()):
                print(f"| {name} | `s3://{zip_.bucket}/{zip_.key}` | `{zip_.sha256}` |")


def cmd_record_deployment(git: Git, args: argparse.Namespace) -> None:
    env = environment(args.env)
    deployment = records.Deployment(
        records.now(), git.commit(args.commit), env.name, args.result, args.run_url, args.reason or None
    )
    records.record_deployment(git, env, deployment, push=args.push)
    print(f"recorded {args.result} of {deployment.commit[:12]} in {env.name}", file=sys.stderr)


def cmd_check_green(git: Git, args: argparse.Namespace) -> None:
    env = environment(args.env)
    last = decisions.check_green(git, args.commit, env)
    print(f"{env.name} is green for {last.commit[:12]} (deployed {last.at})")


def cmd_check_fast_forward(git: Git, args: argparse.Namespace) -> None:
    environment_of_branch(args.to_branch)
    ff = decisions.check_fast_forward(git, args.from_commit, args.to_branch)
    if ff.up_to_date:
        print(f"{ff.branch} is already at {ff.target[:12]}")
    else:
        print(f"{ff.branch} can fast-forward to {ff.target[:12]} ({len(ff.commits)} commit(s))")


def cmd_promote(git: Git, args: argparse.Namespace) -> None:
    env = environment(args.to)
    promotion = decisions.check_promotion(git, env, args.commit)
    ff = promotion.fast_forward
    if ff.up_to_date:
        print(f"{ff.branch} is already at {ff.target[:12]}: nothing to move")
    elif not args.push:
        print(f"{ff.branch} can fast-forward to {ff.target[:12]} ({len(ff.commits)} commit(s)); not pushed (no --push)")
    else:
        git.push_branch(ff.target, ff.branch)
        print(f"moved {ff.branch} to {ff.target[:12]} ({len(ff.commits)} commit(s)) by fast-forward")
    for name, ref in sorted(promotion.digests.images.items()):
        print(f"  {name}: {ref}")


def cmd_summary(git: Git, args: argparse.Namespace) -> None:
    print(deployment_summary(git, environment(args.env), args.commit, args.base), end="")


def _render_for_commit(git: Git, env: Environment, commit: str, file: str | None, extra_env: dict[str, str]) -> Rendered:
    """`env`'s MetricsApp as `commit` has it, pinned to what the build recorded for `commit`."""
    digests = records.require_digests(git, commit)
    source = f"{env.metricsapp_path}@{commit[:12]}"
    text = git.file_at(commit, env.metricsapp_path) if not file else Path(file).read_text()
    if text is None:
        raise PromotionError(f"{env.metricsapp_path} does not exist at {commit[:12]}")
    return render(text, digests.images["app"], extra_env, source, digests.functions)


def cmd_render_metricsapp(git: Git, args: argparse.Namespace) -> None:
    env = environment(args.env)
    if args.commit:
        rendered = _render_for_commit(git, env, git.commit(args.commit), args.file, _env_pairs(args.set_env)).text
    else:
        if args.digest:
            if not DIGEST.match(args.digest):
                raise PromotionError(f"--digest {args.digest!r}: expected sha256:<64 hex digits>")
            image = f"{args.repository}@{args.digest}"
        else:
            image = args.image
        path = Path(args.file or Path(git.repo) / env.metricsapp_path)
        try:
            text = path.read_text()
        except OSError as err:
            raise PromotionError(f"cannot read {path}: {err.strerror}") from err
        rendered = render(text, image, _env_pairs(args.set_env), str(path)).text
    if args.output:
        try:
            Path(args.output).write_text(rendered)
        except OSError as err:
            raise PromotionError(f"cannot write {args.output}: {err.strerror}") from err
    else:
        print(rendered, end="")


def _live_metricsapp(args: argparse.Namespace, name: str) -> dict:
    """The MetricsApp as the API server returns it (or as the file `--live` holds)."""
    if args.live:
        text = Path(args.live).read_text()
    else:
        command = [args.kubectl, "get", "metricsapps.metricsapp.dev", name, "-n", args.namespace, "-o", "json"]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise PromotionError(f"cannot run {' '.join(command)}: {err}") from err
        if proc.returncode != 0:
            raise PromotionError(f"{' '.join(command)} failed: {proc.stderr.strip()}")
        text = proc.stdout
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PromotionError(f"the MetricsApp {name} is not JSON: {err}") from err


def cmd_verify(git: Git, args: argparse.Namespace) -> None:
    env = environment(args.env)
    expected = _render_for_commit(git, env, git.commit(args.commit), args.file, _env_pairs(args.set_env))
    if expected.name is None:
        raise PromotionError(f"{env.metricsapp_path}: the MetricsApp has no metadata.name")
    if not args.live and not args.namespace:
        raise PromotionError("--namespace is needed to read the MetricsApp from the cluster (or --live FILE)")
    deadline = time.monotonic() + args.timeout
    last_message = None
    while True:
        verdict = verify(_live_metricsapp(args, expected.name), expected, args.generation)
        if verdict.message != last_message:
            print(f"{env.name}: {verdict.state.value}: {verdict.message}", file=sys.stderr)
            last_message = verdict.message
        if verdict.state is not State.PENDING or args.live or time.monotonic() >= deadline:
            break
        time.sleep(args.interval)
    if args.github_output:
        with open(args.github_output, "a") as out:
            out.write(_outputs({"state": verdict.state.value, "reason": verdict.reason or ""}))
    if verdict.state is State.VERIFIED:
        print(f"{env.name} verified {expected.name}: {verdict.message}")
        return
    if verdict.state is State.PENDING:
        raise PromotionError(f"{env.name}: not verified within {args.timeout:g}s: {verdict.message}")
    raise PromotionError(f"{env.name}: the deployment failed: {verdict.message}")


def cmd_resolve_rollback(git: Git, args: argparse.Namespace) -> None:
    env = environment(args.env)
    target = decisions.resolve_rollback(git, env, args.commit)
    if args.format == "github-output":
        print(_outputs(_digest_outputs(target.digests)), end="")
        return
    print(f"{env.name} can roll back to {target.commit}")
    for name, ref in sorted(target.digests.images.items()):
        print(f"  {name}: {ref}")
    last = target.last_deployment
    print(f"  last deployed to {env.name}: {f'{last.at} ({last.result})' if last else 'never'}")


def cmd_status(git: Git, args: argparse.Namespace) -> None:
    for env in ENVIRONMENTS.values():
        tip = git.branch_tip(env.branch)
        branch = f"branch {env.branch} at {tip[:12]}" if tip else f"branch {env.branch} missing"
        print(f"{env.name}: {branch}")
        good = records.last_deployment(git, env, "success")
        last = records.last_deployment(git, env)
        if good is None:
            print("  running: nothing verified yet")
        else:
            digests = records.read_digests(git, good.commit)
            print(f"  running: {good.commit[:12]}, verified {good.at}")
            for name, ref in sorted(digests.images.items() if digests else []):
                print(f"    {name}: {ref}")
            for name, zip_ in sorted(digests.functions.items() if digests else []):
                print(f"    function {name}: {zip_.sha256}")
            if tip is not None and good.commit != tip:
                print(f"  not the branch tip {tip[:12]}: rolled back, or the tip is not verified yet")
        if last is not None and last.result == "failure":
            why = f" ({last.reason})" if last.reason else ""
            where = f" {last.run_url}" if last.run_url else ""
            print(f"  last deployment failed{why}: {last.commit[:12]} at {last.at}{where}")


def cmd_check_backmerge(git: Git, args: argparse.Namespace) -> None:
    decisions.check_backmerge(git, args.candidate)
    print(f"every commit on staging and main is in {args.candidate or 'dev'}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="promote",
        description="Promotion logic of the dev -> staging -> main flow; see docs/promotion.md.",
    )
    p.add_argument("-C", "--repo", default=".", help="the git repository (default: current directory)")
    p.add_argument("--remote", default="origin", help="the remote holding the environment branches (default: origin)")
    p.add_argument("--fetch", action="store_true", help="fetch branches and notes from the remote first (as `fetch`)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help):
        s = sub.add_parser(name, help=help, description=help)
        s.set_defaults(func=func)
        return s

    command("fetch", cmd_fetch, "fetch every branch and the notes (digests, deployments) from the remote")

    s = command("env-info", cmd_env_info, "print an environment's branch, namespace and files (NAME=VALUE lines)")
    s.add_argument("--env", required=True)

    s = command("function-key", cmd_function_key, "print the S3 key a Lambda zip is uploaded under (content-addressed)")
    s.add_argument("--name", required=True, help="the function, as in spec.functions[].name")
    s.add_argument("--arch", required=True, choices=records.ARCHITECTURES)
    s.add_argument("--sha256", required=True, help="base64 SHA-256 of the zip (Lambda's CodeSha256)")

    s = command("record-digests", cmd_record_digests, "record the image digests (and Lambda zips) built for a commit")
    s.add_argument("--commit", required=True)
    s.add_argument("--image", action="append", default=[], metavar="NAME=REPOSITORY@sha256:DIGEST", help="operator=... and app=...")
    s.add_argument(
        "--function", action="append", default=[], metavar="NAME/ARCH=s3://BUCKET/KEY#SHA256",
        help="a Lambda zip uploaded under its function-key",
    )
    s.add_argument("--run-url", help="the build run, for the record")
    s.add_argument("--push", action="store_true", help="push the record to the remote")

    s = command("digests", cmd_digests, "print the image digests recorded for a commit (fails when none)")
    s.add_argument("--commit", required=True)
    s.add_argument("--format", choices=["json", "github-output", "markdown"], default="json")

    s = command("record-deployment", cmd_record_deployment, "record how a deployment of a commit to an environment ended")
    s.add_argument("--commit", required=True)
    s.add_argument("--env", required=True)
    s.add_argument("--result", required=True, choices=records.RESULTS)
    s.add_argument("--reason", help="why it failed (the MetricsApp's Ready reason, e.g. RolledBack)")
    s.add_argument("--run-url")
    s.add_argument("--push", action="store_true", help="push the record to the remote")

    s = command("check-green", cmd_check_green, "fail unless the last deployment of a commit to an environment succeeded")
    s.add_argument("--commit", required=True)
    s.add_argument("--env", required=True)

    s = command("check-fast-forward", cmd_check_fast_forward, "fail unless moving a branch to a commit is a fast-forward")
    s.add_argument("--from", dest="from_commit", required=True, metavar="COMMIT")
    s.add_argument("--to-branch", required=True)

    s = command("promote", cmd_promote, "check a promotion (lower env green, digests, fast-forward) and push it")
    s.add_argument("--to", required=True, help="staging or production")
    s.add_argument("--commit", help="default: the tip of the lower environment's branch")
    s.add_argument("--push", action="store_true", help="move the branch on the remote (without: only check)")

    s = command("summary", cmd_summary, "markdown: commits, digests and MetricsApp diff of a deployment")
    s.add_argument("--env", "--to", dest="env", required=True)
    s.add_argument("--commit", required=True)
    s.add_argument("--base", help="compare with this commit (default: the environment's branch tip)")

    s = command("render-metricsapp", cmd_render_metricsapp, "print an environment's MetricsApp with its image pinned")
    s.add_argument("--env", required=True)
    image = s.add_mutually_exclusive_group(required=True)
    image.add_argument("--commit", help="read the file at this commit and pin the app digest recorded for it")
    image.add_argument("--digest", help="pin this digest (sha256:...) of --repository")
    image.add_argument("--image", help="use this image reference as is (local clusters)")
    s.add_argument("--repository", default=records.IMAGE_REPOSITORIES["app"])
    s.add_argument("--file", help="render this file instead of examples/<env>/metricsapp.yaml")
    s.add_argument("--set-env", action="append", default=[], metavar="NAME=VALUE", help="append to spec.env")
    s.add_argument("--output", help="write here instead of stdout")

    s = command("verify", cmd_verify, "wait until the cluster runs a commit's MetricsApp: Ready, its image and code")
    s.add_argument("--env", required=True)
    s.add_argument("--commit", required=True, help="the commit deployed (what to expect is rendered from it)")
    s.add_argument("--namespace", help="the MetricsApp's namespace (read with kubectl)")
    s.add_argument("--generation", type=int, help="metadata.generation the apply returned; a later one fails")
    s.add_argument("--timeout", type=float, default=900, help="seconds to wait (default: 900)")
    s.add_argument("--interval", type=float, default=5, help="seconds between reads (default: 5)")
    s.add_argument("--kubectl", default="kubectl")
    s.add_argument("--live", help="check this JSON file once instead of reading the cluster")
    s.add_argument("--file", help="the MetricsApp file deployed, if not examples/<env>/metricsapp.yaml at the commit")
    s.add_argument("--set-env", action="append", default=[], metavar="NAME=VALUE", help="as given to render-metricsapp")
    s.add_argument("--github-output", metavar="FILE", help="append state= and reason= to FILE ($GITHUB_OUTPUT)")

    s = command("resolve-rollback", cmd_resolve_rollback, "check a rollback target and print its digests")
    s.add_argument("--env", required=True)
    s.add_argument("--commit", required=True)
    s.add_argument("--format", choices=["text", "github-output"], default="text")

    command("status", cmd_status, "each environment: its branch, the commit and images it runs, when verified, rollbacks")

    s = command("check-backmerge", cmd_check_backmerge, "fail while staging or main has commits that dev lacks")
    s.add_argument("--candidate", help="check this commit in place of dev's tip (a pull request into dev)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if not Path(args.repo).is_dir():
            raise PromotionError(f"{args.repo}: no such directory")
        git = Git(args.repo, args.remote)
        if git.run("rev-parse", "--git-dir", check=False).returncode != 0:
            raise PromotionError(f"{Path(args.repo).resolve()} is not a git repository")
        if args.fetch:
            git.fetch()
        args.func(git, args)
    except PromotionError as err:
        print(f"promote {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0
