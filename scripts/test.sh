#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need when missing (npm packages,
# Debian's influxdb, chromium, buildah, debootstrap, kubectl), runs vitest (the tests start and stop their own servers), and
# prints one summary line "N passed, N failed" read from vitest's JSON reporter.
set -uo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/influxd ] || need_apt+=(influxdb)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# PostgreSQL store tests (test/pg/) start their own cluster with initdb/pg_ctl from Debian's postgresql
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# test/image: builds the Dockerfile with buildah on a debootstrapped stand-in base image.
command -v buildah >/dev/null || need_apt+=(buildah)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
# test/deploy: kubectl kustomize renders the Kubernetes overlays (Debian's kubectl is kubernetes-client).
command -v kubectl >/dev/null || need_apt+=(kubernetes-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_apt[@]}") >&2 \
      || echo "warning: could not install ${need_apt[*]}; tests that need them will fail" >&2
  else
    echo "warning: ${need_apt[*]} missing and cannot install (need root + apt-get)" >&2
  fi
fi

# The container image test's base stand-in (debootstrap from Debian's archive: ~2.5 min on a fresh
# machine) builds in the background while npm ci and the first test files run; the test waits for it.
if [ "$(id -u)" = 0 ] && command -v buildah >/dev/null && command -v debootstrap >/dev/null; then
  (test/image/standin.sh > "${TMPDIR:-/tmp}/qw-standin.log" 2>&1 &)
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2 || exit 1
fi

report="$(mktemp -t qw-vitest-XXXXXX.json)"
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
rc=$?
node -e '
  const fs = require("fs");
  let r; try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { r = null; }
  if (!r) { console.log("0 passed, 1 failed"); process.exit(0); }
  // A file that failed to load has no failed test of its own: count it as one failure.
  const brokenFiles = (r.testResults || []).filter(f => f.status === "failed" && !f.assertionResults.some(a => a.status === "failed")).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed`);
' "$report"
rm -f "$report"
exit $rc
