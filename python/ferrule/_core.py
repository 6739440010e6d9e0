"""The one way into the compiled core, `ferrule._ferrule`: imported when first needed, so that
settings and the command's flag and config errors are reported even from a source tree where
it is not built. `__init__` (serve, `__version__`) and `cli` (serving, `--version`) use it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["core"]


def core() -> Any:
    """The compiled core module (unit tests put a fake one in `sys.modules`, which
    `import_module` returns)."""
    return importlib.import_module("ferrule._ferrule")
