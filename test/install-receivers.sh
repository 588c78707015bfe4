#!/usr/bin/env bash
# Installs the real receivers and tools the tests run against, each only when missing or out of date (quick then):
# OpenSearch and Apache Kafka from Maven Central jars (.cache/, ~/.m2), Debian's rsyslog (+ its TLS driver) and
# kubectl and chromium (the status page browser test) with apt-get when run as root. `npm test` runs it first (pretest) and goes on whatever happens, so the
# tests that need a missing piece fail saying what is missing; `.ci/run` runs it with --strict: exit 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

strict=0
[ "${1:-}" = "--strict" ] && strict=1
failed=0

say() { echo "test receivers: $*"; }

bash test/engine/install.sh >/dev/null || { say "OpenSearch install failed (see above): the search-engine tests will fail"; failed=1; }
bash test/kafka/install.sh >/dev/null || { say "Kafka broker install failed (see above): the kafka sink tests will fail"; failed=1; }

apt_install() {
  # $1: what for; the rest: packages.
  local what=$1
  shift
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "$* missing and not installable here (needs apt-get as root): $what will fail"
    return 1
  fi
  say "installing $* (apt-get)"
  { apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null 2>&1; }; } ||
    { say "apt-get could not install $*: $what will fail"; return 1; }
}

# The syslog sink's tests start a real rsyslogd per test file.
if ! command -v rsyslogd >/dev/null 2>&1 && [ ! -x /usr/sbin/rsyslogd ]; then
  apt_install "the syslog sink tests" rsyslog rsyslog-gnutls || failed=1
fi
# test/deploy.test.ts renders the Kustomize overlays with kubectl.
if ! command -v kubectl >/dev/null 2>&1; then
  apt_install "the deployment tests" kubectl || failed=1
fi

# The status page's browser test drives Debian's Chromium with playwright-core (no browser download).
if [ ! -x /usr/bin/chromium ]; then
  apt_install "the status page browser test" chromium || failed=1
fi

[ "$strict" = 1 ] && exit "$failed"
exit 0
