# Sourced by the setup scripts: fetches Debian packages without touching the system's APT sources, state or
# installed packages. `private_apt_download SUITE DIR PACKAGE...` downloads the named packages of SUITE (bookworm,
# trixie, ...) from the mirror the system already uses into DIR, with a throw-away APT configuration;
# `unpack_debs DIR ROOT` unpacks every .deb of DIR into ROOT (dpkg -x: no scripts run, nothing is registered).

private_apt_download() {
  local suite=$1 dest=$2
  shift 2
  local apt_dir mirror status=0
  apt_dir=$(mktemp -d)
  mkdir -p "$apt_dir/etc" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dest"
  # The same mirror the system already uses for Debian, so no new host is contacted.
  mirror=$(grep -hoE '^(URIs:|deb) *https?://[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -v security | head -n 1 | awk '{print $NF}' || true)
  if [ -z "$mirror" ]; then
    echo "setup: cannot find the system's Debian mirror in /etc/apt" >&2
    rm -rf "$apt_dir"
    return 3
  fi
  cat > "$apt_dir/etc/$suite.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  cat > "$apt_dir/apt.conf" <<CONF
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$apt_dir/etc";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "/dev/null";
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
Dir::State::status "/dev/null";
APT::Architecture "amd64";
CONF
  APT_CONFIG=$apt_dir/apt.conf apt-get update -qq -o APT::Sandbox::User=root >/dev/null || status=$?
  if [ $status -eq 0 ]; then
    (cd "$dest" && APT_CONFIG=$apt_dir/apt.conf apt-get download -qq -o APT::Sandbox::User=root "$@" >/dev/null) || status=$?
  fi
  rm -rf "$apt_dir"
  return $status
}

unpack_debs() {
  local deb
  mkdir -p "$2"
  for deb in "$1"/*.deb; do dpkg -x "$deb" "$2"; done
}
