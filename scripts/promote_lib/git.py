"""A thin wrapper over the git CLI for one repository and its remote."""

import base64
import os
import subprocess
from dataclasses import dataclass
from functools import cached_property

from .errors import PromotionError

# Identity used for notes commits when the repository has none configured (CI runners).
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "metricsapp-promote",
    "GIT_AUTHOR_EMAIL": "metricsapp-promote@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "metricsapp-promote",
    "GIT_COMMITTER_EMAIL": "metricsapp-promote@users.noreply.github.com",
}


@dataclass(frozen=True)
class Commit:
    sha: str
    short: str
    author: str
    subject: str


@dataclass
class Git:
    """Runs git in `repo` against the remote `remote`."""

    repo: str
    remote: str = "origin"

    def run(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ) if self.has_identity else {**FALLBACK_IDENTITY, **os.environ}
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=self.repo,
                input=stdin,
                capture_output=True,
                text=True,
                env=env,
            )
        except FileNotFoundError as err:
            raise PromotionError("git is not installed or not on PATH") from err
        if check and proc.returncode != 0:
            detail = proc.stderr.strip() or proc.stdout.strip()
            raise PromotionError(f"git {' '.join(args)} failed: {detail}")
        return proc

    @cached_property
    def has_identity(self) -> bool:
        proc = subprocess.run(["git", "config", "user.email"], cwd=self.repo, capture_output=True, text=True)
        return proc.returncode == 0 and bool(proc.stdout.strip())

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def resolve_commit(self, rev: str) -> str | None:
        """The full SHA of `rev`, or None when it names no commit here."""
        proc = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def commit(self, rev: str) -> str:
        """The full SHA of `rev`; an error naming `rev` when it is unknown."""
        sha = self.resolve_commit(rev)
        if sha is None:
            raise PromotionError(f"{rev!r} is not a commit in this repository (did you fetch?)")
        return sha

    def branch_tip(self, branch: str) -> str | None:
        """The commit the remote's `branch` points at (as last fetched), or None."""
        return self.resolve_commit(f"refs/remotes/{self.remote}/{branch}")

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False)
        if proc.returncode not in (0, 1):
            raise PromotionError(f"git merge-base failed: {proc.stderr.strip()}")
        return proc.returncode == 0

    def commits_between(self, base: str | None, tip: str) -> list[Commit]:
        """Commits reachable from `tip` but not from `base`, newest first."""
        spec = f"{base}..{tip}" if base else tip
        text = self.out("log", "--format=%H%x1f%h%x1f%an%x1f%s", spec)
        commits = []
        for line in text.splitlines():
            sha, short, author, subject = line.split("\x1f", 3)
            commits.append(Commit(sha, short, author, subject))
        return commits

    def file_at(self, commit: str, path: str) -> str | None:
        """The content of `path` at `commit`, or None when the file is absent there."""
        proc = self.run("show", f"{commit}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    def _fetch_auth(self) -> list[str]:
        """`-c` options that authenticate a fetch with $PROMOTE_FETCH_TOKEN, when it is set.

        Lets a job check out with `persist-credentials: false` (no token left in .git/config
        for later steps) and still fetch the notes of a private repository in this one call.
        """
        token = os.environ.get("PROMOTE_FETCH_TOKEN")
        if not token:
            return []
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        return ["-c", f"http.{server}/.extraheader=AUTHORIZATION: basic {basic}"]

    def fetch(self) -> None:
        """Fetches every branch and every notes ref of the remote."""
        self.run(
            *self._fetch_auth(),
            "fetch",
            "--prune",
            self.remote,
            f"+refs/heads/*:refs/remotes/{self.remote}/*",
            "+refs/notes/*:refs/notes/*",
        )

    def push_branch(self, commit: str, branch: str) -> None:
        """Moves the remote's `branch` to `commit`; git refuses anything but a fast-forward."""
        self.run("push", self.remote, f"{commit}:refs/heads/{branch}")

    def resolve_ref(self, ref: str) -> str | None:
        """The object `ref` points at, or None when it does not exist."""
        proc = self.run("rev-parse", "--verify", "--quiet", ref, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def read_blobs(self, blobs: list[str]) -> list[str]:
        """The contents of `blobs`, read in one `git cat-file --batch` call."""
        proc = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.repo,
            input="".join(f"{blob}\n" for blob in blobs).encode(),
            capture_output=True,
        )
        if proc.returncode != 0:
            raise PromotionError(f"git cat-file --batch failed: {proc.stderr.decode(errors='replace').strip()}")
        out, offset, contents = proc.stdout, 0, []
        for blob in blobs:
            header_end = out.index(b"\n", offset)
            header = out[offset:header_end].split()
            if len(header) != 3:
                raise PromotionError(f"cannot read git object {blob}: {out[offset:header_end].decode(errors='replace')}")
            start = header_end + 1
            contents.append(out[start : start + int(header[2])].decode("utf-8", errors="replace"))
            offset = start + int(header[2]) + 1
        return contents
