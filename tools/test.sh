#!/usr/bin/env bash
# The README's test command: set-up (JDK 25 check, Maven, jupyter-nbconvert, chromium, plotly.js),
# every JUnit test, then every notebook executed headless with its charts checked in Chromium.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/setup.sh
# shellcheck source=tools/jdk25.sh
. tools/jdk25.sh
caldera4j_find_jdk25
echo "== unit tests (mvn test)"
mvn -B -ntp test
# skipped tests say why (e.g. no GPU here): surefire keeps the reason in its XML, so show it
python3 - <<'PY'
import glob, re
for f in sorted(glob.glob("target/surefire-reports/TEST-*.xml")):
    text = open(f).read()
    for case, body in re.findall(r'<testcase name="([^"]*)"[^>]*>\s*<skipped[^>]*>(?:<!\[CDATA\[)?([^\n]*)', text):
        print(f"skipped: {f.split('TEST-')[1][:-4]}.{case}: {body.split('Assumption failed: ')[-1]}")
PY
echo "== notebooks (headless, quick mode)"
mvn -q -B -ntp -DskipTests package
CALDERA4J_QUICK=${CALDERA4J_QUICK:-1} CALDERA4J_SKIP_BUILD=1 tools/run-notebooks.sh
