"""Value types and rules: what a setting's value may be. A type converts what the user wrote
(a CLI or env string, or a TOML or keyword value) into the value the core receives, raising
`InvalidValue` with the broken rule; a `Check` is a rule on the converted value. Booleans are
never numbers here, though Python says `True == 1`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, ClassVar


class InvalidValue(ValueError):
    """A value broke a rule. `rule` completes "<setting> ...", `got` shows the value."""

    def __init__(self, rule: str, got: str) -> None:
        super().__init__(f"{rule}, got {got}")
        self.rule = rule
        self.got = got


class ValueType:
    """Converts user input to a setting's value. `name` is what the docs call the type."""

    name = "value"

    def convert(self, raw: object) -> Any:
        raise NotImplementedError

    def show(self, value: Any) -> str:
        """How a converted value appears after "got" in an error message."""
        return repr(value)


class Int(ValueType):
    name = "integer"
    _SYNTAX = re.compile(r"\s*[+-]?[0-9]+\s*")

    def convert(self, raw: object) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and self._SYNTAX.fullmatch(raw):
            return int(raw)
        raise InvalidValue("must be an integer", repr(raw))

    def show(self, value: Any) -> str:
        return str(value)


class Bool(ValueType):
    name = "boolean"
    _WORDS: ClassVar[dict[str, bool]] = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}

    def convert(self, raw: object) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in self._WORDS:
            return self._WORDS[raw.strip().lower()]
        raise InvalidValue("must be true or false", repr(raw))


class Str(ValueType):
    name = "string"

    def convert(self, raw: object) -> str:
        if isinstance(raw, str):
            return raw
        raise InvalidValue("must be a string", repr(raw))


class OptionalStr(ValueType):
    """A string where empty (or None, from Python) means "off"."""

    name = "string (empty = off)"

    def convert(self, raw: object) -> str | None:
        if raw is None or raw == "":
            return None
        if isinstance(raw, str):
            return raw
        raise InvalidValue("must be a string", repr(raw))


class _Path(OptionalStr):
    name = "path"


class Choice(ValueType):
    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.name = "one of " + ", ".join(choices)

    def convert(self, raw: object) -> str:
        if isinstance(raw, str) and raw.strip().lower() in self.choices:
            return raw.strip().lower()
        raise InvalidValue("must be one of " + ", ".join(self.choices), repr(raw))


class Duration(ValueType):
    """A time span, converted to float seconds: `30` (seconds), `30s`, `500ms`, `2m`, `1h30m`.

    Units come largest first, each at most once, without spaces. TOML numbers are seconds.
    """

    name = "duration"
    _NUMBER = r"[0-9]+(?:\.[0-9]+)?"
    _SYNTAX = re.compile(
        rf"(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s)?(?:(?P<ms>{_NUMBER})ms)?"
    )
    _SECONDS: ClassVar[dict[str, Any]] = {"h": 3600, "m": 60, "s": 1, "ms": Decimal("0.001")}
    RULE = "must be a duration like 30, 30s, 500ms or 1h30m"

    def convert(self, raw: object) -> float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):
            text = raw.strip()
            if re.fullmatch(self._NUMBER, text):
                return float(text)
            match = self._SYNTAX.fullmatch(text)
            if text and match:
                total = sum(Decimal(part) * self._SECONDS[unit]
                            for unit, part in match.groupdict().items() if part is not None)
                return float(total)
        raise InvalidValue(self.RULE, repr(raw))

    def show(self, value: Any) -> str:
        return f"{value:g}s" if isinstance(value, float) and math.isfinite(value) else repr(value)


class ByteSize(ValueType):
    """A size in bytes, converted to int: `8192`, `8KiB`, `8 KiB`, `1MiB`, `1GiB`, `1kB`.

    Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (kB, MB, GB, TB) powers
    of 1000; units are case-insensitive. A fraction is allowed when the result is a whole
    number of bytes (`1.5KiB`).
    """

    name = "size"
    _SYNTAX = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")
    _UNITS: ClassVar[dict[str, int]] = {"": 1, "b": 1,
              "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
              "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
    RULE = "must be a size like 8192, 8KiB or 1MiB"

    def convert(self, raw: object) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            match = self._SYNTAX.fullmatch(raw)
            if match and match.group(2).lower() in self._UNITS:
                try:
                    size = Decimal(match.group(1)) * self._UNITS[match.group(2).lower()]
                except InvalidOperation:  # pragma: no cover - the regex admits only decimals
                    size = Decimal("NaN")
                if size == size.to_integral_value():
                    return int(size)
                raise InvalidValue("must be a whole number of bytes", repr(raw))
        raise InvalidValue(self.RULE, repr(raw))

    def show(self, value: Any) -> str:
        return str(value)


class StrList(ValueType):
    """A list of strings. From text (CLI, env var) it is comma-separated; a TOML file or a
    keyword argument may give a list or a comma-separated string. `item` may check and
    normalise each entry. Converted to a tuple (settings are immutable)."""

    def __init__(self, item: Callable[[str], str] | None = None) -> None:
        self.item = item
        self.name = "list of strings (comma-separated in env vars and flags)"

    def convert(self, raw: object) -> tuple[str, ...]:
        if isinstance(raw, str):
            items = [part.strip() for part in raw.split(",")]
            items = [part for part in items if part]
        elif isinstance(raw, (list, tuple)) and all(isinstance(part, str) for part in raw):
            items = list(raw)
        else:
            raise InvalidValue("must be a list of strings", repr(raw))
        if self.item is not None:
            items = [self.item(part) for part in items]
        return tuple(items)

    def show(self, value: Any) -> str:
        return repr(list(value))


class JsonObject(ValueType):
    """A mapping: a dict (TOML table, Python config file, keyword) or a JSON object as text
    (CLI, env var). Empty (or None) means unset."""

    name = "JSON object (empty = unset)"

    def convert(self, raw: object) -> dict[str, Any] | None:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        if isinstance(raw, str):
            import json

            try:
                raw = json.loads(raw)
            except ValueError as err:
                raise InvalidValue(f"must be a JSON object ({err})", repr(raw)) from None
        if isinstance(raw, dict):
            return dict(raw)
        raise InvalidValue("must be a JSON object", repr(raw))

    def show(self, value: Any) -> str:
        return repr(value)


class OrOff(ValueType):
    """Another type, where empty (or None, from Python) means "off"."""

    def __init__(self, inner: ValueType) -> None:
        self.inner = inner
        self.name = f"{inner.name} (empty = off)"

    def convert(self, raw: object) -> Any:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        return self.inner.convert(raw)

    def show(self, value: Any) -> str:
        return self.inner.show(value)


INT = Int()
BOOL = Bool()
STR = Str()
OPTIONAL_STR = OptionalStr()
PATH = _Path()
DURATION = Duration()
BYTE_SIZE = ByteSize()


@dataclass(frozen=True)
class Check:
    """A rule a converted value must follow. `rule` completes "<setting> ..." in messages."""

    rule: str
    ok: Callable[[Any], bool]


def at_least(minimum: float) -> Check:
    return Check(f"must be >= {minimum:g}", lambda value: value >= minimum)


def at_most(maximum: float, shown: str | None = None) -> Check:
    return Check(f"must be <= {shown or maximum}", lambda value: value <= maximum)


# Bounds that keep values inside the core's integer types (i32 for counts handed to the
# kernel, i64 for byte counts) and inside what Rust's `Duration::from_secs_f64` accepts.
MAX_COUNT = 2**31 - 1
MAX_BYTES = 2**63 - 1
COUNT = (at_least(1), at_most(MAX_COUNT))
OFF_OR_COUNT = (at_least(0), at_most(2**63 - 1))
SIZE = (at_least(1), at_most(MAX_BYTES))
TIMEOUT = (
    Check("must be > 0", lambda value: value > 0),
    # 24h: far beyond any sane request timeout; stops typos like `30h` and infinities.
    at_most(86400.0, "24h"),
)
