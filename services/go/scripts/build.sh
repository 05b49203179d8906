#!/usr/bin/env bash
# Build the Go service: generate internal/benchpb from contract/bench.proto, then build the
# binaries into bin/. Usage: scripts/build.sh PYTHON REPO (the manifest passes {python} {repo}).
# protoc is grpcio-tools' (PYTHON -m grpc_tools.protoc); the two Go plugins are installed at
# pinned versions into .tools/ from the module cache (the module proxy on the first build only).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:?"usage: scripts/build.sh PYTHON REPO"}
REPO=${2:?"usage: scripts/build.sh PYTHON REPO"}
PROTOC_GEN_GO=v1.36.12       # = google.golang.org/protobuf in go.mod
PROTOC_GEN_GO_GRPC=v1.5.1    # google.golang.org/grpc/cmd/protoc-gen-go-grpc

tools=$PWD/.tools
mkdir -p "$tools" bin internal/benchpb
stamp="$tools/versions"
want="protoc-gen-go $PROTOC_GEN_GO protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC"
if [[ ! -x $tools/protoc-gen-go || ! -x $tools/protoc-gen-go-grpc || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    GOBIN=$tools go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO"
    GOBIN=$tools go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC"
    echo "$want" > "$stamp"
fi

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
