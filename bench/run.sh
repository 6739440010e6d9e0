#!/usr/bin/env bash
# The one command: install what the benchmark needs (idempotent), build Ferrule from this
# repo in release mode into bench/.venv, then run bench/run.py with the given arguments.
#
#   bench/run.sh                          # hello, 3 rounds x 10 s, 1 thread
#   bench/run.sh --duration 3 --rounds 1  # quick look
#   bench/run.sh --skip-build ...         # keep the Ferrule already in bench/.venv
#   bench/run.sh --build-only             # install and build, run nothing (exit 1 if the build failed)
#   bench/run.sh --build-head ...         # build the committed HEAD (a clean `git archive`
#                                         # export), not the work tree others may be editing
#   bench/run.sh --suite full             # the full suite (bench/suite.py): every workload,
#                                         # every peer, 1p and 2p; ~30 min
#   bench/run.sh --suite full --workloads hello,json   # a part of it
#
# A Ferrule that fails to build is uninstalled (never benchmark a stale build) and shows up
# as FAILED in the table; the peers are still measured.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
VENV="$BENCH/.venv"
PYTHON="${PYTHON:-python3}"

skip_build=0
build_only=0
build_head=0
suite=0
args=()
for a in "$@"; do
    case "$a" in
        --skip-build) skip_build=1 ;;
        --build-only) build_only=1 ;;
        --build-head) build_head=1 ;;
        --suite|--suite=*) suite=1; args+=("$a") ;;
        *) args+=("$a") ;;
    esac
done

say() { printf '[bench] %s\n' "$*" >&2; }

# --- system packages (Debian) -----------------------------------------------------------
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
apt_pkgs=()
command -v wrk >/dev/null 2>&1 || apt_pkgs+=(wrk)
# h2load (the h2-hello row) and openssl (the TLS rows' self-signed certificate)
command -v h2load >/dev/null 2>&1 || apt_pkgs+=(nghttp2-client)
command -v openssl >/dev/null 2>&1 || apt_pkgs+=(openssl)
command -v taskset >/dev/null 2>&1 || apt_pkgs+=(util-linux)
command -v "$PYTHON" >/dev/null 2>&1 || apt_pkgs+=(python3)
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then apt_pkgs+=(python3-venv); fi
# the suite's peers: nginx (the ceiling reference for hello); uwsgi and bjoern are built
# from source by pip (a C compiler, Python headers; bjoern also libev)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || apt_pkgs+=(nginx-light)
command -v cc >/dev/null 2>&1 || apt_pkgs+=(build-essential)
dpkg -s libev-dev >/dev/null 2>&1 || apt_pkgs+=(libev-dev)
if ! "$PYTHON" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' >/dev/null 2>&1; then
    apt_pkgs+=(python3-dev)
fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
    say "installing: ${apt_pkgs[*]}"
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${apt_pkgs[@]}"
fi

# --- virtualenv with the peers ----------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$BENCH/requirements.txt"

# --- Ferrule from this repo, release build ----------------------------------------------
built=0
if [ "$skip_build" -eq 0 ]; then
    rev="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    # Dirty = anything outside bench/ differs from HEAD, untracked source files included.
    src="$REPO"
    if [ "$build_head" -eq 1 ]; then
        # the committed HEAD only: others' half-made edits in the work tree stay out
        src="$VENV/ferrule-src"
        rm -rf "$src" && mkdir -p "$src"
        git -C "$REPO" archive HEAD | tar -x -C "$src"
        rev="$rev (clean export of HEAD)"
    elif [ -n "$(git -C "$REPO" status --porcelain -- . ':!bench' 2>/dev/null)" ]; then
        rev="$rev+dirty"
    fi
    build_log="$VENV/ferrule-build.log"
    say "building Ferrule ($rev) in release mode; log: $build_log"
    # A target dir of our own: a release+LTO build here never waits on (or invalidates)
    # the debug builds in $REPO/target.
    if ! command -v cargo >/dev/null 2>&1; then
        say "no cargo on PATH: a Rust toolchain (the version Cargo.toml asks for) is needed"
    fi
    if CARGO_TARGET_DIR="$VENV/cargo-target" "$VENV/bin/python" -m pip install -v \
            --disable-pip-version-check --force-reinstall "$src" >"$build_log" 2>&1; then
        echo "built from $rev at $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$VENV/ferrule-build.txt"
        rm -f "$VENV/ferrule-build-failed.txt"
        built=1
        say "Ferrule installed"
    else
        say "Ferrule failed to build; it will be reported as FAILED. Tail of $build_log:"
        tail -n 25 "$build_log" >&2 || true
        "$VENV/bin/python" -m pip uninstall -y -q ferrule >/dev/null 2>&1 || true
        rm -f "$VENV/ferrule-build.txt"
        { echo "build of $rev failed at $(date -u +%Y-%m-%dT%H:%M:%SZ) (bench/.venv/ferrule-build.log):"
          grep -E '^ *(error|Caused by)' "$build_log" | head -n 8 || true; } >"$VENV/ferrule-build-failed.txt"
    fi
fi

if [ "$build_only" -eq 1 ]; then
    [ "$built" -eq 1 ]; exit $?
fi

if [ "$suite" -eq 1 ]; then
    # idle holds 10 000 connections: client and server each need that many descriptors
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    say "open-file limit: $(ulimit -n)"
    exec "$VENV/bin/python" "$BENCH/suite.py" ${args[@]+"${args[@]}"}
fi
exec "$VENV/bin/python" "$BENCH/run.py" ${args[@]+"${args[@]}"}
