"""The one reader of YAML and JSON input files: regular files only, bounded size, nesting and alias expansion.

Everything the user hands in as structured data (answers files, rule bases, case libraries, validation.json,
run manifests, pairs lines) goes through `read_data_file`, `parse_data` or `parse_json`. Each problem is one
InputError naming the file (and line when known). What it refuses, and why:

- anything but a regular file (a FIFO would block, a device could be endless);
- files over MAX_BYTES, and nesting deeper than MAX_DEPTH (deep YAML crashes libyaml, deep JSON recurses);
- YAML aliases that expand past MAX_ALIAS_NODES ("billion laughs": tiny file, gigabytes once walked);
- duplicate mapping keys, in YAML and JSON alike (a second `answers:` block would silently replace the first);
- strings holding lone surrogates (they cannot be printed or written as UTF-8);
- JSON's non-standard NaN and Infinity, and numbers too large to hold (`1e400` would read as infinity).

YAML is read by PyYAML's safe loader (libyaml when present), with numbers accepted as people write them
(`5e-4` and `1.5e308` are numbers, as in YAML 1.2 and JSON; YAML 1.1 reads them as text).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import yaml

from advisor.errors import InputError

MAX_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000  # nodes aliases may add beyond the file's own

_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader, refusing duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: the constructor below reports it
                continue
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {_short(key)} (first at line {first.start_mark.line + 1})",
                    key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        """A float, refusing a literal too large to hold (YAML reads `1e400` as infinity; `.inf` says so)."""
        value = super().construct_yaml_float(node)
        if math.isinf(value) and "inf" not in str(node.value).lower():
            raise yaml.constructor.ConstructorError(None, None, _too_large(node.value), node.start_mark)
        return value


_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)

# YAML 1.2 / JSON exponent numbers that YAML 1.1 reads as text: no dot (5e-4, 1E6) or no exponent sign (1.5e308)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))


def _too_large(literal: str) -> str:
    from advisor.text import cap, one_line

    return f"the number {cap(one_line(literal))} is too large (the largest is about {sys.float_info.max:.1e})"


def _short(value: Any) -> str:
    from advisor.text import show

    return show(value)


def check_regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """The path when it names a readable regular file (symlinks followed); InputError saying what it is instead."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} '{path}' not found") from None
    except NotADirectoryError:
        raise InputError(f"{what} '{path}' not found (a part of the path is a file, not a folder)") from None
    except OSError as exc:
        raise InputError(f"{what} '{path}': cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{what} '{path}' is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode) or \
            stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file"
        raise InputError(f"{what} '{path}' is {kind}; give a regular file")
    if info.st_size > MAX_BYTES:
        raise InputError(f"{what} '{path}' is {info.st_size // (1024 * 1024)} MB; the limit is "
                         f"{MAX_BYTES // (1024 * 1024)} MB")
    return path


def read_text_file(path: str | os.PathLike, what: str = "file", encoding: str = "utf-8") -> str:
    """The text of a regular UTF-8 file of bounded size; InputError naming the file otherwise."""
    path = check_regular_file(path, what)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise InputError(f"{what} '{path}' is over {MAX_BYTES // (1024 * 1024)} MB, the limit")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def read_data_file(path: str | os.PathLike, what: str = "file") -> Any:
    """Parse a YAML or JSON file (JSON when it ends in .json) into plain data; InputError names file and line."""
    text = read_text_file(path, what)
    return parse_data(text, str(path), json_format=str(path).lower().endswith(".json"), what=what)


def parse_data(text: str, name: str, json_format: bool = False, what: str = "file") -> Any:
    """Parse YAML (or JSON) text; `name` is used in messages. Empty text is an error."""
    if not text.strip():
        raise InputError(f"{name}: the {what} is empty")
    data = parse_json(text, name) if json_format else _parse_yaml(text, name)
    check_strings(data, name)
    return data


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(r"[\[\]{}]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; write a number")


class _TooLarge(Exception):
    """A JSON number that overflows a float; parse_json finds the line."""


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _TooLarge(literal)
    return value


class _DuplicateKey(Exception):
    """A JSON object names a key twice; parse_json finds the line."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        raise _DuplicateKey
    return data


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


def _duplicate_key_message(text: str, name: str) -> str:
    """Where the first duplicate key of well-formed JSON text is: walk its tokens, keys per open object."""
    objects: list[dict[str, int] | None] = []  # per open bracket: key -> line for an object, None for a list
    expect_key = False
    for match in _JSON_TOKEN.finditer(text):
        token = match.group(0)
        if token in "{[":
            objects.append({} if token == "{" else None)
            expect_key = token == "{"
        elif token in "]}":
            objects.pop()
            expect_key = False
        elif token == ",":
            expect_key = bool(objects) and objects[-1] is not None
        elif token == ":":
            expect_key = False
        elif expect_key and objects and objects[-1] is not None:
            key, line = json.loads(token), text.count("\n", 0, match.start()) + 1
            if key in objects[-1]:
                return (f"{name}: line {line}: duplicate key {_short(key)} (first at line {objects[-1][key]}); "
                        "give each key once")
            objects[-1][key] = line
    return f"{name}: a duplicate key; give each key once"


def parse_json(text: str, name: str) -> Any:
    """Parse JSON text with nesting bounded before parsing; InputError with the line on malformed JSON.

    Duplicate keys are refused with the key and its line, as the YAML reader refuses them.
    """
    depth = deepest = 0
    for match in _JSON_BRACKETS.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if match.group(0) in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                raise InputError(f"{name}: nested more than {MAX_DEPTH} levels deep; flatten it")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                          object_pairs_hook=_refuse_duplicates)
    except _TooLarge as exc:
        literal = str(exc)
        line = text.count("\n", 0, max(text.find(literal), 0)) + 1
        raise InputError(f"{name}: line {line}: {_too_large(literal)}") from None
    except _DuplicateKey:
        raise InputError(_duplicate_key_message(text, name)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}: line {exc.lineno}: malformed JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{name}: malformed JSON: {exc}") from None


def _parse_yaml(text: str, name: str) -> Any:
    try:
        _check_yaml_depth(text, name)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expansion(node, name)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "cannot parse").split())
        raise InputError(f"{name}: {line}malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{name}: malformed YAML: {' '.join(str(exc).split())}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. an impossible date like 2001-13-01
        raise InputError(f"{name}: malformed YAML: {' '.join(str(exc).split())}") from None


def _check_yaml_depth(text: str, name: str) -> None:
    """Walk the parser's events (no tree built) and refuse nesting past MAX_DEPTH before composing."""
    depth = 0
    for event in yaml.parse(text, Loader=_BASE_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise InputError(f"{name}: line {line}: nested more than {MAX_DEPTH} levels deep; flatten it")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse a node graph whose aliases expand to more than MAX_ALIAS_NODES nodes beyond its own, or loop."""
    sizes: dict[int, int] = {}  # -1 while a node's children are being sized
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # post-order without recursion: every child sized before its parent
        node, children_done = stack.pop()
        if children_done:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in _children(node))
            continue
        if id(node) in sizes:
            if sizes[id(node)] < 0:
                raise InputError(f"{name}: line {node.start_mark.line + 1}: an alias refers to itself; "
                                 "write the value out")
            continue
        sizes[id(node)] = -1
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    limit = len(sizes) + MAX_ALIAS_NODES
    if sizes[id(root)] > limit:
        raise InputError(f"{name}: aliases (*name) expand to more than {limit} values; "
                         "write the values out or use fewer aliases")


def check_strings(data: Any, name: str) -> None:
    """Refuse text that cannot be printed or written as UTF-8 (lone surrogates), anywhere in parsed data."""
    seen: set[int] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InputError(f"{name}: holds a lone surrogate (\\u{ord(item[exc.start]):04x}), which is "
                                 "not text; remove it") from None
        elif isinstance(item, (dict, list)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.extend(item.keys() if isinstance(item, dict) else ())
            stack.extend(item.values() if isinstance(item, dict) else item)
