#!/usr/bin/env bash
# Fetches NVIDIA's PTX assembler without installing anything, for the assembly test and
# `gta bench resources`: ptxas of CUDA 11.8 from Debian bookworm's non-free `nvidia-cuda-toolkit`
# package. `apt-get download` the .deb (84 MB), extract usr/bin/ptxas alone (a standalone binary that
# needs only libc), and check that `ptxas --version` runs. Nothing is installed and no dependency is
# pulled in.
#
# Cache: ${GTA_CACHE:-~/.cache/gta-ilgpu}/ptxas/ (the project's cache, as for the datasets)
#   bin/ptxas   the assembler (reused when present and working: a second run downloads nothing)
#   debs/       the downloaded .deb, kept so that losing bin/ does not mean downloading it again
#   apt/        a private apt index of bookworm contrib non-free (see below)
#
# Where the machine's apt does not offer nvidia-cuda-toolkit (Debian's default sources list only
# `main`), the script does not edit /etc/apt: it runs apt-get with a private sources list in the
# cache, holding one line for bookworm's `contrib non-free`. So it needs no root, changes no package
# source of the machine, and a later `apt-get upgrade` sees nothing new. Where the machine's apt
# already offers the package, that source (its mirror, its proxy) is used.
#
# Prints the path of ptxas as the last line of stdout; progress goes to stderr. On failure, exits 1
# with one line starting "fetch-ptxas:" that says why.
#   GTA_DEBIAN_MIRROR   mirror for the private list (default http://deb.debian.org/debian)
set -euo pipefail

cache="${GTA_CACHE:-$HOME/.cache/gta-ilgpu}/ptxas"
ptxas="$cache/bin/ptxas"
mirror="${GTA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

fail() { echo "fetch-ptxas: $*" >&2; exit 1; }
runs() { "$1" --version 2>/dev/null | grep -q 'Cuda compilation tools'; }

if [ -x "$ptxas" ] && runs "$ptxas"; then echo "$ptxas"; exit 0; fi

for tool in apt-get apt-cache dpkg-deb tar; do
  command -v "$tool" >/dev/null || fail "needs $tool (a Debian or Ubuntu machine); elsewhere set GTA_PTXAS to the ptxas of a CUDA toolkit"
done
[ "$(dpkg --print-architecture)" = amd64 ] || fail "the Debian package holds an x86-64 ptxas; this machine is $(dpkg --print-architecture)"
mkdir -p "$cache/bin" "$cache/debs" "$cache/apt" || fail "cannot create the cache folder $cache"

# One fetch at a time (parallel test processes, CI and a developer's shell may all ask).
if command -v flock >/dev/null; then
  exec 9>"$cache/.lock"
  flock 9
  if [ -x "$ptxas" ] && runs "$ptxas"; then echo "$ptxas"; exit 0; fi
fi

start=$SECONDS
deb=$(find "$cache/debs" -maxdepth 1 -name 'nvidia-cuda-toolkit_*_amd64.deb' | sort | tail -n 1)
if [ -z "$deb" ]; then
  apt_options=()
  if ! apt-cache policy nvidia-cuda-toolkit 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    [ -r "$keyring" ] || fail "no Debian archive keyring at $keyring to verify bookworm's packages (apt-get install debian-archive-keyring), or set GTA_PTXAS"
    echo "deb [signed-by=$keyring] $mirror bookworm contrib non-free" >"$cache/apt/sources.list"
    mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial"
    apt_options=(-o "Dir::Etc::SourceList=$cache/apt/sources.list" -o "Dir::Etc::SourceParts=$cache/apt/none"
                 -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt/cache")
    # As root apt downloads as the _apt user, who cannot write to a private cache folder.
    [ "$(id -u)" -eq 0 ] && apt_options+=(-o "APT::Sandbox::User=root")
    echo "fetch-ptxas: reading bookworm contrib non-free from $mirror (private apt list in $cache/apt)" >&2
    apt-get "${apt_options[@]}" -qq --error-on=any update >&2 || fail "apt-get update of bookworm contrib non-free from $mirror failed (no network?)"
  fi
  download=$(mktemp -d "$cache/debs/.download.XXXXXX")
  trap 'rm -rf "$download"' EXIT
  echo "fetch-ptxas: downloading nvidia-cuda-toolkit (about 84 MB)" >&2
  (cd "$download" && apt-get "${apt_options[@]}" -qq download nvidia-cuda-toolkit >&2) \
    || fail "apt-get download nvidia-cuda-toolkit failed (no network, or the package left bookworm non-free)"
  got=$(find "$download" -maxdepth 1 -name 'nvidia-cuda-toolkit_*_amd64.deb' | head -n 1)
  [ -n "$got" ] || fail "apt-get download nvidia-cuda-toolkit wrote no .deb"
  deb="$cache/debs/$(basename "$got")"
  mv "$got" "$deb"
fi

# Only usr/bin/ptxas is taken out of the package (dpkg-deb's tar stream, not the 170 MB `dpkg -x`).
extract=$(mktemp -d "$cache/bin/.extract.XXXXXX")
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$extract" ./usr/bin/ptxas \
  || { rm -rf "$extract" "$deb"; fail "$deb held no usr/bin/ptxas (a corrupt download?); deleted it, run again to download it anew"; }
mv "$extract/usr/bin/ptxas" "$ptxas.new" && mv "$ptxas.new" "$ptxas"
rm -rf "$extract"
runs "$ptxas" || fail "$ptxas was extracted but does not run: $("$ptxas" --version 2>&1 | tail -n 1)"
echo "fetch-ptxas: $("$ptxas" --version | grep 'release') ready in $((SECONDS - start)) s at $ptxas" >&2
echo "$ptxas"
