#!/usr/bin/env bash
# readme.sh runs every command README.md shows, as a new user would: in a
# fresh clone of this repository, with an empty home folder (so the data
# goes to ~/.local/share/isolategpt, as the README says), the built binary
# on PATH. It runs each ```sh block as one script (every command in it must
# succeed) and each "$ " line of a ```console block on its own, checking
# its exit status: 0, or N where the line ends with "# exits N". What the
# README shows typed at a question ("[y/N] y", "(Enter = deny): o") in a
# command's output is fed to that command's stdin, in order.
#
# Not run: ```bash blocks (shown only: long benchmarks), the block holding
# ./scripts/test.sh (it is what runs this), and,
# when the npm registry was unreachable, the commands that use the MCP
# servers — each is printed as SKIPPED.
# Exit status: 0 when every command run did what the README says.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
# A home folder others may enter, as most are: the sandbox's user must
# read an MCP server's install folder (README: "it must be readable by the
# sandbox's user").
chmod 755 "$work"

git clone --quiet "$repo" "$work/isolategpt"
clone="$work/isolategpt"
# Go's caches stay where they are: a new home must not mean downloading
# every module and compiling everything again.
GOMODCACHE=$(go env GOMODCACHE)
GOCACHE=$(go env GOCACHE)
GOPATH=$(go env GOPATH)
export GOMODCACHE GOCACHE GOPATH
export HOME="$work/home"
mkdir -p "$HOME"
unset ISOLATEGPT_DATA ISOLATEGPT_LLM ISOLATEGPT_USER XDG_DATA_HOME
# The README's `export PATH=$PWD:$PATH`, which a line run on its own
# cannot hand on.
export PATH="$clone:$PATH"
# This machine's Go environment may turn version stamping off; the README
# promises --version names the commit.
export GOFLAGS=-buildvcs=true
# The README's tmux commands get a tmux server of their own, which sees
# this environment (not a running server's).
export TMUX_TMPDIR="$work/tmux"
mkdir -p "$TMUX_TMPDIR"

# The commands, as a bash script of calls to run_block/run_line, each fed
# its text on stdin.
plan=$(awk '
	function flush() { if (body != "") { printf "run_block %d <<'"'"'README_EOF'"'"'\n%sREADME_EOF\n", start, body } body = "" }
	/^```/ {
		if (!inblock) { inblock = 1; kind = substr($0, 4); start = NR + 1; body = ""; next }
		inblock = 0
		if (kind == "sh") flush()
		if (kind == "console") emit()
		body = ""
		next
	}
	inblock && kind == "sh" { body = body $0 "\n"; next }
	function emit() {
		if (cmd != "") printf "ANSWERS=\"%s\" run_line %d <<'"'"'README_EOF'"'"'\n%s\nREADME_EOF\n", answers, cmdline, cmd
		cmd = ""; answers = ""
	}
	inblock && kind == "console" && /^\$ / { emit(); cmd = substr($0, 3); cmdline = NR; next }
	# What the README shows typed at a question is fed to the command.
	inblock && kind == "console" && cmd != "" && match($0, /(\[y\/N\]|\(Enter = deny\):) [^ ]+$/) {
		n = split($0, w, " "); answers = answers w[n] "\\n"; next
	}
	!inblock || kind != "console" { emit() }
	END { emit() }
' "$repo/README.md")

ran=0
skipped=0
mcp_ok() { [ -f "$clone/.cache/mcp/.installed" ]; }

run_block() {
	local line=$1 text
	text=$(cat)
	if [ "$text" = "./scripts/test.sh" ]; then
		echo "readme.sh: README.md:$line: SKIPPED (the test command runs this script)"
		skipped=$((skipped + 1))
		return
	fi
	echo "readme.sh: README.md:$line: running the block:"
	sed 's/^/    /' <<<"$text"
	local t0=$SECONDS
	if ! (cd "$clone" && bash -euo pipefail -c "$text"); then
		echo "readme.sh: README.md:$line: FAILED: the block above" >&2
		exit 1
	fi
	echo "readme.sh: README.md:$line: ok ($((SECONDS - t0))s)"
	ran=$((ran + 1))
}

run_line() {
	local line=$1 text want=0 rc
	text=$(cat)
	if [[ $text =~ \#\ exits\ ([0-9]+)$ ]]; then
		want=${BASH_REMATCH[1]}
	fi
	if [[ $text == *".cache/mcp"* || $text == *"npx "* || $text == *"Use files"* || $text == *"Use everything"* ]] && ! mcp_ok; then
		echo "readme.sh: README.md:$line: SKIPPED (no MCP servers: the npm registry was unreachable): $text"
		skipped=$((skipped + 1))
		return
	fi
	echo "readme.sh: README.md:$line: \$ $text"
	local t0=$SECONDS
	set +e
	(cd "$clone" && printf '%b' "${ANSWERS:-}" | bash -o pipefail -c "$text")
	rc=$?
	set -e
	if [ "$rc" != "$want" ]; then
		echo "readme.sh: README.md:$line: FAILED: exit $rc, the README says $want: $text" >&2
		exit 1
	fi
	echo "readme.sh: README.md:$line: exit $rc as the README says ($((SECONDS - t0))s)"
	ran=$((ran + 1))
}

eval "$plan"

# Where the README says the data went.
if [ ! -d "$HOME/.local/share/isolategpt/store" ]; then
	echo "readme.sh: FAILED: no store in ~/.local/share/isolategpt, where the README says the data goes" >&2
	exit 1
fi
echo "readme.sh: $ran README commands and blocks did what the README says; $skipped skipped; ${SECONDS}s"
