"""`python -m ferrule`: the same as the `ferrule` command."""

from __future__ import annotations

from ferrule.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
