"""Renders an environment's MetricsApp for deployment: image pinned, extra env added.

The edit is textual (the program needs nothing beyond Python's standard library, so any
runner can run it) and deliberately narrow: block-style YAML with a top-level `spec:`
mapping, as `examples/<env>/metricsapp.yaml` are written. Anything else is refused with
an error rather than rewritten by guesswork. Comments and layout are kept.
"""

import json
import re

from .errors import PromotionError

KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")
DOCUMENT_SEPARATOR = re.compile(r"^---\s*(#.*)?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _scalar(rest: str) -> str:
    value = rest.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def _documents(text: str) -> list[list[str]]:
    documents: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if DOCUMENT_SEPARATOR.match(line.rstrip("\n")):
            documents.append([line])
        else:
            documents[-1].append(line)
    return documents


def _top_level(lines: list[str], key: str) -> int | None:
    for i, line in enumerate(lines):
        match = KEY.match(line.rstrip("\n"))
        if match and not match["indent"] and match["key"] == key:
            return i
    return None


def _is_metricsapp(lines: list[str]) -> bool:
    i = _top_level(lines, "kind")
    return i is not None and _scalar(KEY.match(lines[i].rstrip("\n"))["rest"]) == "MetricsApp"


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Index after the last line more indented than `indent`, from line `start + 1`."""
    end = start + 1
    for i in range(start + 1, len(lines)):
        if _is_content(lines[i]):
            if _indent(lines[i]) <= indent:
                break
            end = i + 1
    return end


class _Spec:
    """The `spec:` block of one MetricsApp document."""

    def __init__(self, lines: list[str], source: str):
        self.lines = lines
        self.source = source
        start = _top_level(lines, "spec")
        if start is None:
            raise PromotionError(f"{source}: the MetricsApp has no top-level `spec:`")
        if _scalar(KEY.match(lines[start].rstrip("\n"))["rest"]):
            raise PromotionError(f"{source}: `spec:` must be a block mapping (one field per line) to be rendered")
        self.start = start
        self.end = _block_end(lines, start, 0)
        children = [line for line in lines[start + 1 : self.end] if _is_content(line)]
        self.indent = _indent(children[0]) if children else 2

    def field(self, name: str) -> int | None:
        for i in range(self.start + 1, self.end):
            match = KEY.match(self.lines[i].rstrip("\n"))
            if match and len(match["indent"]) == self.indent and match["key"] == name:
                return i
        return None

    def set_scalar(self, name: str, value: str) -> None:
        line = f"{' ' * self.indent}{name}: {value}\n"
        i = self.field(name)
        if i is None:
            self.lines.insert(self.start + 1, line)
            self.end += 1
            return
        if not _scalar(KEY.match(self.lines[i].rstrip("\n"))["rest"]):
            raise PromotionError(f"{self.source}: spec.{name} must be a one-line value to be rendered")
        self.lines[i] = line

    def append_env(self, name: str, value: str) -> None:
        pad = " " * self.indent
        item = [f"{pad}  - name: {name}\n", f"{pad}    value: {json.dumps(value)}\n"]
        i = self.field("env")
        if i is None:
            self.lines[self.end : self.end] = [f"{pad}env:\n", *item]
            self.end += 3
            return
        rest = _scalar(KEY.match(self.lines[i].rstrip("\n"))["rest"])
        if rest == "[]":
            self.lines[i : i + 1] = [f"{pad}env:\n", *item]
            self.end += 2
            return
        if rest:
            raise PromotionError(f"{self.source}: spec.env must be a block list (`- name: ...` lines) to add to it")
        end = i + 1
        item_indent = None
        for j in range(i + 1, self.end):
            line = self.lines[j]
            if not _is_content(line):
                continue
            indent = _indent(line)
            is_item = line.lstrip().startswith("- ")
            if indent < self.indent or (indent == self.indent and not is_item):
                break
            if item_indent is None:
                if not is_item:
                    raise PromotionError(f"{self.source}: spec.env must be a block list (`- name: ...` lines) to add to it")
                item_indent = indent
            if indent < item_indent or (indent == item_indent and not is_item):
                break
            entry = line.lstrip()
            if entry.startswith("- name:") and _scalar(entry[len("- name:") :]) == name:
                raise PromotionError(f"{self.source}: spec.env already sets {name}")
            end = j + 1
        item_pad = " " * (item_indent if item_indent is not None else self.indent + 2)
        self.lines[end:end] = [f"{item_pad}- name: {name}\n", f"{item_pad}  value: {json.dumps(value)}\n"]
        self.end += 2


def render_metricsapp(text: str, image: str, extra_env: dict[str, str], source: str) -> str:
    """`text` with every MetricsApp's `spec.image` set to `image` and `extra_env` appended."""
    for name in extra_env:
        if not ENV_NAME.match(name):
            raise PromotionError(f"--set-env {name!r}: not a valid environment variable name")
    documents = _documents(text)
    found = 0
    for lines in documents:
        if not _is_metricsapp(lines):
            continue
        found += 1
        spec = _Spec(lines, source)
        spec.set_scalar("image", image)
        for name, value in extra_env.items():
            spec.append_env(name, value)
    if not found:
        raise PromotionError(f"{source}: no MetricsApp (kind: MetricsApp) found")
    rendered = "".join(line for lines in documents for line in lines)
    return rendered if rendered.endswith("\n") else rendered + "\n"
