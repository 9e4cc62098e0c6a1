#!/usr/bin/env bash
# The whole test suite, against local RabbitMQ and PostgreSQL (started if stopped).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
export SWITCHYARD_TEST_DATABASE_URL="${SWITCHYARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo test --workspace --all-targets "$@"
