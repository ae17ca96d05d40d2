"""The selector grammar every plugin kind shares: ``name`` or ``name:key=value,key=value``.

Examples (what a user types)::

    --metrics fid:layer=pool2,kid,lpips:net=vgg,mode=paired
    --metrics @seed003
    -d lus-phantom:n_per_class=16,geometry=convex
    -d folder:/data/my_images
    -g sinddm:preset=paper,train.lr=1e-4

Rules: items of a list are separated by commas; after ``name:``, every comma-separated
``key=value`` belongs to that item, and the next bare word starts a new item. Values may be
quoted (``'a,b'`` or ``"a,b"``) or bracketed (``[1,2,4]``) to contain commas. ``@suite``
expands to a named list (see :mod:`usbench.catalog`). A kind may accept one positional
value (``folder:PATH``): the first word after the colon when it has no ``=``.

Parsing knows nothing of plugins; :mod:`usbench.plugins` resolves a selector against the
registry, its aliases and the plugin's ``Config``.
"""

from __future__ import annotations

from dataclasses import dataclass

from usbench.config import ConfigError


@dataclass(frozen=True)
class Selector:
    """A parsed selector.

    name: the plugin (or alias) name; ``@x`` for a suite.
    values: ``(key, value)`` pairs as typed (strings, quotes removed), in order.
    positional: the bare value after the colon (``folder:PATH``), or ``None``.
    """

    name: str
    values: tuple[tuple[str, str], ...] = ()
    positional: str | None = None

    @property
    def options(self) -> dict[str, str]:
        """``values`` as a dict (a repeated key keeps its last value)."""
        return dict(self.values)

    def __str__(self) -> str:
        return format_selector(self.name, dict(self.values), positional=self.positional)


def parse_selector(text: str, *, positional: bool = False) -> Selector:
    """One selector (``-g``/``-d``); ``positional`` allows ``name:VALUE``."""
    text = text.strip()
    if not text:
        raise ConfigError("empty selector; write a name, e.g. ddpm or lus-phantom:n_per_class=8")
    name, colon, rest = text.partition(":")
    name = name.strip()
    if not name:
        raise ConfigError(f"{text!r}: the selector starts with ':'; put the name first")
    if not colon:
        return Selector(name)
    tokens = _split_top_level(rest)
    bare = None
    if tokens and "=" not in _unquoted_head(tokens[0]):
        if not positional:
            raise ConfigError(
                f"{text!r}: expected key=value after '{name}:' (e.g. {name}:key=value); "
                "separate several items with commas only between items"
            )
        bare = _unquote(tokens.pop(0))
    return Selector(name, tuple(_assignment(t, text) for t in tokens), bare)


def parse_selector_list(text: str) -> list[Selector]:
    """A comma-separated list of selectors (``--metrics``, ``--tasks``)."""
    items: list[Selector] = []
    for token in _split_top_level(text):
        head = _unquoted_head(token)
        if "=" in head and ":" not in head.split("=", 1)[0]:
            if not items:
                raise ConfigError(f"{text!r}: {token!r} has no name before it")
            last = items[-1]
            items[-1] = Selector(last.name, (*last.values, _assignment(token, text)))
        else:
            items.append(parse_selector(token))
    return items


def format_selector(name: str, values: dict[str, object], *, positional: str | None = None) -> str:
    """The text form of a selector; values that hold commas or quotes are quoted."""
    parts = [] if positional is None else [_quote(positional)]
    parts += [f"{key}={_quote(_text(value))}" for key, value in values.items()]
    return name if not parts else f"{name}:{','.join(parts)}"


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _quote(text: str) -> str:
    if text.startswith("[") and text.endswith("]"):
        return text
    if any(c in text for c in ",'\"=") or text != text.strip():
        return '"' + text.replace('"', '\\"') + '"'
    return text


def _assignment(token: str, whole: str) -> tuple[str, str]:
    key, sep, value = token.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{whole!r}: expected key=value, got {token!r}")
    return key.strip(), _unquote(value.strip())


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1].replace(f"\\{text[0]}", text[0])
    return text


def _unquoted_head(token: str) -> str:
    """The part of ``token`` before its first quote or bracket."""
    for i, char in enumerate(token):
        if char in "'\"[(":
            return token[:i]
    return token


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside quotes and brackets; empty items dropped."""
    tokens, current, quote, depth = [], [], "", 0
    for char in text:
        if quote:
            current.append(char)
            if char == quote and (len(current) < 2 or current[-2] != "\\"):
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            tokens.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if quote:
        raise ConfigError(f"{text!r}: a quote ({quote}) is not closed")
    tokens.append("".join(current).strip())
    return [t for t in tokens if t]


def file_stem(selector: str) -> str:
    """A selector as a portable file-name part: ``sifid:layer=pool2`` → ``sifid_layer-pool2``.

    ``:`` and ``,`` become ``_``, ``=`` becomes ``-``; quotes, brackets and path separators
    are dropped, so the name is valid on every file system.
    """
    stem = selector.replace(":", "_").replace(",", "_").replace("=", "-")
    return "".join(c for c in stem if c not in "'\"[]()/\\ ")
