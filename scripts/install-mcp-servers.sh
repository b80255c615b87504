#!/bin/sh
# install-mcp-servers.sh installs the npm MCP servers that isolategpt's
# end-to-end and compatibility tests run as apps, at the exact versions
# pinned by scripts/mcp/package-lock.json, into .cache/mcp (git-ignored).
# It is reproducible: npm ci installs exactly the lock file, runs no
# install scripts, and fails if package.json and the lock disagree.
#
# After it, .cache/mcp holds node_modules (every server of
# scripts/mcp/package.json), the two hand-written app manifests (files.json,
# memory.json) ready for `isolategpt apps install`, and .installed: one line
# per server, "NAME VERSION", written last.
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
# The marker the tests look for: written last, so its presence means a
# complete install. Every server must have its program where its
# package.json says.
if ! (cd "$dest" && node -e '
const fs = require("fs"), path = require("path");
const deps = Object.keys(require("./package.json").dependencies).sort();
const lines = [];
for (const name of deps) {
  const dir = path.join("node_modules", name);
  const p = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  const bin = typeof p.bin === "string" ? p.bin : Object.values(p.bin || {})[0];
  if (!bin || !fs.existsSync(path.join(dir, bin))) throw new Error(name + " has no program at " + bin);
  lines.push(name + " " + p.version);
}
fs.writeFileSync(".installed.tmp", lines.join("\n") + "\n");
'); then
	echo "install-mcp-servers: the install is incomplete" >&2
	exit 1
fi
mv "$dest/.installed.tmp" "$dest/.installed"
echo "install-mcp-servers: installed into $dest"
cat "$dest/.installed"
