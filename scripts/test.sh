#!/usr/bin/env bash
# test.sh is isolategpt's one test command (README.md, .ci/run): it
# installs what the tests need, runs every Go test with the race detector,
# then runs every command README.md shows, from a fresh clone, checking
# each one's exit status (scripts/readme.sh).
#
# Needs Go, Node.js with npm (the MCP servers), git and tmux (the TUI's
# terminal tests; installed with apt-get when missing and run as root).
# Exit status: 0 when everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The npm MCP servers the end-to-end tests run as apps. Exit 3: the npm
# registry is unreachable; the tests that need the servers then skip,
# saying so.
./scripts/install-mcp-servers.sh || test $? -eq 3

if ! command -v tmux >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq >/dev/null && apt-get install -y -qq tmux >/dev/null
	else
		echo "test.sh: tmux is needed for the TUI's terminal tests: install it" >&2
		exit 1
	fi
fi

go test -race -count=1 ./...

./scripts/readme.sh

# The fault-injection suite (engine/faults): kill -9, a full disk, damaged
# store and app files, signals, against the built binary, as root and as an
# ordinary user. CI runs it with a fixed seed (FAULTS_SEED, printed) and a
# bounded budget (FAULTS_BUDGET, 90s here: about 2 minutes with the build);
# FAULTS_BUDGET=10m for a longer run, FAULTS_KINDS and FAULTS_VERBOSE=1 to
# reproduce one trial; FAULTS=0 leaves it out. It prints its table and fails
# on any loss, silent audit truncation, panic or "done" for undone work; a
# kind it cannot run (the full disk needs root and tmpfs) makes it a skip,
# never a pass. Its checker's own tests run above with every package.
if [ "${FAULTS:-1}" = 1 ]; then
	FAULTS_SEED="${FAULTS_SEED:-20261206}" FAULTS_BUDGET="${FAULTS_BUDGET:-90s}" \
		go test -tags faults -count=1 -v -timeout 0 -run '^TestFaults$' ./engine/faults/
else
	echo "test.sh: the fault-injection suite was NOT run (FAULTS=0)" >&2
fi
