# Shared by the demo, test and bench scripts: the AWS emulator (moto's server mode plus
# ottd's extension in tests/emulator/) in a virtualenv under ~/.cache, on loopback only.
# Source it; it defines ensure_venv, ensure_emulator_venv, ensure_ffmpeg, start_emulator,
# start_delay_proxy and stop_background. The start functions set EMULATOR_URL / PROXY_URL (no
# subshell, so the background processes are remembered and stopped).

OTTD_VENV="${OTTD_VENV:-$HOME/.cache/ottd-venv}"
OTTD_PIDS=()

# need_python_venv: python3 with its venv module and pip bootstrap (ensurepip), or a clear
# message saying what to install. Debian and Ubuntu ship them apart from python3.
need_python_venv() {
  if ! command -v python3 >/dev/null 2>&1; then
    echo "ottd's scripts need Python 3 (3.9 or later) for the AWS emulator: install python3" >&2
    return 1
  fi
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "ottd's scripts need Python 3's venv module to install the AWS emulator into a virtualenv:" >&2
    echo "  Debian/Ubuntu: sudo apt-get install python3-venv    Fedora/RHEL: it comes with python3" >&2
    return 1
  fi
}

# ensure_venv VENV REQUIREMENTS WHAT: a virtualenv with REQUIREMENTS installed, installed
# again only when the requirements file changes.
ensure_venv() {
  local venv=$1 req=$2 what=$3
  local stamp="$venv/.ottd-requirements"
  if [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp"; then
    return 0
  fi
  need_python_venv
  echo "installing $what into $venv ($(grep -v '^#' "$req" | tr '\n' ' '))" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}

ensure_emulator_venv() {
  ensure_venv "$OTTD_VENV" "$OTTD_ROOT/tests/emulator/requirements.txt" "the AWS emulator"
}

# ensure_ffmpeg: ffmpeg for the emulator's live streams (--streams), and the DejaVu font it burns
# a wall clock in with; installed with apt-get (through sudo when not root) when missing.
ensure_ffmpeg() {
  local font=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf
  if command -v ffmpeg >/dev/null 2>&1 && [ -e "$font" ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=sudo
    elif command -v ffmpeg >/dev/null 2>&1; then
      echo "no DejaVu font ($font): the emulator's streams will have no clock burnt in" >&2
      return 0
    else
      echo "the emulator's live streams need ffmpeg, and this is neither root nor has sudo:" >&2
      echo "  install it (Debian/Ubuntu: apt-get install ffmpeg fonts-dejavu-core) and run again" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    command -v ffmpeg >/dev/null 2>&1 && return 0
    echo "the emulator's live streams need ffmpeg, and there is no apt-get here: install ffmpeg" >&2
    echo "  (and the DejaVu fonts) with this system's package manager" >&2
    return 1
  fi
  echo "installing ffmpeg and fonts-dejavu-core with apt-get (the emulator's live streams)" >&2
  # A fresh machine may have no package lists yet: update once if the install finds nothing.
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg fonts-dejavu-core >&2; then
    $sudo apt-get update -q >&2 &&
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg fonts-dejavu-core >&2 || true
  fi
  if ! command -v ffmpeg >/dev/null 2>&1; then
    echo "apt-get could not install ffmpeg (see above): the emulator's live streams need it" >&2
    return 1
  fi
}

# utc_in SECONDS: the UTC time SECONDS from now, RFC 3339 to the second (portable: no GNU
# `date -d`; the emulator's Python is there by now).
utc_in() {
  "$OTTD_VENV/bin/python" -c 'import datetime as d, sys
print((d.datetime.now(d.timezone.utc) + d.timedelta(seconds=int(sys.argv[1]))).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$1"
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

# start_emulator LOGDIR [STREAMS_DIR]: sets EMULATOR_URL. With STREAMS_DIR (call ensure_ffmpeg
# first), each RUNNING MediaLive channel also gets a live stream (ffmpeg output under
# STREAMS_DIR), served over HTTPS at STREAMS_URL with the test CA STREAMS_CA (a PEM file).
start_emulator() {
  local dir=$1 streams=${2:-}
  local extra=()
  [ -n "$streams" ] && extra=(--streams "$streams")
  "$OTTD_VENV/bin/python" "$OTTD_ROOT/tests/emulator/ottd_moto.py" --host 127.0.0.1 --port 0 \
    ${extra[@]+"${extra[@]}"} >"$dir/emulator.out" 2>"$dir/emulator.log" &
  OTTD_PIDS+=($!)
  EMULATOR_URL=$(wait_ready "$dir/emulator.out" OTTD_MOTO_READY)
  STREAMS_URL="" STREAMS_CA=""
  if [ -n "$streams" ]; then
    # Printed before OTTD_MOTO_READY: "OTTD_STREAMS_READY https://127.0.0.1:<port> <ca.pem>".
    STREAMS_URL=$(grep '^OTTD_STREAMS_READY ' "$dir/emulator.out" | head -1 | cut -d' ' -f2)
    STREAMS_CA=$(grep '^OTTD_STREAMS_READY ' "$dir/emulator.out" | head -1 | cut -d' ' -f3)
  fi
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
