# Shared helpers for the project's scripts. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until URL answers (any HTTP status), for at most $2 seconds.
wait_for_http() {
  local url="$1" deadline=$((SECONDS + ${2:-30}))
  until curl -s -o /dev/null "$url"; do
    if ((SECONDS > deadline)); then
      echo "timed out waiting for $url" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Creates .tools/venv with the pinned test tools, once per change of the requirements.
ensure_venv() {
  local req="$ROOT/scripts/requirements-test.txt" stamp="$VENV/.requirements"
  if [[ -f "$stamp" ]] && cmp -s "$req" "$stamp"; then return 0; fi
  log "installing test tools into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}

# Installs dynalite (DynamoDB with CREATING/UPDATING states) into .tools/node.
ensure_dynalite() {
  if [[ -x "$TOOLS/node/node_modules/.bin/dynalite" ]]; then return 0; fi
  log "installing dynalite into $TOOLS/node"
  mkdir -p "$TOOLS/node"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" dynalite@4.0.0 >/dev/null
}

# Installs a Debian package when its command is missing (CI machines run as root).
ensure_apt() {
  local cmd="$1" pkg="${2:-$1}"
  if command -v "$cmd" >/dev/null; then return 0; fi
  log "installing $pkg"
  local as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    # GitHub's runners (and most CI machines) give the build user password-less sudo.
    if sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      echo "$cmd is missing and this user cannot apt-get install $pkg" >&2
      return 1
    fi
  fi
  "${as_root[@]}" apt-get update -qq >/dev/null &&
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
}

# Installs what the app's browser test drives (app/tests/browser.rs): Debian's Chromium
# (about a minute on a fresh machine) and playwright-core, which downloads no browser of
# its own, into .tools/browser.
PLAYWRIGHT_CORE=playwright-core@1.65.1
ensure_browser() {
  # A Chrome or Chromium already on the machine will do (GitHub's Ubuntu runners have
  # google-chrome, and Ubuntu packages chromium only as a snap); else Debian's chromium.
  if [[ -z "${CHROMIUM:-}" ]] && ! command -v chromium >/dev/null; then
    local found
    for found in google-chrome chromium-browser google-chrome-stable; do
      if command -v "$found" >/dev/null; then
        CHROMIUM=$(command -v "$found")
        export CHROMIUM
        break
      fi
    done
  fi
  if [[ -z "${CHROMIUM:-}" ]]; then
    ensure_apt chromium || return 1
    CHROMIUM=$(command -v chromium)
    export CHROMIUM
  fi
  local dir="$TOOLS/browser" stamp="$TOOLS/browser/.packages"
  if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$PLAYWRIGHT_CORE" ]]; then return 0; fi
  log "installing $PLAYWRIGHT_CORE into $dir"
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "$PLAYWRIGHT_CORE" >/dev/null
  echo "$PLAYWRIGHT_CORE" >"$stamp"
}

# Installs GitHub's workflow parser and expression engine (the official npm packages)
# into .tools/workflow-parser, for the workflow event-graph tests (scripts/tests/workflows).
WORKFLOW_PARSER_PACKAGES=(@actions/workflow-parser@0.3.61 @actions/expressions@0.3.61)
ensure_workflow_parser() {
  local dir="$TOOLS/workflow-parser" stamp="$TOOLS/workflow-parser/.packages"
  if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "${WORKFLOW_PARSER_PACKAGES[*]}" ]]; then return 0; fi
  log "installing ${WORKFLOW_PARSER_PACKAGES[*]} into $dir"
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "${WORKFLOW_PARSER_PACKAGES[@]}" >/dev/null
  echo "${WORKFLOW_PARSER_PACKAGES[*]}" >"$stamp"
}
