# Shared by the test and demo scripts: the preview page's players and the browser test's
# tools. Source it (after emulator.sh, which sets OTTD_ROOT's helpers); it defines
#   ensure_web       web/node_modules from web/package-lock.json (`npm ci`): hls.js and
#                    dash.js, which the daemon serves on its preview page, and playwright-core,
#                    which drives the browser test. Installed again only when the lock changes.
#   ensure_chromium  Debian's chromium at /usr/bin/chromium, for the browser test
#                    (apt-get, through sudo when not root). A test tool's own browser download
#                    (`npx playwright install`) cannot work on the project's machines.

# apt_install PACKAGE WHY: install a Debian package with apt-get (through sudo when not root),
# updating the package lists once if the first attempt finds nothing.
apt_install() {
  local pkg=$1 why=$2 sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=sudo
    else
      echo "$why needs $pkg, and this is neither root nor has sudo: install it (apt-get install $pkg)" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$why needs $pkg, and there is no apt-get here: install it with this system's package manager" >&2
    return 1
  fi
  echo "installing $pkg with apt-get ($why)" >&2
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >&2; then
    $sudo apt-get update -q >&2 &&
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >&2 || true
  fi
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  apt_install chromium "the preview page's browser test"
  if [ ! -x /usr/bin/chromium ]; then
    echo "apt-get could not install chromium (see above): the browser test needs /usr/bin/chromium" >&2
    return 1
  fi
}

ensure_web() {
  local web="$OTTD_ROOT/web"
  local stamp="$web/node_modules/.ottd-package-lock.json"
  if [ -f "$stamp" ] && cmp -s "$web/package-lock.json" "$stamp"; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    apt_install npm "the preview page's players (npm ci in web/)"
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "the preview page's players come from npm (web/package.json): install Node.js and npm" >&2
    return 1
  fi
  echo "installing the preview page's players and the browser test's driver into web/node_modules (npm ci)" >&2
  # web/.npmrc keeps download addresses out of the lock; npm ci takes the packages from the
  # registry npm is set up with, checked against the lock's integrity hashes.
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp "$web/package-lock.json" "$stamp"
}
