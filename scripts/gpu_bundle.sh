#!/usr/bin/env bash
# Prepares .gpu_deps/ for scripts/gpu_check.sh: the Debian packages gaze's GPU
# build needs (headers, libraries, pkg-config), for a device machine that has
# nvcc and cuBLAS but no -dev packages and no network. Run here, on a Debian
# bookworm machine with apt, before the device call; the device call then
# carries .gpu_deps (in .gitignore). gpu_check.sh unpacks the packages into a
# private prefix, never over /, so the base system (libc, libstdc++, perl,
# python, fonts, X servers) is left out here: the device machine has its own.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(libeigen3-dev nlohmann-json3-dev libutf8proc-dev libsentencepiece-dev libpcre2-dev libgtest-dev
          libgmock-dev libbenchmark-dev libcairo2-dev libopenblas-openmp-dev pkgconf ninja-build)
# Base-system and desktop packages the build does not need from us.
skip='^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libgcc-s1|libstdc\+\+6|gcc-12-base|libcrypt.*|libnsl.*|libtirpc.*|rpcsvc-proto|tar|dpkg|c?debconf|perl.*|libperl.*|python3.*|libpython3.*|lsb-base|sysvinit-utils|install-info|readline-common|libreadline8|libtinfo6|libncursesw6|libslang2|libnewt.*|libtextwrap1|libdebian-installer4|mailcap|media-types|mime-support|fonts-(croscore|freefont-.*|liberation.*|texgyre|urw-base35)|ttf-bitstream-vera|xfonts-.*|libfontenc1|libdb5\.3|libgdbm.*|libsqlite3-0|libssl3|libkrb.*|libgssapi-krb5-2|libk5crypto3|libkeyutils1|libcom-err2|libglib2\.0.*|libcairo-gobject2|libcairo-script-interpreter2|libmount.*|libblkid.*|libselinux1.*|libsepol.*|libffi.*|uuid-dev|libuuid1|libacl1|libelf1|libzstd1|liblzma5|libbz2-1\.0|libmd0|libbsd0|zlib1g|libexpat1|liblzo2-2)$'
mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${packages[@]}" | grep -v '^[ <]' | sort -u | grep -Ev "$skip")
rm -rf .gpu_deps && mkdir -p .gpu_deps
(cd .gpu_deps && apt-get download "${closure[@]}" >/dev/null)
echo "gpu_bundle: ${#closure[@]} packages, $(du -sh .gpu_deps | cut -f1) in .gpu_deps/ (carry it: run(carry=[\".gpu_deps\"]))"
