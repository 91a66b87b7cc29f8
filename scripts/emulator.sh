# Shared by the demo, test and bench scripts: the AWS emulator (moto's server mode plus
# ottd's extension in tests/emulator/) in a virtualenv under ~/.cache, on loopback only.
# Source it; it defines ensure_venv, ensure_emulator_venv, start_emulator, start_delay_proxy and
# stop_background. The start functions set EMULATOR_URL / PROXY_URL (no subshell, so the
# background processes are remembered and stopped).

OTTD_VENV="${OTTD_VENV:-$HOME/.cache/ottd-venv}"
OTTD_PIDS=()

# ensure_venv VENV REQUIREMENTS WHAT: a virtualenv with REQUIREMENTS installed, installed
# again only when the requirements file changes.
ensure_venv() {
  local venv=$1 req=$2 what=$3
  local stamp="$venv/.ottd-requirements"
  if [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp"; then
    return 0
  fi
  echo "installing $what into $venv ($(grep -v '^#' "$req" | tr '\n' ' '))" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}

ensure_emulator_venv() {
  ensure_venv "$OTTD_VENV" "$OTTD_ROOT/tests/emulator/requirements.txt" "the AWS emulator"
}

# wait_ready FILE PREFIX: the URL a launcher printed after PREFIX.
wait_ready() {
  local file=$1 prefix=$2 i
  for i in $(seq 1 300); do
    if grep -q "^$prefix " "$file" 2>/dev/null; then
      grep "^$prefix " "$file" | head -1 | cut -d' ' -f2
      return 0
    fi
    sleep 0.1
  done
  echo "emulator did not start; its log:" >&2
  cat "$file" >&2
  return 1
}

# start_emulator LOGDIR: sets EMULATOR_URL
start_emulator() {
  local dir=$1
  "$OTTD_VENV/bin/python" "$OTTD_ROOT/tests/emulator/ottd_moto.py" --host 127.0.0.1 --port 0 \
    >"$dir/emulator.out" 2>"$dir/emulator.log" &
  OTTD_PIDS+=($!)
  EMULATOR_URL=$(wait_ready "$dir/emulator.out" OTTD_MOTO_READY)
}

# start_delay_proxy LOGDIR UPSTREAM DELAY_MS: sets PROXY_URL
start_delay_proxy() {
  local dir=$1 upstream=$2 delay=$3
  "$OTTD_VENV/bin/python" "$OTTD_ROOT/tests/emulator/delay_proxy.py" --upstream "$upstream" \
    --listen-port 0 --delay-ms "$delay" >"$dir/proxy.out" 2>"$dir/proxy.log" &
  OTTD_PIDS+=($!)
  PROXY_URL=$(wait_ready "$dir/proxy.out" OTTD_PROXY_READY)
}

stop_background() {
  local p
  for p in "${OTTD_PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  OTTD_PIDS=()
}
