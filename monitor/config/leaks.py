"""What ``check`` warns about in a valid file: secrets written into it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from monitor.config.loader import MAX_DEPTH, YamlPath, compose
from monitor.errors import ConfigProblem

# Keys whose value is a secret: ``secret``, ``token``, ``password``, ``apikey`` and
# their spellings (``api_key``, ``X-Api-Key``, ``access_token``, ``Authorization``).
_SECRET_KEY = re.compile(
    r"(token|secret|password|passwd|pwd|apikey|accesskey|secretkey|privatekey|signature"
    r"|authorization|auth|cookie|credentials?)$"
)


def config_warnings(path: str | Path) -> list[ConfigProblem]:
    """What ``check`` warns about in a file that is valid: secrets written into it.

    A literal value under a secret-looking key (a webhook's ``secret``, a
    header ``Authorization``, a form field ``token``), an Apprise URL written
    out (it holds the service's key), or a URL with a password or key in it
    (see :func:`notifiers.redact.redact_url`). Such a file is a secret itself:
    it gets copied, committed and shown. Values written ``${NAME}`` are fine.
    The messages never repeat the value.
    """
    from notifiers.redact import redact_url

    name = str(path)
    try:
        node = compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []  # load_config reports these
    warnings: list[ConfigProblem] = []
    advice = "write it ${NAME} and set NAME in the environment"

    def field(path: YamlPath) -> str:
        out = ""
        for part in path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out

    def walk(node: yaml.Node, path: YamlPath, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i), depth + 1)
        if not isinstance(node, yaml.MappingNode):
            return
        pairs = [(k.value, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        kind = next((v.value for k, v in pairs if k == "kind" and hasattr(v, "value")), None)
        for key, value in pairs:
            where = (*path, key)
            if not isinstance(value, yaml.ScalarNode):
                walk(value, where, depth + 1)
                continue
            text = str(value.value)
            if "${" in text or value.tag.endswith((":null", ":bool")) or len(text) < 4:
                continue
            line = value.start_mark.line + 1
            plain = re.sub(r"[^a-z0-9]", "", str(key).lower())
            if _SECRET_KEY.search(plain):
                message = f"a secret written in the file: {advice}"
            elif key == "url" and kind == "apprise":
                message = f"an Apprise URL holds the service's key: {advice}"
            elif "://" in text and redact_url(text) != text:
                message = f"a URL with a password or key in it: {advice}"
            else:
                continue
            warnings.append(ConfigProblem(name, line, field(where), message))

    if node is not None:
        walk(node, (), 0)
    return warnings
