#!/bin/sh
# Service CPU per request of one service's gRPC or zmq echo, driven by svcload (Go, core 0):
#   tools/svc_cpu.sh SERVICE TRANSPORT [svcload flags...]      (from services/java)
# SERVICE is java, go, erlang or python; the service is started pinned to core 1 on a free port with
# its manifest's command (Java: the manifest's JVM flags plus $JVM_EXTRA, e.g. a JFR recording;
# $JAR picks another jar; $ON_START is run with $SERVICE_PID set, $ON_START_DELAY s after the
# load starts, e.g. a py-spy recording), then svcload warms it up and measures (see tools/svcload/main.go).
set -e
svc=$1; transport=$2; shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
load="$here/tools/svcload/svcload"
[ -x "$load" ] || (cd "$here/tools/svcload" && GOPROXY=off go build -o svcload .)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp /tmp/svc_cpu.XXXXXX.log)
case $svc in
  java) cd "$here"; taskset -c 1 java -XX:+UseSerialGC -XX:CICompilerCount=2 -Xms256m -Xmx1g \
          -XX:+ExitOnOutOfMemoryError $JVM_EXTRA -jar "${JAR:-target/bench-service.jar}" "$transport" \
          --host 127.0.0.1 --port "$port" >"$log" 2>&1 & ;;
  go) cd "$root/go"; taskset -c 1 bin/bench-service "$transport" --host 127.0.0.1 --port "$port" >"$log" 2>&1 & ;;
  python) cd "$root/python"; taskset -c 1 "${PYTHON:-/work/main/.venv/bin/python}" -m bench_service "$transport" \
          --host 127.0.0.1 --port "$port" >"$log" 2>&1 & ;;
  erlang) cd "$root/erlang"; taskset -c 1 bin/bench-erlang "$transport" --host 127.0.0.1 --port "$port" >"$log" 2>&1 & ;;
  *) echo "svc_cpu.sh: SERVICE is java, go, erlang or python" >&2; exit 2 ;;
esac
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for i in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
  sleep 0.1
done
echo "# $(date -u +%H:%M:%S) $svc $transport load: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "$ON_START" ] && (sleep "${ON_START_DELAY:-0}"; SERVICE_PID=$pid sh -c "$ON_START") &
taskset -c 0 "$load" -transport "$transport" -addr "127.0.0.1:$port" -pid "$pid" -label "$svc" "$@"
echo "# $(date -u +%H:%M:%S) load after: $(cut -d' ' -f1-3 /proc/loadavg)"
