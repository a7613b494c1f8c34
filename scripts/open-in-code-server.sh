#!/usr/bin/env bash
# Opens examples/demo_project/ in code-server (VS Code in the browser) on 127.0.0.1 with the
# SemCoder extension installed from the freshly built .vsix, for a look without installing VS Code.
#   bash scripts/open-in-code-server.sh            # then open http://127.0.0.1:8080 ; Ctrl-C stops
#   PORT=9000 SEMCODER_MODEL=/path/semcoder.gguf bash scripts/open-in-code-server.sh
# Real traces work without a model; set SEMCODER_MODEL (or the setting semcoder.model.path, or run
# "SemCoder: Download model") for predictions. Trust the folder when asked, or nothing executes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
port="${PORT:-8080}"
server="$root/.venv/bin/semcoder-lsp"
[ -x "$server" ] || { echo "open-in-code-server: $server is missing; run 'make venv' first" >&2; exit 1; }
bash "$root/scripts/build-extension.sh"

# Its own folders, so nothing lands in your home folder or your own VS Code profile.
data="$root/.cache/code-server-demo"
mkdir -p "$data/user/User" "$data/ext" "$data/xdg-config" "$data/xdg-data"
export XDG_CONFIG_HOME="$data/xdg-config" XDG_DATA_HOME="$data/xdg-data"
cat > "$data/user/User/settings.json" <<JSON
{
  "semcoder.server.command": "$server",
  "semcoder.execution.enabled": true,
  "workbench.startupEditor": "none",
  "telemetry.telemetryLevel": "off"
}
JSON
code_server="$root/vscode-extension/test-host/node_modules/.bin/code-server"
"$code_server" --user-data-dir "$data/user" --extensions-dir "$data/ext" \
  --install-extension "$root/vscode-extension/dist/semcoder-lsp.vsix" --force >/dev/null
echo "open-in-code-server: http://127.0.0.1:$port/?folder=$root/examples/demo_project (Ctrl-C to stop)" >&2
# exec: Ctrl-C reaches code-server directly, which ends its extension hosts with it.
exec "$code_server" --bind-addr "127.0.0.1:$port" --auth none --disable-telemetry --disable-update-check \
  --user-data-dir "$data/user" --extensions-dir "$data/ext" "$root/examples/demo_project"
