#!/usr/bin/env bash
# Instructions per request, counted by callgrind (exact, unlike timings on a noisy machine).
#
#   bench/callgrind.sh                 # ferrule and granian, hello, N=100 and N=4100
#   bench/callgrind.sh ferrule         # one server
#   SMALL=100 BIG=4100 TOP=25 bench/callgrind.sh
#   VENV=/path/to/venv APP=json_app bench/callgrind.sh ferrule   # another build, another app
#   WORKLOAD=fastapi bench/callgrind.sh ferrule uvicorn bare      # a row of apps.WORKLOADS
#   HASHSEED=7 bench/callgrind.sh      # PYTHONHASHSEED for the servers (default 0; "random")
#   THREADS=4 bench/callgrind.sh       # Python threads of ferrule and granian (default 1)
#   FERRULE_VENV=/tmp/ferrule-rel APP=json_app bench/callgrind.sh ferrule granian fastwsgi
#   bench/callgrind_table.py            # hello and json for ferrule, granian, fastwsgi: a table
#
# For each server it runs the server twice under `valgrind --tool=callgrind` (one worker,
# one Python thread, `apps:hello` from bench/apps.py, 127.0.0.1 only), sends SMALL requests
# the first time and BIG the second over one keep-alive connection (a tiny Python client,
# every answer checked), stops it with SIGTERM (callgrind writes its counts on exit), sums
# the instructions of every process of the run, and prints
#     (instructions(BIG) - instructions(SMALL)) / (BIG - SMALL)
# so start-up, import and shut-down cancel out. Readiness is seen in /proc/net/tcp (a
# listening socket), not by requests, so both runs serve exactly SMALL or BIG requests.
# Then the top inclusive functions of Ferrule's BIG run (callgrind_annotate --inclusive).
# WORKLOAD names a row of bench/apps.py's WORKLOADS instead of APP: its app, interface,
# method, path and body (WSGI or ASGI). Servers: ferrule, granian, uvicorn (httptools +
# uvloop, ASGI rows), fastwsgi and bjoern (single-threaded C servers, WSGI rows; run by
# bench/serve_other.py, as in the suite), and `bare`: the app alone, called in-process by a
# loop with no server and no socket (WSGI: app(environ, start_response); ASGI: await app(scope, receive, send)
# on one asyncio loop) -- the floor that no server can go below, which says how much of a
# row is the server's to win.
# TLS rows (tls-hello, tls-handshake) run the servers with the suite's certificate
# (apps.ensure_cert()) and a Python `ssl` client that does not verify it, as wrk does not:
# tls-hello over one keep-alive connection; tls-handshake with a new connection per
# request (`Connection: close`), resuming the previous connection's session as wrk does
# (its SSL_shutdown + SSL_clear keep the session: a TLS 1.3 PSK handshake with ECDHE, no
# certificate; RESUME=0 for full handshakes). HTTP/2 rows (h2-hello) use `h2load -n N -c 1
# -m 16` over cleartext prior knowledge as the client, every answer counted as a 2xx.
# Clients run outside valgrind: only the server's processes are counted.
# Uses the servers in bench/.venv (bench/run.sh --build-only installs them), or in $VENV
# (e.g. a venv built from another commit, to compare two builds); FERRULE_VENV takes
# Ferrule alone from another venv (default: $VENV), the client and the peers staying in
# $VENV; APP names the app in bench/apps.py (default hello; its answers must all be the
# same); OPENSSL_CONF (a file whose system_default section sets `Ciphersuites`) changes the
# TLS client's suite order; installs valgrind with apt-get if missing. Output files:
# bench/results/tmp/callgrind-<stamp>-<pid>/ (or $OUT), with result.json: instructions per
# request per server, app, venvs, date and commit (bench/callgrind_table.py turns those
# into a markdown table).
# Slow: Python under callgrind runs ~50x slower; about 2-4 minutes per server.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VENV:-$BENCH/.venv}"
FERRULE_VENV="${FERRULE_VENV:-$VENV}"
export VENV FERRULE_VENV APP="${APP:-hello}" WORKLOAD="${WORKLOAD:-}" RESUME="${RESUME:-1}"
SMALL="${SMALL:-100}"
BIG="${BIG:-4100}"
TOP="${TOP:-25}"
servers=("$@")
[ "${#servers[@]}" -gt 0 ] || servers=(ferrule granian)

if ! command -v valgrind >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind
fi
[ -x "$VENV/bin/python" ] || { echo "no $VENV: run bench/run.sh --build-only first" >&2; exit 1; }

[ -x "$FERRULE_VENV/bin/ferrule" ] || [[ " ${servers[*]} " != *" ferrule "* ]] ||
    { echo "no $FERRULE_VENV/bin/ferrule" >&2; exit 1; }

OUT="${OUT:-$BENCH/results/tmp/callgrind-$(date -u +%Y%m%d-%H%M%S)-$$}"
mkdir -p "$OUT"

exec "$VENV/bin/python" - "$BENCH" "$OUT" "$SMALL" "$BIG" "$TOP" "${servers[@]}" <<'PY'
import datetime, glob, http.client, json, os, re, signal, socket, ssl, subprocess, sys, time

bench, out, small, big, top = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
servers = sys.argv[6:]
venv_bin = os.path.join(os.environ["VENV"], "bin")
ferrule_bin = os.path.join(os.environ["FERRULE_VENV"], "bin")
APP = os.environ["APP"]
READY_TIMEOUT = 300      # s: Python start-up under callgrind is slow
BODY = b"Hello, world!"
HASHSEED = os.environ.get("HASHSEED", "0")
THREADS = os.environ.get("THREADS", "1")   # Python threads of ferrule and granian
TRACE = os.environ.get("TRACE_CHILDREN", "yes")   # Granian spawns its workers by exec


sys.path.insert(0, bench)
import apps as _apps  # noqa: E402

if os.environ.get("WORKLOAD"):
    WL = _apps.WORKLOADS[os.environ["WORKLOAD"]]
    APP = WL.attr
else:
    WL = _apps.Workload(name=APP, attr=APP, description=APP,
                        expect_body=BODY if APP == "hello" else None)
HEADERS = {"Content-Type": WL.content_type} if WL.content_type else {}
CERT = _apps.ensure_cert() if WL.tls else None


def argv_for(name, port):
    if name == "ferrule":
        # --interface only for ASGI: WSGI is the default, and builds from before ASGI (an
        # A/B baseline) do not know the flag
        iface = ["--interface", "asgi"] if WL.interface == "asgi" else []
        return [os.path.join(ferrule_bin, "ferrule"), "--bind", f"127.0.0.1:{port}",
                "--threads", THREADS, "--pythonpath", bench, "--log-level", "warning",
                *iface, *(["--certfile", CERT[0], "--keyfile", CERT[1]] if WL.tls else []),
                f"apps:{APP}"]
    if name == "granian":
        return [os.path.join(venv_bin, "granian"), "--interface", WL.interface, "--host",
                "127.0.0.1", "--port", str(port), "--workers", "1", "--blocking-threads", THREADS,
                "--runtime-threads", "1", "--http", "2" if WL.http2 else "1", "--no-ws",
                "--no-access-log", "--log-level", "warning", "--working-dir", bench,
                *(["--ssl-certificate", CERT[0], "--ssl-keyfile", CERT[1]] if WL.tls else []),
                f"apps:{APP}"]
    if name == "uvicorn":
        return [os.path.join(venv_bin, "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
                "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--log-level", "warning", "--app-dir", bench, f"apps:{APP}"]
    if name in ("fastwsgi", "bjoern"):
        if WL.interface != "wsgi":
            sys.exit(f"{name} serves WSGI apps only")
        # one process, one thread: how bench/suite.py runs them too
        return [os.path.join(venv_bin, "python"), os.path.join(bench, "serve_other.py"), name,
                str(port), f"apps:{APP}"]
    sys.exit(f"unknown server {name!r} (ferrule, granian, uvicorn, fastwsgi, bjoern, bare)")


BARE = r"""
import asyncio, sys
sys.path.insert(0, sys.argv[1])
import apps
wl = apps.WORKLOADS.get(sys.argv[3]) if sys.argv[3] else None
app = getattr(apps, sys.argv[2])
n = int(sys.argv[4])
method, path = (wl.method, wl.path) if wl else ("GET", "/")
body = (wl.body or b"") if wl else b""
ctype = (wl.content_type if wl else None)
if (wl.interface if wl else "wsgi") == "wsgi":
    import io
    def one():
        env = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
               "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
               "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1",
               "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
               "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": True,
               "wsgi.multiprocess": False, "wsgi.run_once": False,
               "CONTENT_LENGTH": str(len(body))}
        if ctype:
            env["CONTENT_TYPE"] = ctype
        out = []
        it = app(env, lambda status, headers, exc_info=None: out.append(status))
        try:
            b"".join(it)
        finally:
            getattr(it, "close", lambda: None)()
        assert out and out[0].startswith("200"), out
    for _ in range(n):
        one()
else:
    headers = [(b"host", b"127.0.0.1")]
    if ctype:
        headers.append((b"content-type", ctype.encode()))
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    async def main():
        state = {}
        # lifespan, as a server would run it
        async def lreceive():
            if not state:
                state["s"] = 1
                return {"type": "lifespan.startup"}
            await asyncio.Event().wait()
        async def lsend(m):
            state["l"] = m
        life = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                         "state": {}}, lreceive, lsend))
        await asyncio.sleep(0.05)
        for _ in range(n):
            scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
                     "http_version": "1.1", "method": method, "scheme": "http",
                     "path": path, "raw_path": path.encode(), "query_string": b"",
                     "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000),
                     "server": ("127.0.0.1", 80), "state": {}}
            sent = []
            got = [False]
            async def receive():
                if not got[0]:
                    got[0] = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.Event().wait()
            async def send(m):
                sent.append(m)
            await app(scope, receive, send)
            assert sent and sent[0].get("status") == 200, sent[:1]
        life.cancel()
    asyncio.run(main())
"""


def run_bare(n):
    """The app alone: n calls in one process under callgrind, no server, no socket."""
    tag = f"bare-{n}"
    rundir = os.path.join(out, tag)
    os.makedirs(rundir, exist_ok=True)
    cmd = ["valgrind", "--tool=callgrind", os.path.join(venv_bin, "python"), "-c", BARE,
           bench, APP, os.environ.get("WORKLOAD", ""), str(n)]
    with open(f"{out}/{tag}.log", "wb") as log:
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=rundir, check=True,
                       env=run_env())
    return rundir


def run_env():
    """The environment of a counted process. One hash seed for every run: str hashes decide
    where environ keys land in the dict and how long its probe chains are, which moved
    hello's count by up to ~800 instructions/request between runs of one build
    (HASHSEED=random shows it)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if HASHSEED != "random":
        env["PYTHONHASHSEED"] = HASHSEED
    env.pop("PYTHONPATH", None)
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True once some process listens on 127.0.0.1:port (read from /proc, no connection)."""
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            return any(l.split()[1] == want and l.split()[3] == "0A" for l in f.readlines()[1:])
    except OSError:
        return False


def run_once(name, n):
    if name == "bare":
        rundir = run_bare(n)
        return count(rundir, name)
    port = free_port()
    tag = f"{name}-{n}"
    # Output files: the default callgrind.out.<pid> in a directory per run. (Valgrind 3.19
    # loses a --callgrind-out-file in a forked child — "No filename given" — so a worker
    # forked by the master would not be counted.)
    rundir = os.path.join(out, tag)
    os.makedirs(rundir, exist_ok=True)
    cmd = ["valgrind", "--tool=callgrind", f"--trace-children={TRACE}"] + argv_for(name, port)
    log = open(f"{out}/{tag}.log", "wb")
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=rundir, env=run_env(),
                         start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not listening(port):
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start (see {out}/{tag}.log)")
            time.sleep(0.5)
        time.sleep(2.0)          # let a pre-forked worker finish its own start-up
        if WL.http2:
            drive_h2load(name, port, n)
        elif WL.tls and "Connection: close" in WL.wrk_headers:
            drive_handshakes(name, port, n)
        else:
            drive_keepalive(name, port, n)
        time.sleep(1.0)
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        log.close()
    return count(rundir, name)


def drive_keepalive(name, port, n):
    """n requests over one keep-alive connection (https for a TLS row)."""
    if WL.tls:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=120,
                                           context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    expected = WL.expect_body
    for i in range(n):
        conn.request(WL.method, WL.path, body=WL.body, headers=HEADERS)
        r = conn.getresponse()
        body = r.read()
        expected = body if expected is None else expected
        if r.status != WL.expect_status or body != expected:
            raise SystemExit(f"{name}: request {i}: {r.status} {body[:60]!r}")
    conn.close()


def drive_handshakes(name, port, n):
    """n requests, each on a new TLS connection with `Connection: close`, resuming the last
    connection's session unless RESUME=0 (wrk resumes: see the header)."""
    ctx = ssl._create_unverified_context()
    req = (f"{WL.method} {WL.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           "Connection: close\r\n\r\n").encode()
    session, resumed = None, 0
    for i in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=120) as raw:
            with ctx.wrap_socket(raw, session=session) as tls:
                tls.sendall(req)
                data = b""
                while chunk := tls.recv(65536):
                    data += chunk
                resumed += tls.session_reused
                if os.environ["RESUME"] != "0":
                    session = tls.session
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 %d" % WL.expect_status) or (
                WL.expect_body is not None and body != WL.expect_body):
            raise SystemExit(f"{name}: connection {i}: {data[:80]!r}")
    print(f"  {name}: {resumed} of {n} handshakes resumed a session", flush=True)


def drive_h2load(name, port, n):
    """n requests by h2load over cleartext HTTP/2 (prior knowledge): one connection, 16
    streams in flight."""
    cmd = ["h2load", "-n", str(n), "-c", "1", "-m", "16", f"http://127.0.0.1:{port}{WL.path}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    m = re.search(r"status codes: (\d+) 2xx", res.stdout)
    if res.returncode != 0 or not m or int(m.group(1)) != n:
        raise SystemExit(f"{name}: h2load: {res.stdout[-600:]}{res.stderr[-300:]}")


def count(rundir, name):
    files = {}
    for fn in glob.glob(f"{rundir}/callgrind.out.*"):
        with open(fn, errors="replace") as f:
            for line in f:
                m = re.match(r"(?:summary|totals):\s+(\d+)", line)
                if m:
                    files[fn] = int(m.group(1))
                    break
    total = sum(files.values())
    if not total:
        raise SystemExit(f"{name}: no callgrind counts in {rundir} (did it exit cleanly?)")
    return total, files


def git(*a):
    r = subprocess.run(["git", "-C", bench, *a], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def write_result():
    """result.json, rewritten after every server (a later failure keeps the earlier ones)."""
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "app": APP, "workload": os.environ.get("WORKLOAD") or None,
                   "small": small, "big": big, "instructions_per_request": results,
                   "venv": os.environ["VENV"], "ferrule_venv": os.environ["FERRULE_VENV"],
                   "ferrule_build": read(os.path.join(os.environ["FERRULE_VENV"], "ferrule-build.txt")),
                   "repo_head": git("rev-parse", "--short", "HEAD"),
                   "valgrind": subprocess.run(["valgrind", "--version"], capture_output=True,
                                              text=True).stdout.strip(),
                   "versions": versions}, f, indent=1)


def dist_version(d):
    import importlib.metadata as m
    try:
        return m.version(d)
    except m.PackageNotFoundError:
        return None


versions = {d: dist_version(d) for d in servers if d in ("granian", "uvicorn", "fastwsgi", "bjoern")}
if "ferrule" in servers:
    versions["ferrule"] = subprocess.run([os.path.join(ferrule_bin, "ferrule"), "--version"],
                                         capture_output=True, text=True).stdout.strip()
results = {}
for name in servers:
    a, _ = run_once(name, small)
    b, files = run_once(name, big)
    per = (b - a) / (big - small)
    results[name] = per
    write_result()
    print(f"{name}: {a:,} instructions for {small} requests, {b:,} for {big}: "
          f"{per:,.0f} instructions/request", flush=True)
    print(f"  processes: " + ", ".join(f"{os.path.basename(f)}: {n:,}" for f, n in files.items()))
    if name == "ferrule":
        # the process that served (the worker): the one with the most instructions
        main = max(files, key=files.get)
        print(f"\ntop {top} inclusive functions in Ferrule's own code (_ferrule*.so), "
              f"{big} requests, {main}:")
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                              main], capture_output=True, text=True).stdout
        lines = [l for l in ann.splitlines()
                 if re.match(r"\s*[\d,]+ \(", l) and "_ferrule" in l]
        for l in lines[:top]:
            # drop the long source path, keep count, share and function
            m = re.match(r"\s*([\d,]+) \(\s*([\d.]+%)\)\s+(?:.*?:)?(.+?) \[", l)
            print(f"  {m.group(1):>15} {m.group(2):>7}  {m.group(3)}" if m else l)
        print()
if "ferrule" in results and "granian" in results:
    print(f"ferrule / granian instructions per request: "
          f"{results['ferrule'] / results['granian']:.2f}")
print(f"callgrind files: {out}")
PY
