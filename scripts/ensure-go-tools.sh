#!/usr/bin/env bash
# Builds the peer tools that come as Go modules (h2spec, grpcurl) into .build/bin, pinned, once.
# The Go toolchain fetches them through the module proxy; later runs find them built and do nothing.
# Output goes to .build/go-tools.log; on failure its tail is shown with the command to retry.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.build/bin"
log="$PWD/.build/go-tools.log"
mkdir -p "$bin"

# binary  module@version
tools=(
  "h2spec github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible"
  "grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"
)

if ! command -v go >/dev/null 2>&1; then
  echo "error: go is not on PATH; the peer tools (h2spec, grpcurl) are built with it. Install Go, then: bash $0" >&2
  exit 1
fi
for entry in "${tools[@]}"; do
  read -r name module <<<"$entry"
  [ -x "$bin/$name" ] && continue
  printf 'peer tools: building %s (%s) ... ' "$name" "${module#*@}"
  if GOBIN="$bin" GOFLAGS=-mod=mod go install "$module" >>"$log" 2>&1; then
    echo ok
  else
    echo FAILED
    tail -n 20 "$log" >&2
    echo "retry with: GOBIN=$bin go install $module   (full log: $log)" >&2
    exit 1
  fi
done
