#!/usr/bin/env bash
# Installs what is missing and runs every test: the Swift test suites, the policies' own test
# cases through the CLI, the reviewer console in a real (headless) browser, and the served
# OpenAPI document against the running service (schemathesis), and the docs: the walkthroughs
# run and every command they show exists.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/deps.sh --browser --postgres
swift build --build-tests
# A throwaway PostgreSQL cluster for the PostgreSQL suites (Unix socket only), removed afterwards.
ARBITER_TEST_POSTGRES=$(Scripts/postgres.sh start)
trap 'Scripts/postgres.sh stop "$ARBITER_TEST_POSTGRES"' EXIT
export ARBITER_TEST_POSTGRES
swift test --skip-build
.build/debug/arbiter policy check Policies
.build/debug/arbiter policy test Policies
Scripts/console-test.sh
Scripts/api-contract-test.sh
Scripts/docs-test.sh
