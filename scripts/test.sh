#!/usr/bin/env bash
# The whole test suite, against local RabbitMQ and PostgreSQL (started if stopped).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
export SWITCHYARD_TEST_DATABASE_URL="${SWITCHYARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
# The deployment files: manifests render and hang together, alert rules pass their unit tests
# (seconds; the Rust tests then check them against queues.toml and a live /metrics).
scripts/tools.sh
deploy/check.sh
deploy/check-observability.sh
cargo test --workspace --all-targets "$@"
