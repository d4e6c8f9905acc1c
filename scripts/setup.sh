#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages (run as root
# on a clean machine; safe to re-run). See README.md for why each is needed.
set -euo pipefail
packages=(
  cmake g++ pkg-config ninja-build  # build (the CMake presets use Ninja)
  libeigen3-dev                   # tensor math
  libopenblas-openmp-dev          # fast fp32 GEMM, threaded with the same OpenMP runtime as gaze
  nlohmann-json3-dev              # config.json, safetensors headers, JSON export
  libutf8proc-dev                 # Unicode NFD, categories, case mapping for tokenizers
  libsentencepiece-dev            # T5 tokenizer (spiece.model)
  libpcre2-dev                    # GPT-2 pre-tokenization regex (Unicode classes)
  libcli11-dev                    # the gaze CLI's argument parsing
  libgtest-dev libgmock-dev       # tests
  libbenchmark-dev                # benchmarks
  clang libclang-rt-14-dev        # libFuzzer and sanitizer runtimes
  libcairo2-dev                   # PNG figures (gaze view --png, gaze pe --png): shapes and text rasterised
  fonts-dejavu-core               # the font the PNG figures are drawn with
  libcpp-httplib-dev              # gaze serve: the local web server
  chromium                        # headless-browser tests of the HTML viewer and gaze serve (tests/browser)
  nodejs                          # runs the browser tests (playwright-core, installed by npm ci)
  libdnnl-dev                     # oneDNN: fp32/bf16/int8 GEMMs, dispatched at run time (AMX, AVX512-BF16/VNNI, AVX-512, AVX2)
  pybind11-dev python3-dev        # the Python module `gaze`
  python3-numpy python3-pytest    # Python API (numpy out) and its tests
  python3-pip python3-setuptools python3-venv  # offline `pip install --no-build-isolation .`
  jupyter-nbconvert python3-ipykernel python3-nbformat  # the example notebooks, executed in CI
  libopenmpi-dev openmpi-bin      # gaze census across processes and hosts (mpirun)
)
# npm comes with nodejs from NodeSource; Debian ships it separately.
command -v npm >/dev/null 2>&1 || packages+=(npm)  # installs the browser tests' playwright-core
need=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  apt-get install -y -qq "${need[@]}"
fi
echo "setup: all dependencies present"
