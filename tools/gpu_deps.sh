#!/usr/bin/env bash
# Prepares the dependencies of the GPU check for a machine without network access: downloads the
# Debian 12 packages of yaml-cpp, Catch2, Google Benchmark, Random123, nlohmann-json and CLI11
# (with the runtime libraries they need) and extracts them into .deps/ at the repository root, an
# ignored folder that travels with the checkout (about 8 MB). Run here, on a Debian machine with
# network access, before tools/gpu_check.sh runs there. Needs apt-get and dpkg; no root needed.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly PACKAGES=(
  libyaml-cpp0.7 libyaml-cpp-dev          # yaml-cpp 0.7: library + CMake config
  catch2                                  # Catch2 2.13: header, CMake config, Catch.cmake
  libbenchmark1debian libbenchmark-dev    # Google Benchmark 1.7 (the runtime is "1debian")
  librandom123-dev                        # Random123 headers (Philox)
  nlohmann-json3-dev libcli11-dev         # header-only, with CMake configs
)
downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
(cd "$downloads" && apt-get download "${PACKAGES[@]}")
rm -rf .deps
mkdir -p .deps
for deb in "$downloads"/*.deb; do dpkg -x "$deb" .deps; done
# Only headers, libraries and CMake files are needed; the docs are dead weight.
rm -rf .deps/usr/share/doc .deps/usr/share/man .deps/usr/share/lintian
grep -qx '/.deps/' .gitignore || echo '/.deps/' >> .gitignore
echo "gpu_deps: $(ls "$downloads"/*.deb | wc -l) packages in .deps/ ($(du -sh .deps | cut -f1))"
