#!/usr/bin/env bash
# Install what the tests need (Debian's Prometheus, Alertmanager and Redis
# servers, and the Python package with its test extras), then run the suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for binary in prometheus prometheus-alertmanager redis-server; do
    command -v "$binary" >/dev/null 2>&1 || missing+=("$binary")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages for: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
        prometheus prometheus-alertmanager redis-server >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
python3 -m pytest -q "$@"
