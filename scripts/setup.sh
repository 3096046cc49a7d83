#!/usr/bin/env bash
# Installs everything qjail's demo and tests need on a fresh Debian machine, as root:
# the system packages from Debian's archive, then the npm dependencies, then a build.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  iproute2 nftables xz-utils tar procps util-linux kmod \
  openssh-server openssh-client busybox whois sshpass libarchive-tools mandoc ansible-core \
  >/dev/null
npm ci --no-audit --no-fund
npm run build
