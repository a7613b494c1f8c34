#!/usr/bin/env bash
# Builds the VS Code extension and the real VS Code its tests run in.
#   1. vscode-extension/node_modules   from the committed lockfile (npm ci)
#   2. vscode-extension/dist/semcoder-lsp.vsix   esbuild bundle packaged with @vscode/vsce (offline)
#   3. vscode-extension/test-host/node_modules   code-server 4.100.3 + playwright-core (npm ci)
# Each step is skipped when its output is newer than its inputs, so a second run takes a second.
# Needs Node 20 + npm, and for step 3 Debian's ripgrep and libkrb5-dev (scripts/install-system-deps.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ext="$root/vscode-extension"
host="$ext/test-host"
log() { echo "build-extension: $*" >&2; }

command -v node >/dev/null && command -v npm >/dev/null || { log "Node.js 20 and npm are required (apt-get install nodejs npm)"; exit 1; }

# True when $1 is missing or older than any of the following paths (files or folders).
stale() {
  local out="$1"; shift
  [ -e "$out" ] || return 0
  [ -n "$(find "$@" -newer "$out" -type f -print -quit 2>/dev/null)" ]
}

# 1. dependencies of the extension
if stale "$ext/node_modules/.package-lock.json" "$ext/package-lock.json"; then
  log "npm ci (extension)"
  (cd "$ext" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$ext/node_modules/.package-lock.json"
fi

# 2. bundle + package
vsix="$ext/dist/semcoder-lsp.vsix"
if stale "$vsix" "$ext/src" "$ext/package.json" "$ext/esbuild.mjs" "$ext/README.md" "$ext/.vscodeignore" "$ext/media" "$ext/node_modules/.package-lock.json"; then
  log "bundling and packaging $vsix"
  (cd "$ext" && node esbuild.mjs --minify && npx --no-install vsce package --no-dependencies --no-rewrite-relative-links --out "$vsix" >/dev/null)
fi

# 3. the test host: a real VS Code (code-server) and the browser driver
if stale "$host/node_modules/.package-lock.json" "$host/package-lock.json"; then
  command -v rg >/dev/null || { log "ripgrep is missing (run scripts/install-system-deps.sh)"; exit 1; }
  # code-server's @vscode/ripgrep downloads a binary from GitHub, which is not reachable here;
  # it first looks in this cache, so seed it with Debian's rg.
  cache="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
  tarball="$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
  if [ ! -s "$tarball" ]; then
    staging="$(mktemp -d)"
    cp "$(command -v rg)" "$staging/rg"
    mkdir -p "$cache"
    tar -czf "$tarball.tmp" -C "$staging" rg && mv "$tarball.tmp" "$tarball"
    rm -rf "$staging"
  fi
  log "npm ci (code-server 4.100.3 + playwright-core; about a minute)"
  # npm_config_yes: node-pty's postinstall runs `npx node-gyp`; unsafe_perm: code-server's
  # postinstall refuses to run as root without it.
  (cd "$host" && npm_config_yes=true npm_config_unsafe_perm=true npm ci --no-audit --no-fund --loglevel=error)
  touch "$host/node_modules/.package-lock.json"
fi
log "ready: $vsix"
