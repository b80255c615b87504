#!/bin/sh
# install-mcp-servers.sh installs the npm MCP servers that isolategpt's
# end-to-end tests and examples run as apps, at the exact versions pinned by
# scripts/mcp/package-lock.json, into .cache/mcp (git-ignored). It is
# reproducible: npm ci installs exactly the lock file, runs no install
# scripts, and fails if package.json and the lock disagree.
#
# After it, .cache/mcp holds node_modules and the two app manifests
# (files.json, memory.json) ready for `isolategpt apps install`.
#
# Exit status: 0 installed; 1 a local failure; 3 the npm registry could not
# be reached (tests then skip, saying so).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/mcp"

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "install-mcp-servers: $tool is not installed" >&2
		exit 1
	fi
done

mkdir -p "$dest"
# The folder ignores itself, so nothing here needs the repo's .gitignore.
printf '*\n' >"$root/.cache/.gitignore"
cp "$root/scripts/mcp/package.json" "$root/scripts/mcp/package-lock.json" "$dest/"
cp "$root/specs/apps/mcp/files.json" "$root/specs/apps/mcp/memory.json" "$dest/"
rm -f "$dest/.installed"

log="$dest/npm-ci.log"
if ! (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >"$log" 2>&1); then
	cat "$log" >&2
	if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network' "$log"; then
		echo "install-mcp-servers: the npm registry is unreachable" >&2
		printf 'npm registry unreachable: see %s\n' "$log" >"$dest/.unreachable"
		exit 3
	fi
	echo "install-mcp-servers: npm ci failed (see $log)" >&2
	exit 1
fi
rm -f "$dest/.unreachable"
for pkg in server-filesystem server-memory; do
	if [ ! -f "$dest/node_modules/@modelcontextprotocol/$pkg/dist/index.js" ]; then
		echo "install-mcp-servers: @modelcontextprotocol/$pkg has no dist/index.js" >&2
		exit 1
	fi
done
# The marker the tests look for: written last, so its presence means a
# complete install.
(cd "$dest" && node -e 'const l=require("./package-lock.json");for(const p of ["server-filesystem","server-memory"])console.log(p+" "+l.packages["node_modules/@modelcontextprotocol/"+p].version)') >"$dest/.installed"
echo "install-mcp-servers: installed into $dest"
cat "$dest/.installed"
