#!/usr/bin/env bash
# Installs what is missing and runs every test: the Swift test suites, then the policies'
# own test cases through the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/deps.sh
swift build --build-tests
swift test --skip-build
.build/debug/arbiter policy check Policies
.build/debug/arbiter policy test Policies
