#!/bin/bash
# Service CPU per 64 B echo over http: the server pinned to core 1, wrk pinned to core 0.
# usage: tools/http_cpu.sh mochiweb|inets [wrk connections, default 8] [seconds, default 10]
# VM flags come from ERL_FLAGS as for the service; SERVER_CORES (default 1) is the
# taskset list for the server ("0,1" leaves it free to use both cores; the harness pins services to core 1, the default here). Prints one line:
#   server conns requests req/s cpu_us_per_req p50 p99 ERL_FLAGS
# CPU is utime+stime of the beam.smp process (/proc/<pid>/stat, clock ticks).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
server=${1:?usage: $0 mochiweb|inets [conns] [seconds]}
conns=${2:-8}
secs=${3:-10}
port=$(/work/main/.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
cores=${SERVER_CORES:-1}
case "$server" in
    mochiweb)
        taskset -c "$cores" "$here/bin/bench-erlang" http --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
        ;;
    inets)
        mkdir -p "$here/tools/ebin"
        erlc -o "$here/tools/ebin" "$here/tools/bench_http_inets.erl"
        # nodelay through the kernel's default listen options (inherited by accepted
        # sockets): OTP 25's httpd has no option for it, and without it every response
        # waits on a delayed ACK (~40 ms).
        taskset -c "$cores" erl -noshell -noinput -pa "$here/tools/ebin" \
            -kernel inet_default_listen_options '[{nodelay,true}]' \
            -eval "{ok, _} = bench_http_inets:start($port)" >"$log" 2>&1 &
        ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
esac
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
done
# warm-up, unmeasured
taskset -c 0 wrk -t1 -c"$conns" -d2s -s "$here/tools/post.lua" "http://127.0.0.1:$port/echo" >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
out=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$here/tools/post.lua" \
      "http://127.0.0.1:$port/echo")
t1=$(ticks)
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
errors=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
cpu_us=$(( (t1 - t0) * 1000000 / hz ))
printf '%s cores=%s conns=%s requests=%s req/s=%s cpu_us/req=%s p50=%s p99=%s ERL_FLAGS="%s" %s\n' \
    "$server" "$cores" "$conns" "$reqs" "$rps" "$(( cpu_us / reqs ))" "$p50" "$p99" "${ERL_FLAGS:-}" "$errors"
