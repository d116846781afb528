#!/usr/bin/env bash
# Prepare OSRM road data for osrm-routed, without Docker.
#
# usage: scripts/osrm.sh <pbf> [<outdir>]
#
# Unpacks the osrm-backend binaries shipped in the PyPI wheel osrm-bindings (manylinux_2_28, x86_64) into
# $OSRM_CACHE (default <repo>/var/osrm), copies <pbf> into <outdir> (default $OSRM_CACHE/<name>) and runs
# osrm-extract (car profile), osrm-partition and osrm-customize there, for `osrm-routed --algorithm mld`.
# Both steps are skipped when already done (the data step is keyed on the pbf's sha256, the OSRM version and
# the profile). Prints two lines on stdout: the .osrm base path, then the osrm-routed path. Timings and
# progress go to stderr, tool logs to <outdir>/*.log.
set -euo pipefail

OSRM_VERSION=26.10.0
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "osrm.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: scripts/osrm.sh <pbf> [<outdir>]"
pbf="$1"
[[ -f "$pbf" ]] || die "no such pbf: $pbf"
name="$(basename "$pbf")"
name="${name%.pbf}"
name="${name%.osm}"
cache="${OSRM_CACHE:-$repo/var/osrm}"
outdir="${2:-$cache/$name}"
mkdir -p "$cache" "$outdir"
cache="$(cd "$cache" && pwd)"
outdir="$(cd "$outdir" && pwd)"
started="$(now)"

# Serialise concurrent runs (parallel test sessions) on the same cache.
if command -v flock > /dev/null; then
  exec 9> "$cache/.lock"
  flock 9
fi

# 1. Binaries, from the wheel. It is tagged cp312-abi3, but the executables in osrm/bin do not use Python.
dist="$cache/osrm-bindings-$OSRM_VERSION"
bin="$dist/osrm/bin"
profiles="$dist/osrm/share/profiles"
if [[ ! -x "$bin/osrm-routed" ]]; then
  t="$(now)"
  if [[ -x "$repo/.venv/bin/pip" ]]; then pip=("$repo/.venv/bin/pip"); else pip=(python3 -m pip); fi
  tmp="$(mktemp -d "$cache/.download.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  "${pip[@]}" download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 "osrm-bindings==$OSRM_VERSION" -d "$tmp" >&2
  wheel="$(ls "$tmp"/osrm_bindings-"$OSRM_VERSION"-*.whl)"
  if command -v unzip > /dev/null; then
    unzip -q "$wheel" -d "$tmp/unpacked"
  else
    python3 -m zipfile -e "$wheel" "$tmp/unpacked"
  fi
  chmod +x "$tmp"/unpacked/osrm/bin/*  # python's zipfile drops the executable bits
  rm -rf "$dist"
  mv "$tmp/unpacked" "$dist"  # atomic: a half-unpacked wheel is never taken for a finished one
  echo "osrm.sh: unpacked osrm-bindings $OSRM_VERSION into $dist in $(since "$t")" >&2
fi
# The wheel vendors no shared libraries today (the binaries need only glibc and libstdc++); should a later
# one do (auditwheel's *.libs), put them on LD_LIBRARY_PATH here and behind a wrapper for osrm-routed.
routed="$bin/osrm-routed"
for libs in "$dist"/*.libs "$dist"/osrm/lib; do
  if [[ -d "$libs" ]]; then
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    routed="$dist/osrm-routed"
    printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
      "$libs" "$bin/osrm-routed" > "$routed"
    chmod +x "$routed"
  fi
done
if ! "$routed" --version > /dev/null 2>&1; then
  ldd "$bin/osrm-routed" >&2 || true
  die "$bin/osrm-routed does not run here (missing shared libraries above? it needs glibc >= 2.28)"
fi

# 2. Road data.
base="$outdir/$name.osrm"
stamp="$base.stamp"
want="$(sha256sum "$pbf" | cut -d' ' -f1) osrm-$OSRM_VERSION car.lua mld"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$base.partition" && -f "$base.cell_metrics" ]]; then
  echo "osrm.sh: $base is up to date" >&2
else
  rm -f "$stamp" "$base".*
  if [[ "$(realpath "$pbf")" != "$(realpath -m "$outdir/$name.osm.pbf")" ]]; then
    install -m 0644 "$pbf" "$outdir/$name.osm.pbf"  # the source may be read-only
  fi
  run() {
    local step="$1" t
    shift
    t="$(now)"
    if ! "$bin/$step" "$@" > "$outdir/$step.log" 2>&1; then
      tail -n 20 "$outdir/$step.log" >&2
      die "$step failed, see $outdir/$step.log"
    fi
    echo "osrm.sh: $step took $(since "$t")" >&2
  }
  run osrm-extract -p "$profiles/car.lua" "$outdir/$name.osm.pbf"
  run osrm-partition "$base"
  run osrm-customize "$base"
  echo "$want" > "$stamp"
fi
echo "osrm.sh: ready in $(since "$started")" >&2

echo "$base"
echo "$routed"
