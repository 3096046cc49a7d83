#!/usr/bin/env bash
# Installs everything qjail's demo and tests need on a fresh Debian machine, as root:
# the system packages from Debian's archive, then the npm dependencies, then a build.
# gcc/libc6-dev build the isolation tests' attack programs and, with the aarch64
# cross compiler, let the tests check that native/Makefile reproduces the shipped
# helper binaries (qjail itself needs no compiler: the helper ships prebuilt).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  iproute2 nftables xz-utils tar procps util-linux kmod \
  openssh-server openssh-client busybox whois sshpass libarchive-tools mandoc ansible-core \
  gcc libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross make file \
  >/dev/null
npm ci --no-audit --no-fund
npm run build
