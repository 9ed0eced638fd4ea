#!/bin/sh
# Installs a prebuilt deployer from the project's GitHub releases, after checking the archive
# against its published SHA-256 checksum. POSIX sh; needs curl (or wget), tar (unzip on Windows)
# and one of sha256sum, shasum or openssl.
#
#   curl -fsSL https://raw.githubusercontent.com/simhill/deployer/main/scripts/install.sh | sh
#   sh scripts/install.sh --version v0.2.0 --to ~/.local/bin
#
# Options (or environment variables):
#   --version TAG    the release to install, or "latest" (default)           DEPLOYER_VERSION
#   --to DIR         where to put the binary (default ~/.local/bin)          DEPLOYER_INSTALL_DIR
#   --repo OWNER/NAME  the GitHub repository of the releases                 DEPLOYER_REPOSITORY
#   --resolve        only print the release tag that "latest" stands for, and install nothing
#   DEPLOYER_GITHUB_URL  the GitHub server (default https://github.com; GitHub Enterprise, a mirror)
#
# The archives are the ones cargo-dist publishes (dist-workspace.toml):
# deployer-<target>.tar.gz (.zip on Windows), each with deployer-<target>.tar.gz.sha256 beside it.
# Nothing is installed unless the checksum matches; a failed run leaves no binary behind.
set -eu

version="${DEPLOYER_VERSION:-latest}"
dest="${DEPLOYER_INSTALL_DIR:-${HOME:-.}/.local/bin}"
repository="${DEPLOYER_REPOSITORY:-simhill/deployer}"
server="${DEPLOYER_GITHUB_URL:-https://github.com}"
resolve_only=false

say() { printf 'deployer install: %s\n' "$*" >&2; }
fail() {
  printf 'deployer install: error: %s\n' "$*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --version) [ $# -ge 2 ] || fail "--version needs a value"; version="$2"; shift 2 ;;
    --to) [ $# -ge 2 ] || fail "--to needs a value"; dest="$2"; shift 2 ;;
    --repo) [ $# -ge 2 ] || fail "--repo needs a value"; repository="$2"; shift 2 ;;
    --resolve) resolve_only=true; shift ;;
    -h | --help) sed -n '2,19p' "$0" 2>/dev/null | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown option $1 (allowed: --version TAG, --to DIR, --repo OWNER/NAME, --resolve)" ;;
  esac
done
server="${server%/}"
# HTTPS only, redirects included, unless the server itself was given as http:// (a local mirror).
case "$server" in
  http://*) protocols='=https,http' ;;
  *) protocols='=https' ;;
esac

# The Rust target of this machine, as the release archives are named.
target() {
  os=$(uname -s)
  arch=$(uname -m)
  case "$arch" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) fail "no prebuilt deployer for the $arch architecture; build it with: cargo install --locked deployer" ;;
  esac
  case "$os" in
    Linux) echo "$arch-unknown-linux-musl" ;;
    Darwin) echo "$arch-apple-darwin" ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      [ "$arch" = x86_64 ] || fail "no prebuilt deployer for Windows on $arch"
      echo "x86_64-pc-windows-msvc"
      ;;
    *) fail "no prebuilt deployer for $os; build it with: cargo install --locked deployer" ;;
  esac
}

# Downloads $1 to the file $2; fails with the address on any HTTP error.
download() {
  if command -v curl >/dev/null 2>&1; then
    curl --proto "$protocols" --proto-redir "$protocols" -fsSL --retry 3 -o "$2" "$1" || fail "could not download $1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1" || fail "could not download $1"
  else
    fail "neither curl nor wget is installed"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
  else
    fail "no SHA-256 tool (sha256sum, shasum or openssl) to check the download with"
  fi
}

# The tag "latest" stands for: GitHub redirects releases/latest to releases/tag/<tag>.
resolve() {
  if [ "$version" != latest ]; then
    echo "$version"
    return
  fi
  command -v curl >/dev/null 2>&1 || fail "curl is needed to find the latest release"
  url=$(curl --proto "$protocols" --proto-redir "$protocols" -fsSL -o /dev/null -w '%{url_effective}' \
    "$server/$repository/releases/latest") || fail "could not find the latest release of $repository"
  tag=${url##*/releases/tag/}
  [ -n "$tag" ] && [ "$tag" != "$url" ] || fail "$repository has no published release yet"
  echo "$tag"
}

tag=$(resolve)
if [ "$resolve_only" = true ]; then
  echo "$tag"
  exit 0
fi

triple=$(target)
case "$triple" in
  *windows*) archive="deployer-$triple.zip"; binary=deployer.exe ;;
  *) archive="deployer-$triple.tar.gz"; binary=deployer ;;
esac
base="$server/$repository/releases/download/$tag"

work=$(mktemp -d 2>/dev/null || mktemp -d -t deployer)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

say "downloading $archive ($tag) from $base"
download "$base/$archive" "$work/$archive"
download "$base/$archive.sha256" "$work/$archive.sha256"

# The checksum file holds "<hex>  <name>" (or "<hex> *<name>"); the hex digits are what counts.
expected=$(cut -d ' ' -f 1 <"$work/$archive.sha256" | head -n 1 | tr 'A-F' 'a-f')
actual=$(sha256_of "$work/$archive")
case "$expected" in
  "" | *[!0-9a-f]*) fail "$archive.sha256 holds no SHA-256 checksum; nothing was installed" ;;
esac
if [ "$expected" != "$actual" ]; then
  fail "checksum mismatch for $archive: expected $expected, got $actual; the download is \
damaged or not the published one, and nothing was installed"
fi
say "checksum verified (sha256 $actual)"

mkdir "$work/unpacked"
case "$archive" in
  *.zip) unzip -q "$work/$archive" -d "$work/unpacked" || fail "could not unpack $archive" ;;
  *) tar -xzf "$work/$archive" -C "$work/unpacked" || fail "could not unpack $archive" ;;
esac
# cargo-dist puts the binary in a directory named after the archive; a flat archive works too.
found=""
for candidate in "$work/unpacked/deployer-$triple/$binary" "$work/unpacked/$binary"; do
  if [ -f "$candidate" ]; then
    found="$candidate"
    break
  fi
done
[ -n "$found" ] || fail "$archive has no $binary in it; nothing was installed"

mkdir -p "$dest" || fail "cannot create $dest"
# Copied beside its final place and renamed: a running deployer is never overwritten halfway.
cp "$found" "$dest/.$binary.tmp.$$" || fail "cannot write to $dest"
chmod 755 "$dest/.$binary.tmp.$$"
mv -f "$dest/.$binary.tmp.$$" "$dest/$binary" || {
  rm -f "$dest/.$binary.tmp.$$"
  fail "cannot write $dest/$binary"
}
say "installed $dest/$binary ($tag, $triple)"
case ":${PATH:-}:" in
  *":$dest:"*) ;;
  *) say "$dest is not on PATH; add it, or run $dest/$binary" ;;
esac
