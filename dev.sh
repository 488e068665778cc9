#!/usr/bin/env bash
# custos developer entry point. Does its own set-up on a fresh Debian machine
# that has only the Rust toolchain.
#
#   ./dev.sh serve [custos serve flags]   run the service (data in ./data)
#   ./dev.sh test                         run every test
#   ./dev.sh lint                         clippy (warnings are errors) and rustfmt
#   ./dev.sh bench                        the benchmarks of docs/performance.md
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "dev.sh: $*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (https://rustup.rs) first"

# The rocksdb crate builds RocksDB from source: it needs a C++ compiler and
# libclang (for bindgen). Install them if missing, or say what to do.
have_libclang() {
  ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null 2>&1
}
if ! command -v clang >/dev/null 2>&1 || ! have_libclang || ! command -v c++ >/dev/null 2>&1; then
  pkgs="clang libclang-dev g++"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "dev.sh: installing $pkgs (needed to build RocksDB)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null \
      || die "apt-get could not install $pkgs"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "dev.sh: installing $pkgs with sudo (needed to build RocksDB)" >&2
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null \
      || die "apt-get could not install $pkgs"
  else
    die "building RocksDB needs clang and libclang: run 'sudo apt-get install $pkgs' and try again"
  fi
fi

# A build cache outside the clone, kept between runs and clones: the first
# RocksDB build takes many minutes on a small machine.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if mkdir -p /var/cache/custos/target 2>/dev/null && [ -w /var/cache/custos/target ]; then
    export CARGO_TARGET_DIR=/var/cache/custos/target
  else
    export CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/custos/target"
    mkdir -p "$CARGO_TARGET_DIR"
  fi
fi

# Debian packages a test needs: installed with apt-get (as root or with
# password-less sudo), else named; a test whose tool is missing fails in CI.
test_tools() {
  local why="$1"; shift
  local pkgs="$*"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "dev.sh: installing $pkgs ($why)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null \
      || echo "dev.sh: could not install $pkgs; $why will not run (and fails in CI)" >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null \
      || echo "dev.sh: could not install $pkgs; $why will not run (and fails in CI)" >&2
  else
    echo "dev.sh: missing $pkgs (sudo apt-get install $pkgs); $why will not run (and fails in CI)" >&2
  fi
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  serve)
    exec cargo run --release --locked --bin custos -- serve "$@"
    ;;
  test)
    # Tests check the audit log with tools that are not ours: Go's own
    # transparency-log packages (docs/go-verify) and the Python verifiers
    # written from docs/audit-format.md (standard library only). Debian
    # ships them all. In CI (CI=true) a test whose tool is missing fails
    # rather than passing.
    if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/golang.org/x/mod/sumdb ] || ! command -v python3 >/dev/null 2>&1 || ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
      test_tools "the outside cross-checks of the audit log" golang-go golang-golang-x-mod-dev python3 python3-venv
    fi
    # The console's browser test drives Debian's Chromium through
    # chromedriver (tests/console/browser.rs), with a CJK font for its screenshots.
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -d /usr/share/fonts/truetype/wqy ]; then
      test_tools "the console's browser test" chromium chromium-driver fonts-wqy-microhei
    fi
    # axe-core (npm, pinned) is injected into every console page through
    # WebDriver by the accessibility test (tests/console/days.rs), kept in
    # the cache beside the build.
    axe="$(dirname "$CARGO_TARGET_DIR")/npm-axe-core-4.14.1"
    if [ ! -f "$axe/node_modules/axe-core/axe.min.js" ]; then
      if ! command -v npm >/dev/null 2>&1; then
        test_tools "the console's accessibility test (axe-core from npm)" npm
      fi
      if command -v npm >/dev/null 2>&1; then
        echo "dev.sh: installing axe-core 4.14.1 into $axe (the console's accessibility test)" >&2
        npm install --prefix "$axe" --no-audit --no-fund --silent axe-core@4.14.1 >/dev/null 2>&1 \
          || { rm -rf "$axe"; echo "dev.sh: could not install axe-core from npm; the accessibility test will not run (and fails in CI)" >&2; }
      fi
    fi
    [ -f "$axe/node_modules/axe-core/axe.min.js" ] && export CUSTOS_AXE_JS="$axe/node_modules/axe-core/axe.min.js"
    # schemathesis (PyPI, pinned) checks the served OpenAPI document against
    # the running server (tests/schemathesis.rs), from a virtualenv beside
    # the build cache.
    venv="$(dirname "$CARGO_TARGET_DIR")/schemathesis-4.32.5"
    if [ ! -x "$venv/bin/st" ] && command -v python3 >/dev/null 2>&1; then
      echo "dev.sh: installing schemathesis 4.32.5 into $venv (the OpenAPI conformance test)" >&2
      { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5; } >/dev/null 2>&1 \
        || { rm -rf "$venv"; echo "dev.sh: could not install schemathesis (python3-venv and PyPI are needed); the conformance test will not run (and fails in CI)" >&2; }
    fi
    [ -x "$venv/bin/st" ] && export CUSTOS_SCHEMATHESIS="$venv/bin/st"
    # s3s-fs (crates.io, pinned) is the S3-protocol server the bucket
    # target's tests write to (tests/backup/s3.rs), built once into the
    # cache beside the build (a few minutes, once).
    tools="$(dirname "$CARGO_TARGET_DIR")/tools"
    if [ ! -x "$tools/bin/s3s-fs" ]; then
      echo "dev.sh: installing s3s-fs 0.14.1 into $tools (the S3 server the backup tests use)" >&2
      CARGO_TARGET_DIR="$(dirname "$CARGO_TARGET_DIR")/tools-target" \
        cargo install --quiet --locked s3s-fs@0.14.1 --features binary --root "$tools" >/dev/null 2>&1 \
        || echo "dev.sh: could not install s3s-fs; the bucket target's tests will not run (and fail in CI)" >&2
    fi
    [ -x "$tools/bin/s3s-fs" ] && export CUSTOS_S3S_FS="$tools/bin/s3s-fs"
    cargo test --locked --no-fail-fast "$@"
    # The restore drill once more with its output shown, so the log of
    # every full run records this machine's restore time (docs/backup.md).
    if [ $# -eq 0 ]; then
      cargo test --locked --quiet --test backup the_restore_drill -- --nocapture 2>&1 | grep -E "^restore drill|^test result"
    fi
    ;;
  lint)
    for c in clippy rustfmt; do
      if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 && rustup component add "$c" >/dev/null 2>&1 \
          || die "cargo $c is missing: install the $c component (rustup component add $c)"
      fi
    done
    cargo fmt --check || die "formatting differs: run 'cargo fmt'"
    cargo clippy --all-targets --locked -- -D warnings
    ;;
  bench)
    exec scripts/bench.sh "$@"
    ;;
  *)
    die "usage: ./dev.sh serve [flags] | ./dev.sh test | ./dev.sh lint | ./dev.sh bench"
    ;;
esac
