#!/usr/bin/env bash
# Debian packages the test suite drives for real:
#   neovim      an independent LSP client (headless end-to-end test of semcoder-lsp)
#   chromium    the browser that drives code-server (a real VS Code) in the extension tests
#   ripgrep     code-server's install expects a ripgrep binary; we seed its cache from Debian's
#   libkrb5-dev code-server's native `kerberos` module compiles against it
#   python3     Debian's Python, which the user `nobody` can run: the tests run the sandbox as an
#               unprivileged user too (tests/test_tracer_unprivileged.py)
# Only what is missing is installed, so repeated runs cost nothing.
set -euo pipefail
need=()
command -v nvim >/dev/null || need+=(neovim)
command -v chromium >/dev/null || need+=(chromium)
command -v rg >/dev/null || need+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
[ -x /usr/bin/python3 ] || need+=(python3)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing Debian packages: ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
