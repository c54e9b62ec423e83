"""Reading ``sources.yaml``: YAML with line numbers, ``${ENV}`` values, and
every mistake reported at once, each with its file, line and field.

:func:`load_config` and :func:`parse_config` return a validated
:class:`~monitor.config.root.Config` or raise a
:class:`~monitor.errors.ConfigError` listing every problem; nothing starts on
a bad file. A value written ``${NAME}`` (or ``${NAME:-default}``) is read
from the environment (:func:`expand_env`), so secrets never live in the file.
How pydantic's and the YAML parser's messages are put in words is
:mod:`monitor.config.words`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from monitor.config import cache as _cache
from monitor.config.words import PATTERN_WORDS, did_you_mean, yaml_in_words
from monitor.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from monitor.config.root import Config

YamlPath = tuple[str | int, ...]
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _UniqueKeyLoader(yaml.SafeLoader):
    """Plain safe loading; duplicate keys are found separately on the node tree."""


# libyaml's loader (absent when PyYAML was built without it). Its nodes carry the
# same marks (line, column), so every line number of an error stays exact.
_C_LOADER: Any = getattr(yaml, "CSafeLoader", None)
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def compose(text: str) -> yaml.Node | None:
    """The node tree of ``text``, composed by libyaml when it can be.

    PyYAML's pure-Python scanner and composer cost about 0.4 ms a source (a
    2,000-source file: 0.85 s, and it used to be read twice); libyaml composes
    the same tree ten times faster. Two cases go to the Python composer, so
    that what a user is told stays word for word what it was: a file libyaml
    refuses (PyYAML's messages are the ones ``_yaml_in_words`` rephrases), and a
    file nested deeper than ``MAX_DEPTH``: libyaml's composer recurses on the C
    stack, and 100,000 nested brackets crash the process instead of raising
    RecursionError. The depth is counted first on libyaml's event stream
    (flat, no recursion; ~2 % of the Python composer's time)."""
    return _compose(text)[0]


def _compose(text: str) -> tuple[yaml.Node | None, bool]:
    """:func:`compose`, and whether the tree is plainly safe: composed by libyaml
    from events with no alias and no more than ``MAX_DEPTH`` levels, so that
    :func:`_shape_problem` has nothing to find (no loop, nothing expanded, no
    deeper nesting) and need not walk the tree."""
    if _C_LOADER is not None:
        try:
            depth = 0
            aliases = False
            for event in yaml.parse(text, Loader=_C_LOADER):
                if isinstance(event, _COLLECTION_START):
                    depth += 1
                    if depth > MAX_DEPTH:
                        break
                elif isinstance(event, _COLLECTION_END):
                    depth -= 1
                elif isinstance(event, yaml.AliasEvent):
                    aliases = True
            else:
                node: yaml.Node | None = yaml.compose(text, Loader=_C_LOADER)
                return node, not aliases
        except yaml.YAMLError:
            pass  # the Python composer below raises its own words for it
    return yaml.compose(text, Loader=_UniqueKeyLoader), False


def construct(node: yaml.Node) -> Any:
    """The data of a composed tree (what ``yaml.safe_load`` returns), built from
    the nodes already in hand instead of parsing the text a second time."""
    return yaml.constructor.SafeConstructor().construct_document(node)


MAX_DEPTH = 50  # levels of nesting; a real sources.yaml has fewer than ten
_MAX_VALUES = 100_000  # values aliases may add once expanded (a real file adds a few hundred)


def _distinct_nodes(root: yaml.Node) -> int:
    """The nodes of the tree, each once however many aliases name it."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(child for pair in node.value for child in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return len(seen)


def _shape_problem(root: yaml.Node) -> tuple[int, str] | None:
    """(line, why) when the node tree cannot be read safely, else None: an alias
    inside the value it names (a loop), nesting too deep, or aliases that expand
    to more values than any configuration has (a "billion laughs")."""
    sizes: dict[int, int] = {}  # id(node) → values under it, aliases expanded
    open_nodes: set[int] = set()
    # The values written out count once each (20,000 sources are 160,000 of them);
    # the cap is on what aliases add to those.
    limit = _MAX_VALUES + _distinct_nodes(root)

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        line = node.start_mark.line + 1
        if key in open_nodes:
            raise _Shape(line, "a YAML alias refers to a value that contains it")
        if depth > MAX_DEPTH:
            raise _Shape(line, f"values nested more than {MAX_DEPTH} deep")
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        open_nodes.add(key)
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_nodes.discard(key)
        if total > limit:
            raise _Shape(line, f"YAML aliases expand to more than {_MAX_VALUES:,} values")
        sizes[key] = total
        return total

    try:
        size(root, 0)
    except _Shape as shape:
        return shape.line, shape.why
    return None


class _Shape(Exception):
    def __init__(self, line: int, why: str) -> None:
        super().__init__(why)
        self.line, self.why = line, why


def _walk(node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int], problems: list[str]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(f"{node.start_mark.line + 1}\x00{key}\x00duplicate key")
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, problems)


def expand_env(text: str, env: Mapping[str, str], missing: list[str]) -> str:
    """``text`` with each ``${NAME}`` replaced by the environment's value, as a
    shell does (POSIX parameter expansion, the two forms a configuration needs):

    - ``${NAME}``: the value; a name that is not set is appended to ``missing``
      (an empty value is a value);
    - ``${NAME:-default}``: the value, or ``default`` when NAME is unset *or
      empty*; ``default`` may itself hold references (``${A:-${B:-x}}``), which
      are only looked up when the default is used;
    - ``$${``: a literal ``${`` (``$$`` elsewhere, and a ``$`` not followed by
      ``{``, stay as written), so a value can contain the two characters.

    Anything else starting ``${`` (no closing brace, not a name) stays as written.
    """
    value, _ = _expand(text, 0, env, missing, inner=False, use=True)
    return value


def _expand(
    text: str, i: int, env: Mapping[str, str], missing: list[str], *, inner: bool, use: bool
) -> tuple[str, int]:
    """Expand from ``i`` to the end, or (``inner``) to the ``}`` that closes a
    default, whose index is returned; ``use`` False only parses (an unused
    default looks nothing up). Returns (text, index reached)."""
    out: list[str] = []
    n = len(text)
    while i < n:
        if text.startswith("$${", i):
            out.append("${")
            i += 3
        elif text.startswith("${", i):
            name = _ENV_NAME.match(text, i + 2)
            end = name.end() if name else -1
            if name and text.startswith("}", end):
                if use:
                    if name.group() in env:
                        out.append(env[name.group()])
                    else:
                        missing.append(name.group())
                i = end + 1
            elif name and text.startswith(":-", end):
                value = env.get(name.group(), "") if use else ""
                fallback, close = _expand(
                    text, end + 2, env, missing, inner=True, use=use and not value
                )
                if close >= n:  # no closing brace: not a reference after all
                    out.append(text[i : i + 2])
                    i += 2
                    continue
                out.append(value or fallback)
                i = close + 1
            else:
                out.append("${")
                i += 2
        elif inner and text[i] == "}":
            return "".join(out), i
        else:
            out.append(text[i])
            i += 1
    return "".join(out), n


def _substitute_env(
    value: Any, path: YamlPath, env: Mapping[str, str], missing: list[tuple[YamlPath, str]]
) -> Any:
    if isinstance(value, str):
        if "$" not in value:  # most values: nothing to expand (the loop below is per character)
            return value
        names: list[str] = []
        expanded = expand_env(value, env, names)
        missing += [(path, name) for name in dict.fromkeys(names)]
        return expanded
    if isinstance(value, dict):
        return {k: _substitute_env(v, (*path, k), env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, (*path, i), env, missing) for i, v in enumerate(value)]
    return value


def _line_for(loc: YamlPath, lines: dict[YamlPath, int]) -> tuple[int | None, str]:
    """The line of the deepest known part of a pydantic error location, and a dotted field."""
    path: list[str | int] = []
    best: int | None = lines.get(())
    for part in loc:
        candidate = (*path, part)
        if candidate in lines:
            path.append(part)
            best = lines[candidate]
        # parts that are not in the file (union tags such as 'rss', validator names) are skipped
    field = ""
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return best, field


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``sources.yaml``; raise ConfigError listing every problem.

    A big file's YAML is read once per change of its text (monitor/config/cache.py)."""
    path = Path(path)
    env = os.environ if env is None else env
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(name, None, "", f"cannot read: {exc}")]) from None
    return parse_config(text, name=name, env=env, cache=_cache.cache_dir())


def parse_config(
    text: str, *, name: str = "sources.yaml", env: Mapping[str, str], cache: Path | None = None
) -> Config:
    """Validate the text of a ``sources.yaml``; raise ConfigError listing every
    problem. ``cache``: a folder where the YAML stage of a big file is kept."""
    tree = _cache.load(text, name, cache)
    if tree is None:
        tree = _read_tree(text, name)
        if not tree[2]:  # a file with duplicate keys is refused: not worth keeping
            _cache.store(text, name, cache, tree)
    data, lines, raw_problems = tree
    problems = [
        ConfigProblem(name, int(line), key, message)
        for line, key, message in (p.split("\x00") for p in raw_problems)
    ]

    missing: list[tuple[YamlPath, str]] = []
    data = _substitute_env(data, (), env, missing)
    for where, var in missing:
        line, field = _line_for(where, lines)
        problems.append(ConfigProblem(name, line, field, f"environment variable {var} is not set"))

    problems += _duplicate_ids(data, name, lines)
    from monitor.config.root import KINDS, KNOWN_KEYS, Config  # the kinds load on first use

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            line, field = _line_for(loc, lines)
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key" + did_you_mean(str(loc[-1]), KNOWN_KEYS)
            elif err["type"] == "missing":
                message = f"missing required key {loc[-1]!r}"
            elif err["type"] == "string_pattern_mismatch":
                pattern = err.get("ctx", {}).get("pattern", "")
                message = PATTERN_WORDS.get(pattern, message)
                message = f"{message} (got {err['input']!r})"
            elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                line, field = _line_for((*loc, "kind"), lines)
                given = err["input"] if isinstance(err["input"], dict) else {}
                kind = given.get("kind")
                known = ", ".join(KINDS.get(str(loc[0]), ()))
                if kind:
                    message = f"unknown kind {kind!r} (known: {known})" + did_you_mean(
                        str(kind), KINDS.get(str(loc[0]), ())
                    )
                else:
                    message = f"missing required key 'kind' (one of: {known})"
                    unknown = [str(k) for k in given if str(k) not in KNOWN_KEYS]
                    typo = difflib.get_close_matches("kind", unknown, 1, 0.6)
                    if typo:
                        line, field = _line_for((*loc, typo[0]), lines)
                        message = (
                            f"unknown key {typo[0]!r}: did you mean 'kind'? "
                            f"(kind is required, one of: {known})"
                        )
            elif "Duplicate" in message or "duplicate" in message:
                continue  # reported with its line by _duplicate_ids
            problems.append(ConfigProblem(name, line, field, message))
    else:
        if not problems:
            return config
    problems.sort(key=lambda p: (p.line or 0, p.field))
    raise ConfigError(problems)


def _read_tree(text: str, name: str) -> _cache.Tree:
    """The YAML stage: the data of ``text``, the line of each value (by path) and
    the duplicate keys (raw problems); raises ConfigError for a file that is no
    readable YAML mapping."""
    try:
        node, plain = _compose(text)
        if node is not None and not plain and (shape := _shape_problem(node)) is not None:
            raise ConfigError([ConfigProblem(name, shape[0], "", shape[1])])
        data = construct(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        message = f"not valid YAML: {yaml_in_words(problem)}"
        raise ConfigError([ConfigProblem(name, line, "", message)]) from None
    except RecursionError:  # the YAML parser itself recurses per level of nesting
        raise ConfigError(
            [ConfigProblem(name, None, "", f"not valid YAML: nested more than {MAX_DEPTH} deep")]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(name, 1, "", "the file must be a mapping of keys")])

    lines: dict[YamlPath, int] = {}
    raw_problems: list[str] = []
    if node is not None:
        _walk(node, (), lines, raw_problems)
    return data, lines, raw_problems


def _duplicate_ids(
    data: dict[str, Any], name: str, lines: dict[YamlPath, int]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for section in ("sources", "channels"):
        items = data.get(section)
        if not isinstance(items, list):
            continue
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if item["id"] in first:
                line, field = _line_for((section, i, "id"), lines)
                earlier = lines.get((section, first[item["id"]], "id"))
                problems.append(
                    ConfigProblem(
                        name, line, field, f"duplicate id {item['id']!r} (first at line {earlier})"
                    )
                )
            else:
                first[item["id"]] = i
    return problems
