#!/usr/bin/env python3
"""Runs bjoern or fastwsgi (neither has a command line) on one app, for bench/suite.py.

    python serve_other.py bjoern|fastwsgi PORT apps:ATTR

Binds 127.0.0.1:PORT; one process, one thread (that is all either server offers).
"""
import importlib
import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    server, port, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, BENCH)
    mod, attr = target.split(":")
    app = getattr(importlib.import_module(mod), attr)
    if server == "bjoern":
        import bjoern
        bjoern.run(app, "127.0.0.1", port)
    elif server == "fastwsgi":
        import fastwsgi
        fastwsgi.run(wsgi_app=app, host="127.0.0.1", port=port, loglevel=0)
    else:
        sys.exit(f"unknown server {server!r}")


if __name__ == "__main__":
    main()
