#!/usr/bin/env bash
# The Go module's own checks, run by `make test` (the manifest's `test`): gofmt, go vet, go test.
# Needs the generated internal/benchpb: run `make build SERVICE=go` (scripts/build.sh) first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f internal/benchpb/bench.pb.go ]]; then
    echo "scripts/test.sh: internal/benchpb is not generated; run \`python -m harness build go\` first" >&2
    exit 1
fi
unformatted=$(gofmt -l cmd internal)
if [[ -n $unformatted ]]; then
    echo "gofmt: these files need \`gofmt -w\`:" >&2
    echo "$unformatted" >&2
    exit 1
fi
go vet ./...
go test ./...
