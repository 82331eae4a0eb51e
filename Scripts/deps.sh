#!/usr/bin/env bash
# Installs the system packages Arbiter builds against, when they are missing (Debian).
# With --browser, also what the console's browser test needs: Chromium, its WebDriver and
# Selenium (from PyPI, or Debian's python3-selenium where pip may not install). With
# --postgres, PostgreSQL (the throwaway test clusters of Scripts/postgres.sh).
set -euo pipefail
packages=(liblua5.4-dev libsqlite3-dev pkg-config)
browser=false
for option in "$@"; do
    case "$option" in
        --browser) browser=true; packages+=(chromium chromium-driver curl) ;;
        --postgres) packages+=(postgresql) ;;
    esac
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
missing=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if $browser && ! python3 -c "import selenium" 2>/dev/null; then
    echo "Installing: selenium"
    python3 -m pip install --quiet --disable-pip-version-check selenium 2>/dev/null \
        || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-selenium >/dev/null; }
fi
