#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine:
#   * the Debian package with the real Fashion-MNIST files (needs root or sudo; without
#     it the one test on the real files is skipped, except under CI where it fails);
#   * Debian's chromium, to render the HTML report headless (its test skips without it);
#   * cnnlab with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
apt_install() { apt-get install -y -q "$@" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "$@" >/dev/null; }; }
packages=()
[[ -d /usr/share/datasets/fashion-mnist ]] || packages+=(dataset-fashion-mnist)
command -v chromium >/dev/null || packages+=(chromium)
if (( ${#packages[@]} )); then
  if [[ $(id -u) == 0 ]]; then
    apt_install "${packages[@]}"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo bash -c "$(declare -f apt_install); apt_install ${packages[*]}"
  else
    echo "note: not root; skipping 'apt-get install ${packages[*]}'" >&2
  fi
fi
python -m pip install -q -e ".[dev]"
