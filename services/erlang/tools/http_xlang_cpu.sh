#!/bin/bash
# Service CPU per http echo, any language: the service's http command pinned to core 1,
# `wrk -t1` pinned to core 0 (unmeasured warm-up first), CPU = utime+stime of the service's
# process from /proc/<pid>/stat over the measured run. From the repository root:
#   services/erlang/tools/http_xlang_cpu.sh <erlang|java|python|DIR> <lua> [conns 8] [secs 5] [warm-up secs 2]
# DIR: another checkout's services/erlang (built), e.g. the code before a change.
# Prints: service lua conns req/s cpu_us/req load.
set -euo pipefail
svc=$1; lua=$2; conns=${3:-8}; secs=${4:-5}; warm=${5:-2}
port=$(/work/main/.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
lua=$(realpath "$lua")
root=$(cd "$(dirname "$0")/../../.." && pwd)
case $svc in
  erlang) cd "$root/services/erlang"; cmd="bin/bench-erlang http --host 127.0.0.1 --port $port";;
  java) cd "$root/services/java"; cmd="java -XX:+UseSerialGC -XX:CICompilerCount=2 -Xms256m -Xmx1g -XX:+ExitOnOutOfMemoryError -jar target/bench-service.jar http --host 127.0.0.1 --port $port";;
  python) cd "$root/services/python"; cmd="/work/main/.venv/bin/python -m bench_service http --host 127.0.0.1 --port $port";;
  *) cd "$svc"; cmd="bin/bench-erlang http --host 127.0.0.1 --port $port";;
esac
log=$(mktemp)
ERL_FLAGS="" taskset -c 1 $cmd >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
taskset -c 0 wrk -t1 -c"$conns" -d"${warm}s" -s "$lua" "http://127.0.0.1:$port/echo" >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
out=$(taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" -s "$lua" "http://127.0.0.1:$port/echo")
t1=$(ticks)
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
errs=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
echo "$svc $(basename $lua) c=$conns req/s=$rps cpu_us/req=$(( (t1 - t0) * 1000000 / hz / reqs )) load=$(cut -d' ' -f1 /proc/loadavg) $errs"
