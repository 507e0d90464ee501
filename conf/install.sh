#!/bin/sh
# Installs chatd as a systemd service: the binaries, the unit, the config in
# /etc/chatd and the `chatd` system user. Safe to run again: an upgrade replaces
# the binaries and the unit and keeps /etc/chatd/chatd.toml as it is.
# docs/deploy-ec2.md describes where everything goes.
set -eu
umask 022

usage() {
    cat <<'EOF'
Usage: conf/install.sh [OPTIONS]

Installs chatd and chatctl, the systemd unit and a config for the service.

Options:
  --prefix DIR     where bin/ and share/ go (default /usr/local); the unit's
                   ExecStart follows it
  --no-build       use the binaries already in target/release instead of
                   running `cargo build --release`
  --binaries DIR   use chatd and chatctl from DIR (implies --no-build)
  --no-enable      do not run `systemctl enable chatd`
  -h, --help       show this help

Environment:
  DESTDIR          stage the files under this directory (packaging, CI): no
                   user is created, no ownership is set, systemctl is not run

Without DESTDIR it must run as root. It never starts or restarts chatd: do that
with `systemctl start chatd` or `systemctl restart chatd`.
EOF
}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

say() {
    echo "  $*"
}

prefix=/usr/local
build=yes
binaries=
enable=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)
            [ $# -ge 2 ] || die "--prefix needs a directory"
            prefix=$2
            shift 2
            ;;
        --prefix=*)
            prefix=${1#--prefix=}
            shift
            ;;
        --no-build)
            build=no
            shift
            ;;
        --binaries)
            [ $# -ge 2 ] || die "--binaries needs a directory"
            binaries=$2
            build=no
            shift 2
            ;;
        --binaries=*)
            binaries=${1#--binaries=}
            build=no
            shift
            ;;
        --no-enable)
            enable=no
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown argument: $1"
            ;;
    esac
done

# The prefix is written into the unit with sed and must stay one word there.
case "$prefix" in
    /*) ;;
    *) die "--prefix must be an absolute path, not '$prefix'" ;;
esac
case "$prefix" in
    *[!A-Za-z0-9/._+-]*) die "--prefix may only contain letters, digits and / . _ + -" ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || die "--prefix / is not supported; use /usr"

repo=$(cd "$(dirname "$0")/.." && pwd)
destdir=${DESTDIR:-}
if [ -n "$destdir" ]; then
    case "$destdir" in
        /*) ;;
        *) destdir=$(pwd)/$destdir ;;
    esac
    destdir=${destdir%/}
fi

# A real install sets up the user, ownership and systemd; a staged one (DESTDIR)
# only lays the files down.
if [ -n "$destdir" ]; then
    real=no
elif [ "$(id -u)" -eq 0 ]; then
    real=yes
else
    die "run as root (sudo $0 ...), or set DESTDIR to stage the files in a directory"
fi

# --- binaries ---------------------------------------------------------------
if [ "$build" = yes ]; then
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found. Build as the user who has Rust (cargo build --release -p chatd -p chatctl), then run: sudo $0 --no-build"
    echo "building (cargo build --release -p chatd -p chatctl)"
    (cd "$repo" && cargo build --release --locked -p chatd -p chatctl)
fi
[ -n "$binaries" ] || binaries=$repo/target/release
for bin in chatd chatctl; do
    [ -x "$binaries/$bin" ] ||
        die "$binaries/$bin is missing. Build it with: cargo build --release -p chatd -p chatctl"
done

echo "installing chatd into ${destdir:-/} (prefix $prefix)"

# --- the user ---------------------------------------------------------------
if [ "$real" = yes ]; then
    if getent group chatd >/dev/null 2>&1; then
        say "group chatd exists"
    else
        groupadd --system chatd
        say "created group chatd"
    fi
    if id -u chatd >/dev/null 2>&1; then
        say "user chatd exists"
    else
        nologin=/usr/sbin/nologin
        [ -x "$nologin" ] || nologin=/sbin/nologin
        useradd --system --gid chatd --no-create-home --home-dir /var/lib/chatd \
            --shell "$nologin" --comment "chatd chat server" chatd
        say "created system user chatd"
    fi
fi

# Copies $1 to $2 with mode $3 through a temporary file and a rename, so a running
# chatd keeps its old binary and nothing ever sees half a file. Leaves identical
# files alone.
put() {
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        chmod "$3" "$2"
        say "unchanged $2"
        return
    fi
    install -m "$3" "$1" "$2.new"
    mv -f "$2.new" "$2"
    say "installed $2"
    changed=yes
}

# Creates a directory chatd shares with the system (bin, share), if missing.
shared_dir() {
    [ -d "$1" ] || install -d -m 0755 "$1"
}

# Creates chatd's own directory $1 with mode $2, owned by root and group chatd in a
# real install, and puts mode and owner right if it exists.
own_dir() {
    install -d -m "$2" "$1"
    chmod "$2" "$1"
    if [ "$real" = yes ]; then
        chown root:chatd "$1"
    fi
}

changed=no
shared_dir "$destdir$prefix/bin"
for bin in chatd chatctl; do
    put "$binaries/$bin" "$destdir$prefix/bin/$bin" 0755
done

# --- config -----------------------------------------------------------------
# /etc/chatd is readable by the chatd group only: the config can hold a server
# password and oper hashes, tls/ holds the private key. chatd cannot write to it.
own_dir "$destdir/etc/chatd" 0750
own_dir "$destdir/etc/chatd/tls" 0750

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

config=$destdir/etc/chatd/chatd.toml
if [ -e "$config" ]; then
    say "kept $config (it exists; every key with its default is in $prefix/share/doc/chatd/chatd.toml)"
else
    # conf/chatd.toml with what the unit expects: the data dir systemd creates, the
    # admin socket in the runtime dir, TLS on every interface once a certificate
    # is set (the certbot hook in docs/deploy-ec2.md puts it in /etc/chatd/tls).
    # Plaintext stays on 127.0.0.1: local bots, SSH tunnels.
    {
        echo "# chatd's config for the systemd service (written by conf/install.sh; an"
        echo "# upgrade keeps it). Every key with its default: $prefix/share/doc/chatd/chatd.toml"
        echo "# Apply a change: sudo systemctl reload chatd (the journal lists what changed;"
        echo "# the few keys that need it say so: sudo systemctl restart chatd)."
        echo
        sed -e 's|^data_dir = "data"$|data_dir = "/var/lib/chatd"|' \
            -e 's|^# socket = "/run/chatd/admin.sock"$|socket = "/run/chatd/admin.sock"|' \
            -e 's|^listen = \["127.0.0.1:6697"\]$|listen = ["0.0.0.0:6697"]|' \
            -e 's|^# cert = ".*"$|# cert = "/etc/chatd/tls/fullchain.pem"  # copied here by the certbot hook|' \
            -e 's|^# key = ".*"$|# key = "/etc/chatd/tls/privkey.pem"|' \
            "$repo/conf/chatd.toml"
    } >"$tmp/chatd.toml"
    for line in 'data_dir = "/var/lib/chatd"' 'socket = "/run/chatd/admin.sock"' \
        'listen = ["0.0.0.0:6697"]' \
        '# cert = "/etc/chatd/tls/fullchain.pem"  # copied here by the certbot hook' \
        '# key = "/etc/chatd/tls/privkey.pem"'; do
        grep -qxF "$line" "$tmp/chatd.toml" ||
            die "conf/chatd.toml changed: cannot set '$line' in the installed config"
    done
    install -m 0640 "$tmp/chatd.toml" "$config"
    if [ "$real" = yes ]; then
        chown root:chatd "$config"
    fi
    say "installed $config"
fi

# --- systemd unit -----------------------------------------------------------
unit=$destdir/etc/systemd/system/chatd.service
sed "s|/usr/local/|$prefix/|g" "$repo/conf/chatd.service" >"$tmp/chatd.service"
grep -qxF "ExecStart=$prefix/bin/chatd --config /etc/chatd/chatd.toml --data-dir /var/lib/chatd" \
    "$tmp/chatd.service" || die "conf/chatd.service has no ExecStart line to adjust"
shared_dir "$destdir/etc/systemd/system"
put "$tmp/chatd.service" "$unit" 0644
# Documents do not make a running chatd out of date.
restart_needed=$changed

# --- reference documents ----------------------------------------------------
doc=$destdir$prefix/share/doc/chatd
shared_dir "$destdir$prefix/share/doc"
shared_dir "$doc"
put "$repo/conf/chatd.toml" "$doc/chatd.toml" 0644
for f in deploy-ec2.md admin.md; do
    if [ -f "$repo/docs/$f" ]; then
        put "$repo/docs/$f" "$doc/$f" 0644
    fi
done

# --- systemd ----------------------------------------------------------------
if [ "$real" = no ]; then
    echo "staged into $destdir: no user created, systemctl not run"
    exit 0
fi
if ! command -v systemctl >/dev/null 2>&1; then
    echo "systemctl not found: enable and start chatd with your init system"
    exit 0
fi
# /run/systemd/system exists only when systemd is the running init (not in a
# container or a chroot); `systemctl enable` works without it, daemon-reload does not.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    say "systemctl daemon-reload"
fi
if [ "$enable" = yes ]; then
    systemctl enable --quiet chatd.service
    say "systemctl enable chatd (starts at boot)"
fi
if [ -d /run/systemd/system ] && systemctl is-active --quiet chatd.service; then
    if [ "$restart_needed" = yes ]; then
        echo "chatd is still running the old version; switch with: sudo systemctl restart chatd"
        echo "(clients are disconnected and reconnect; queued messages are kept)"
    else
        echo "chatd is running and up to date"
    fi
else
    echo "start it with: sudo systemctl start chatd"
fi
