"""The "Static files" settings: served by the worker's Rust side, without the app."""

from __future__ import annotations

import re

from ferrule.settings.setting import Setting
from ferrule.settings.values import (
    BOOL,
    DURATION,
    OPTIONAL_STR,
    Check,
    InvalidValue,
    StrList,
    at_least,
    at_most,
)

# Static mounts: `URL_PREFIX=DIRECTORY`, optionally `;max_age=DURATION` (uWSGI's
# `--static-map` spelling, plus a per-mount cache lifetime). The prefix is a URL path as
# clients send it: it starts with `/`, has no trailing `/` (`/` alone mounts the whole site)
# and only characters that need no percent-encoding, so it matches the request target byte for
# byte. The directory is kept as written: a relative one is opened after `chdir`.

STATIC_MAP_RULE = "must be URL_PREFIX=DIRECTORY, e.g. /static=./static"
_URL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")
#: The longest `max_age` a mount may set: ten years, beyond any cache's horizon.
_MAX_AGE_LIMIT = 10 * 365 * 86400


def normalize_static_mount(text: str) -> str:
    """`text` as the core expects it: `"/static=./static"` or `"/media=media;max_age=60"`
    (whole seconds).

    # Errors
    `InvalidValue` naming the broken rule.
    """
    entry = text.strip()
    prefix, equals, rest = entry.partition("=")
    if not equals or not rest:
        raise InvalidValue(STATIC_MAP_RULE, repr(text))
    directory, max_age = rest, None
    head, marker, age_text = rest.rpartition(";max_age=")
    if marker:
        directory = head
        try:
            seconds = DURATION.convert(age_text)
        except InvalidValue:
            raise InvalidValue("must give max_age as a duration like 60s or 1h", repr(text)) from None
        if seconds > _MAX_AGE_LIMIT:
            raise InvalidValue("must give a max_age of at most 10 years", repr(text))
        max_age = int(seconds)
    if prefix != "/":
        prefix = prefix.rstrip("/") if len(prefix) > 1 else prefix
    if not _URL_PATH.fullmatch(prefix) or "//" in prefix or "/./" in prefix + "/" or "/../" in prefix + "/":
        raise InvalidValue(
            "must start with a URL path of plain characters (no %, ?, # or dot segments) before '='",
            repr(text),
        )
    if not directory or "\0" in directory:
        raise InvalidValue("must name a directory after '='", repr(text))
    return f"{prefix}={directory}" + ("" if max_age is None else f";max_age={max_age}")


def _static_prefixes_differ(value: tuple[str, ...]) -> bool:
    prefixes = [entry.partition("=")[0] for entry in value]
    return len(set(prefixes)) == len(prefixes)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="static_map",
        section="Static files",
        type=StrList(item=lambda text: normalize_static_mount(text)),
        default=(),
        default_text="none",
        flags=("--static-map",),
        repeatable=True,
        metavar="PREFIX=DIR",
        core=True,
        checks=(Check("must not mount the same URL prefix twice", _static_prefixes_differ),),
        help=(
            "Serve the files under `DIR` at the URL path `PREFIX` (`/static=./static`), "
            "without the app: GET and HEAD, conditional and range requests, precompressed "
            "`.br`/`.gz` siblings. Add `;max_age=DURATION` to give this mount its own "
            "`static_max_age`. A path under the prefix that names no file goes to the app; a "
            "refused one (dot segments, dotfiles, encoded slashes, symlinks out of `DIR`) is a "
            "404. Repeat the flag for several mounts; the longest prefix wins. See "
            "docs/static.md."
        ),
    ),
    Setting(
        name="static_max_age",
        section="Static files",
        type=DURATION,
        # 1h: a deploy's unhashed assets reach clients within the hour; hashed names are
        # cached for a year whatever this says. Chosen without measurement.
        default="1h",
        flags=("--static-max-age",),
        metavar="DURATION",
        core=True,
        checks=(at_least(0), at_most(float(_MAX_AGE_LIMIT), "10 years")),
        help=(
            "How long clients and caches may reuse a static file without asking again: "
            "`Cache-Control: public, max-age=SECONDS`; `0` sends `no-cache` (always "
            "revalidate, answered with 304 when unchanged). Files whose names carry a content "
            "hash (`app.3f2a1b9c0d4e.css`, `main-5e0c9a1b.js`) get a year and `immutable` "
            "unless the mount's max_age is 0."
        ),
    ),
    Setting(
        name="static_index",
        section="Static files",
        type=OPTIONAL_STR,
        default=None,
        default_text="none (directories are not served)",
        flags=("--static-index",),
        metavar="NAME",
        core=True,
        checks=(Check("must be a plain file name", lambda value: value is None or (
            "/" not in value and "\\" not in value and "\0" not in value
            and not value.startswith("."))),),
        help=(
            "The file served for a directory's address under a static mount, e.g. "
            "`index.html`: `/docs/` serves `docs/index.html` and `/docs` redirects to `/docs/`. "
            "Directories are never listed."
        ),
    ),
    Setting(
        name="static_follow_symlinks",
        section="Static files",
        type=BOOL,
        default=False,
        flags=("--static-follow-symlinks",),
        core=True,
        help=(
            "Follow symlinks that lead out of a static mount's directory (e.g. a deploy that "
            "links `static/` into a shared release folder). Off: such links are refused (404); "
            "links that stay inside the directory are always followed."
        ),
    ),
)
