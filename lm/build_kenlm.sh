#!/usr/bin/env bash
# Builds KenLM's command-line tools (lmplz, build_binary, query) into PREFIX/bin.
# No Python package ships them: we build them from the kenlm source release on PyPI
# (the same sources as the `kenlm` module), with cmake and Debian's Boost dev packages
# (installed by scripts/setup.sh). About 80 s on 2 cores; done once, then cached.
#   usage: lm/build_kenlm.sh [PREFIX]   (default .cache/kenlm)
set -euo pipefail
prefix=$(realpath -m "${1:-.cache/kenlm}")
version=0.3.0
sha256=c4628bb9fb63c8a6f9240035b8b037385cfc404cb72e933cf48878291edac1e8
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -x "$prefix/bin/lmplz" ] && [ -x "$prefix/bin/build_binary" ]; then
  echo "kenlm: tools already in $prefix/bin"; exit 0
fi
py=${PYTHON:-python3}
[ -x .venv/bin/python ] && py=.venv/bin/python
echo "kenlm: fetching the kenlm $version source release"
"$py" -m pip download -q --no-deps --no-binary kenlm "kenlm==$version" -d "$work" 2>/dev/null
tarball="$work/kenlm-$version.tar.gz"
echo "$sha256  $tarball" | sha256sum -c --quiet -
tar xzf "$tarball" -C "$work"
echo "kenlm: building lmplz and build_binary (about a minute)"
cmake -S "$work/kenlm-$version" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DKENLM_MAX_ORDER=6 -DCOMPILE_TESTS=OFF >"$work/cmake.log" 2>&1 \
  || { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/build" -j"$(nproc)" --target lmplz build_binary query >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; exit 1; }
mkdir -p "$prefix/bin"
cp "$work/build/bin/lmplz" "$work/build/bin/build_binary" "$work/build/bin/query" "$prefix/bin/"
echo "kenlm: installed $prefix/bin/{lmplz,build_binary,query}"
