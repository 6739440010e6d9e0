#!/bin/sh
# Runs each fuzz target for SECS seconds (default 720), one after the other, at nice 19,
# with debug assertions (the httparse cross-check). Logs go to fuzz/logs/<target>.log.
#   sh fuzz/run.sh [SECS] [target...]
set -u
cd "$(dirname "$0")"
secs=${1:-720}
shift 2>/dev/null || true
targets=${*:-request_stream request_head chunked_body proxy_header uwsgi_packet forwarded conn_loop}
mkdir -p logs
python3 seed.py
for t in $targets; do
    RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz run -a "$t" "corpus/$t" -- \
        -dict=http.dict -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
        -timeout=10 > "logs/$t.log" 2>&1
    echo "$t exit $?" >> logs/summary.log
done
