"""Renders an environment's MetricsApp for deployment: image pinned, the Lambda zips the
build recorded pinned (`spec.functions[].code.s3.key` and `code.sha256`), extra env added.

The edit is textual (the program needs nothing beyond Python's standard library, so any
runner can run it) and deliberately narrow: block-style YAML with a top-level `spec:`
mapping, as `examples/<env>/metricsapp.yaml` are written. Anything else is refused with
an error rather than rewritten by guesswork. Comments and layout are kept.
"""

import json
import re
from dataclasses import dataclass

from .errors import PromotionError
from .records import FunctionZip

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


def _key_at(line: str, indent: int) -> tuple[str, str] | None:
    """(key, rest) when `line` is `key: rest` at `indent`, also as the first line of a list
    item whose `- ` sits two columns to the left."""
    text = line.rstrip("\n")
    if indent >= 2 and text.startswith(" " * (indent - 2) + "- "):
        text = " " * indent + text[indent:]
    match = KEY.match(text)
    if match and len(match["indent"]) == indent:
        return match["key"], match["rest"]
    return None


def _fields(lines: list[str], start: int, end: int, indent: int) -> dict[str, int]:
    """Line index of each key of the mapping at `indent` within lines[start:end]."""
    found: dict[str, int] = {}
    for i in range(start, end):
        key = _key_at(lines[i], indent)
        if key is not None:
            found.setdefault(key[0], i)
    return found


def _child_indent(lines: list[str], line: int, end: int) -> int | None:
    """Indent of the first content line after `line` (within `end`)."""
    for i in range(line + 1, end):
        if _is_content(lines[i]):
            return _indent(lines[i])
    return None


@dataclass(frozen=True)
class PinnedFunction:
    """A function whose code the render pinned, and the `CodeSha256` Lambda must then report."""

    name: str
    architecture: str
    sha256: str


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

    def _set_in(self, i: int, key: str, value: str) -> None:
        prefix = self.lines[i][: len(self.lines[i]) - len(self.lines[i].lstrip(" -"))]
        self.lines[i] = f"{prefix}{key}: {value}\n"

    def _function_items(self) -> list[tuple[int, int, int]]:
        """(first line, end, content indent) of each item of `spec.functions`."""
        i = self.field("functions")
        if i is None:
            return []
        rest = _scalar(KEY.match(self.lines[i].rstrip("\n"))["rest"])
        if rest == "[]":
            return []
        if rest:
            raise PromotionError(f"{self.source}: spec.functions must be a block list (`- name: ...` lines) to be rendered")
        items: list[tuple[int, int, int]] = []
        item_indent = None
        end = self.end
        for j in range(i + 1, self.end):
            line = self.lines[j]
            if not _is_content(line):
                continue
            indent, is_item = _indent(line), line.lstrip().startswith("- ")
            if indent < self.indent or (indent == self.indent and not is_item):
                end = j
                break
            if item_indent is None:
                if not is_item:
                    raise PromotionError(f"{self.source}: spec.functions must be a block list (`- name: ...` lines) to be rendered")
                item_indent = indent
            if indent == item_indent and is_item:
                items.append(j)
        bounds = items + [end]
        return [(bounds[k], bounds[k + 1], item_indent + 2) for k in range(len(items))]

    def pin_functions(self, functions: dict[str, FunctionZip]) -> list[PinnedFunction]:
        """Points each declared S3 function the build made a zip for at that zip."""
        built_names = {name.split("/", 1)[0] for name in functions}
        pinned = []
        for start, end, indent in self._function_items():
            fields = _fields(self.lines, start, end, indent)
            if "name" not in fields:
                raise PromotionError(f"{self.source}: an item of spec.functions has no `name:` line")
            name = _scalar(_key_at(self.lines[fields["name"]], indent)[1])
            if name not in built_names:
                continue
            where = f"{self.source}: spec.functions[{name}]"
            arch = _scalar(_key_at(self.lines[fields["architecture"]], indent)[1]) if "architecture" in fields else "x86_64"
            if "code" not in fields or _scalar(_key_at(self.lines[fields["code"]], indent)[1]):
                raise PromotionError(f"{where}.code must be a block mapping (one field per line) to be rendered")
            code = fields["code"]
            code_end = _block_end(self.lines, code, indent)
            code_indent = _child_indent(self.lines, code, code_end)
            code_fields = _fields(self.lines, code + 1, code_end, code_indent) if code_indent else {}
            if "s3" not in code_fields:
                continue
            zip_ = functions.get(f"{name}/{arch}")
            if zip_ is None:
                raise PromotionError(
                    f"{where} runs on {arch}, but this commit's build recorded zips of {name} only for "
                    f"{', '.join(sorted(n.split('/', 1)[1] for n in functions if n.startswith(name + '/')))}"
                )
            s3 = code_fields["s3"]
            s3_end = _block_end(self.lines, s3, code_indent)
            s3_indent = _child_indent(self.lines, s3, s3_end)
            s3_fields = _fields(self.lines, s3 + 1, s3_end, s3_indent) if s3_indent else {}
            if "bucket" not in s3_fields or "key" not in s3_fields:
                raise PromotionError(f"{where}.code.s3 needs `bucket:` and `key:` lines to be rendered")
            bucket = _scalar(_key_at(self.lines[s3_fields["bucket"]], s3_indent)[1])
            if bucket != zip_.bucket:
                raise PromotionError(
                    f"{where}.code.s3.bucket is {bucket!r}, but the build uploaded the zip to {zip_.bucket!r}: "
                    "name the build's bucket (repository variable FUNCTIONS_BUCKET) in the MetricsApp"
                )
            if "objectVersion" in s3_fields:
                raise PromotionError(f"{where}.code.s3.objectVersion is set: the build's keys are content-addressed, drop it")
            self._set_in(s3_fields["key"], "key", zip_.key)
            if "sha256" in code_fields:
                self._set_in(code_fields["sha256"], "sha256", json.dumps(zip_.sha256))
            else:
                self.lines.insert(code_end, f"{' ' * code_indent}sha256: {json.dumps(zip_.sha256)}\n")
                self.end += 1
            pinned.append(PinnedFunction(name, arch, zip_.sha256))
        return pinned

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


@dataclass(frozen=True)
class Rendered:
    """A rendered MetricsApp file and what a deployment of it must end up running."""

    text: str
    name: str | None
    image: str
    functions: list[PinnedFunction]


def _metadata_name(lines: list[str]) -> str | None:
    start = _top_level(lines, "metadata")
    if start is not None:
        end = _block_end(lines, start, 0)
        indent = _child_indent(lines, start, end)
        fields = _fields(lines, start + 1, end, indent) if indent else {}
        if "name" in fields:
            return _scalar(_key_at(lines[fields["name"]], indent)[1])
    return None


def render(
    text: str, image: str, extra_env: dict[str, str], source: str, functions: dict[str, FunctionZip] | None = None
) -> Rendered:
    """`text` with the (one) MetricsApp's `spec.image` set to `image`, its S3 functions pointed at
    the zips in `functions` (by `name/architecture`) and `extra_env` appended."""
    for name in extra_env:
        if not ENV_NAME.match(name):
            raise PromotionError(f"--set-env {name!r}: not a valid environment variable name")
    documents = _documents(text)
    apps = [lines for lines in documents if _is_metricsapp(lines)]
    if not apps:
        raise PromotionError(f"{source}: no MetricsApp (kind: MetricsApp) found")
    if len(apps) > 1:
        raise PromotionError(f"{source}: {len(apps)} MetricsApps in one file; an environment has one")
    (lines,) = apps
    spec = _Spec(lines, source)
    spec.set_scalar("image", image)
    pinned = spec.pin_functions(functions or {})
    for name, value in extra_env.items():
        spec.append_env(name, value)
    rendered = "".join(line for lines in documents for line in lines)
    return Rendered(
        text=rendered if rendered.endswith("\n") else rendered + "\n",
        name=_metadata_name(lines),
        image=image,
        functions=pinned,
    )


def render_metricsapp(
    text: str, image: str, extra_env: dict[str, str], source: str, functions: dict[str, FunctionZip] | None = None
) -> str:
    """The rendered text alone (see `render`)."""
    return render(text, image, extra_env, source, functions).text
