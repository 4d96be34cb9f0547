#!/usr/bin/env bash
# The whole test suite: installs its peers (moto's server into a venv from PyPI; curl and
# sqlite3 from Debian when missing), then runs every unit and integration test.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_tools curl sqlite3 python3
setup_target_dir
setup_moto
echo "==> cargo test (moto: $DRIFTWATCH_MOTO_SERVER)"
cargo test --all-targets "$@"
