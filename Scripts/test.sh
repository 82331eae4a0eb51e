#!/usr/bin/env bash
# Installs what is missing and runs every test: the Swift test suites (the service's on SQLite,
# then again on PostgreSQL), the policies' own test
# cases through the CLI, the reviewer console in a real (headless) browser, and the served
# OpenAPI document against the running service (schemathesis), and the docs: the walkthroughs
# run and every command they show exists.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/deps.sh --browser --postgres
swift build --build-tests
# A throwaway PostgreSQL cluster (Unix socket only), removed afterwards: the PostgreSQL suites
# and the tests of two instances on one database use it.
ARBITER_TEST_POSTGRES=$(Scripts/postgres.sh start)
trap 'Scripts/postgres.sh stop "$ARBITER_TEST_POSTGRES"' EXIT
export ARBITER_TEST_POSTGRES
swift test --skip-build
# The service's suites again with PostgreSQL as the backend (a new database per test); not those
# that never touch storage (ConnectionTests: the HTTP edge on an in-memory database).
ARBITER_TEST_BACKEND=postgres swift test --skip-build --filter ArbiterServerTests --skip "TwoInstanceTests|FailoverTests|StoreCopyTests|ConnectionTests"
.build/debug/arbiter policy check Policies
.build/debug/arbiter policy test Policies
.build/debug/arbiter source test Policies/mappings
Scripts/console-test.sh
Scripts/api-contract-test.sh
Scripts/docs-test.sh
