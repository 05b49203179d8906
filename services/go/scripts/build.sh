#!/usr/bin/env bash
# Build the Go service: generate internal/benchpb from contract/bench.proto, then build the
# binaries into bin/. Usage: scripts/build.sh PYTHON REPO (the manifest passes {python} {repo}).
# protoc is grpcio-tools' (PYTHON -m grpc_tools.protoc); the two Go plugins are go.mod's `tool`s
# (pinned there, built from the module cache): only the first build needs the module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:?"usage: scripts/build.sh PYTHON REPO"}
REPO=${2:?"usage: scripts/build.sh PYTHON REPO"}

tools=$PWD/.tools
mkdir -p "$tools" bin internal/benchpb
go build -o "$tools/" google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
go list -m -f '{{.Path}}@{{.Version}}' google.golang.org/protobuf google.golang.org/grpc/cmd/protoc-gen-go-grpc \
    | tr '\n' ' ' > "$tools/versions"

if ! "$PYTHON" -c "import grpc_tools" 2>/dev/null; then
    echo "scripts/build.sh: $PYTHON has no grpc_tools (grpcio-tools); run \`make setup\`" >&2
    exit 1
fi
M=Mbench.proto=interopbench/go/internal/benchpb
PATH="$tools:$PATH" "$PYTHON" -m grpc_tools.protoc -I "$REPO/contract" \
    --go_out=internal/benchpb --go_opt=paths=source_relative --go_opt=$M \
    --go-grpc_out=internal/benchpb --go-grpc_opt=paths=source_relative --go-grpc_opt=$M \
    "$REPO/contract/bench.proto"

go build -trimpath -o bin/ ./cmd/...
