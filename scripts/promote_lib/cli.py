"""`scripts/promote`: the command line the workflows (and people) call."""

import argparse
import json
import re
import sys
from pathlib import Path

from . import decisions, records
from .environments import ENVIRONMENTS, environment, environment_of_branch
from .errors import PromotionError
from .git import Git
from .render import render_metricsapp
from .summary import deployment_summary

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


def cmd_record_digests(git: Git, args: argparse.Namespace) -> None:
    digests = records.Digests(git.commit(args.commit), records.parse_images(args.image), args.run_url)
    if records.record_digests(git, digests, push=args.push):
        print(f"recorded digests for {digests.commit[:12]} in {records.DIGESTS_REF}", file=sys.stderr)
    else:
        print(f"digests for {digests.commit[:12]} were already recorded (unchanged)", file=sys.stderr)


def cmd_digests(git: Git, args: argparse.Namespace) -> None:
    digests = records.require_digests(git, git.commit(args.commit))
    if args.format == "json":
        print(json.dumps({"commit": digests.commit, "images": digests.images, "run_url": digests.run_url}, indent=2))
    elif args.format == "github-output":
        print(_outputs(_digest_outputs(digests)), end="")
    else:
        print("| image | reference |\n| --- | --- |")
        for name, ref in sorted(digests.images.items()):
            print(f"| {name} | `{ref}` |")


def cmd_record_deployment(git: Git, args: argparse.Namespace) -> None:
    env = environment(args.env)
    deployment = records.Deployment(records.now(), git.commit(args.commit), env.name, args.result, args.run_url)
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


def cmd_render_metricsapp(git: Git, args: argparse.Namespace) -> None:
    env = environment(args.env)
    if args.commit:
        commit = git.commit(args.commit)
        image = records.require_digests(git, commit).images["app"]
        source = f"{env.metricsapp_path}@{commit[:12]}"
        text = git.file_at(commit, env.metricsapp_path) if not args.file else Path(args.file).read_text()
        if text is None:
            raise PromotionError(f"{env.metricsapp_path} does not exist at {commit[:12]}")
    else:
        if args.digest:
            if not DIGEST.match(args.digest):
                raise PromotionError(f"--digest {args.digest!r}: expected sha256:<64 hex digits>")
            image = f"{args.repository}@{args.digest}"
        else:
            image = args.image
        path = Path(args.file or Path(git.repo) / env.metricsapp_path)
        source = str(path)
        try:
            text = path.read_text()
        except OSError as err:
            raise PromotionError(f"cannot read {path}: {err.strerror}") from err
    rendered = render_metricsapp(text, image, _env_pairs(args.set_env), source)
    if args.output:
        try:
            Path(args.output).write_text(rendered)
        except OSError as err:
            raise PromotionError(f"cannot write {args.output}: {err.strerror}") from err
    else:
        print(rendered, end="")


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
        last = records.last_deployment(git, env)
        built = tip is not None and records.read_digests(git, tip) is not None
        branch = f"{env.branch} at {tip[:12]}{'' if built else ' (no digests)'}" if tip else f"{env.branch} missing"
        deployed = f"last deployed {last.commit[:12]}: {last.result} at {last.at}" if last else "never deployed"
        print(f"{env.name:<11} {branch}; {deployed}")


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

    s = command("record-digests", cmd_record_digests, "record the image digests built for a commit")
    s.add_argument("--commit", required=True)
    s.add_argument("--image", action="append", default=[], metavar="NAME=REPOSITORY@sha256:DIGEST", help="operator=... and app=...")
    s.add_argument("--run-url", help="the build run, for the record")
    s.add_argument("--push", action="store_true", help="push the record to the remote")

    s = command("digests", cmd_digests, "print the image digests recorded for a commit (fails when none)")
    s.add_argument("--commit", required=True)
    s.add_argument("--format", choices=["json", "github-output", "markdown"], default="json")

    s = command("record-deployment", cmd_record_deployment, "record how a deployment of a commit to an environment ended")
    s.add_argument("--commit", required=True)
    s.add_argument("--env", required=True)
    s.add_argument("--result", required=True, choices=records.RESULTS)
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

    s = command("resolve-rollback", cmd_resolve_rollback, "check a rollback target and print its digests")
    s.add_argument("--env", required=True)
    s.add_argument("--commit", required=True)
    s.add_argument("--format", choices=["text", "github-output"], default="text")

    command("status", cmd_status, "each environment's branch and the last deployment recorded for it")

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
