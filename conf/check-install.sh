#!/usr/bin/env bash
# Checks the deployment files without touching the machine: conf/install.sh into
# temporary roots (first install, re-run, upgrade, --prefix), the systemd unit with
# `systemd-analyze verify`, the installed config started with the installed chatd,
# and conf/cloud-init.yaml. The test tests/tests/ci_scripts.rs calls it; by hand:
#   cargo build -p chatd -p chatctl && conf/check-install.sh target/debug
set -euo pipefail
cd "$(dirname "$0")/.."

bindir=${1:-target/debug}
bindir=$(cd "$bindir" 2>/dev/null && pwd) || {
    echo "check-install: no directory $1" >&2
    exit 1
}

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok    $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL  $*"
}
# check DESCRIPTION COMMAND...: runs the command quietly, counts the result.
check() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}

tmp=$(mktemp -d)
chatd_pid=
cleanup() {
    if [ -n "$chatd_pid" ]; then kill -KILL "$chatd_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

for bin in chatd chatctl; do
    if [ ! -x "$bindir/$bin" ]; then
        echo "check-install: $bindir/$bin missing; building"
        cargo build -q -p chatd -p chatctl
        break
    fi
done

# mode_is MODE PATH
mode_is() { [ "$(stat -c %a "$2")" = "$1" ]; }

# The files a staged install lays down under the default prefix, with their modes.
expected_files() {
    local p=${1:-/usr/local}
    cat <<EOF
755 $p/bin/chatctl
755 $p/bin/chatd
644 $p/share/doc/chatd/admin.md
644 $p/share/doc/chatd/chatd.toml
644 $p/share/doc/chatd/deploy-ec2.md
750 /etc/chatd
640 /etc/chatd/chatd.toml
750 /etc/chatd/tls
644 /etc/systemd/system/chatd.service
EOF
}

# Every file and chatd-owned directory under a staged root, as "MODE /path".
laid_down() {
    local root=$1
    (cd "$root" && find . \( -type f -o -path ./etc/chatd -o -path './etc/chatd/*' \) \
        -printf '%m /%P\n' | sort -k2)
}

staged_install() { # ROOT [ARGS...]
    local root=$1
    shift
    DESTDIR=$root conf/install.sh "$@"
}

echo "== conf/install.sh into a temporary root"
root=$tmp/root
if staged_install "$root" --binaries "$bindir" >"$tmp/run1.log" 2>&1; then
    ok "first run exits 0"
else
    fail "first run exits 0"
    cat "$tmp/run1.log"
fi
if diff <(expected_files | sort -k2) <(laid_down "$root") >"$tmp/files.diff"; then
    ok "exactly the expected files, with their modes"
else
    fail "exactly the expected files, with their modes (- expected, + found):"
    cat "$tmp/files.diff"
fi
for bin in chatd chatctl; do
    check "usr/local/bin/$bin is the built binary" cmp "$bindir/$bin" "$root/usr/local/bin/$bin"
done
check "the unit is conf/chatd.service as is (prefix /usr/local)" \
    cmp conf/chatd.service "$root/etc/systemd/system/chatd.service"
check "the reference config is conf/chatd.toml" \
    cmp conf/chatd.toml "$root/usr/local/share/doc/chatd/chatd.toml"
config=$root/etc/chatd/chatd.toml
for line in 'data_dir = "/var/lib/chatd"' 'socket = "/run/chatd/admin.sock"' \
    'listen = ["127.0.0.1:6667"]' 'listen = ["0.0.0.0:6697"]'; do
    check "installed config sets: $line" grep -qxF "$line" "$config"
done
check "installed config points at the hook's certificate copy" \
    grep -q '^# cert = "/etc/chatd/tls/fullchain.pem"' "$config"
unit=$root/etc/systemd/system/chatd.service
check "the unit's ExecStart matches the installed paths" grep -qxF \
    'ExecStart=/usr/local/bin/chatd --config /etc/chatd/chatd.toml --data-dir /var/lib/chatd' "$unit"
check "the unit's RuntimeDirectory holds the config's admin socket" \
    grep -qxF 'RuntimeDirectory=chatd' "$unit"
check "the first run says it staged" grep -q "^staged into $root" "$tmp/run1.log"

echo "== a second run keeps a changed config and changes nothing else"
echo '# a local change' >>"$config"
cp -p "$config" "$tmp/config.changed"
before=$(laid_down "$root")
if staged_install "$root" --binaries "$bindir" >"$tmp/run2.log" 2>&1; then
    ok "second run exits 0"
else
    fail "second run exits 0"
    cat "$tmp/run2.log"
fi
check "the changed config is kept" cmp "$tmp/config.changed" "$config"
check "the second run says it kept the config" grep -q "kept $config" "$tmp/run2.log"
check "the second run installs nothing" bash -c "! grep -q '  installed ' '$tmp/run2.log'"
check "the same files with the same modes" diff <(echo "$before") <(laid_down "$root")

echo "== an upgrade replaces the binaries, keeps the config"
mkdir "$tmp/newbin"
cp "$bindir/chatd" "$bindir/chatctl" "$tmp/newbin/"
printf '\n' >>"$tmp/newbin/chatd" # another build of chatd (an ELF file ignores the byte)
check "upgrade run exits 0" staged_install "$root" --binaries "$tmp/newbin"
check "chatd replaced" cmp "$tmp/newbin/chatd" "$root/usr/local/bin/chatd"
check "chatd still mode 755" mode_is 755 "$root/usr/local/bin/chatd"
check "the config is still the changed one" cmp "$tmp/config.changed" "$config"
check "no leftover temporary files" diff <(echo "$before") <(laid_down "$root")

echo "== --prefix /opt/chatd"
root2=$tmp/root2
check "run with --prefix exits 0" staged_install "$root2" --prefix /opt/chatd --binaries "$bindir"
check "files under /opt/chatd" diff <(expected_files /opt/chatd | sort -k2) <(laid_down "$root2")
check "the unit's ExecStart follows the prefix" grep -qxF \
    'ExecStart=/opt/chatd/bin/chatd --config /etc/chatd/chatd.toml --data-dir /var/lib/chatd' \
    "$root2/etc/systemd/system/chatd.service"
check "no /usr/local left in the unit" bash -c "! grep -q /usr/local '$root2/etc/systemd/system/chatd.service'"
check "an unknown option is refused" bash -c "! DESTDIR='$tmp/root3' conf/install.sh --bogus"
check "a relative --prefix is refused" bash -c "! DESTDIR='$tmp/root3' conf/install.sh --prefix usr --no-build"
check "a missing binaries directory is refused" \
    bash -c "! DESTDIR='$tmp/root3' conf/install.sh --binaries '$tmp/none'"

echo "== systemd-analyze verify"
# verify fails when ExecStart's binary does not exist ("Command ... is not
# executable"), and this machine has no /usr/local/bin/chatd. So each unit is
# verified from a copy whose ExecStart names the same chatd at a path that
# exists: the built binary for conf/chatd.service, the staged one for the unit
# install.sh laid down. Nothing else in the copies changes.
if command -v systemd-analyze >/dev/null 2>&1; then
    verify() { # NAME UNIT CHATD
        mkdir -p "$tmp/verify/$1"
        sed "s|^ExecStart=[^ ]*/bin/chatd |ExecStart=$3 |" "$2" >"$tmp/verify/$1/chatd.service"
        local out rc=0
        out=$(systemd-analyze verify "$tmp/verify/$1/chatd.service" 2>&1) || rc=$?
        # Lines about other units (the machine's own) are not this check's business.
        if [ "$rc" -eq 0 ] && ! grep -qi chatd <<<"$out"; then
            ok "systemd-analyze verify $1: no errors or warnings"
        else
            fail "systemd-analyze verify $1 (exit $rc):"
            echo "$out"
        fi
    }
    verify conf/chatd.service conf/chatd.service "$bindir/chatd"
    verify "installed unit" "$unit" "$root/usr/local/bin/chatd"
    verify "installed unit, --prefix" "$root2/etc/systemd/system/chatd.service" "$root2/opt/chatd/bin/chatd"
else
    fail "systemd-analyze not found (Debian package systemd)"
fi

echo "== the installed chatd runs with the installed config"
# As the unit runs it, except for paths this machine lacks: the admin socket in
# the temporary dir (no /run/chatd), a temporary data dir, and port 0.
run=$tmp/run
mkdir -p "$run/data/backups"
sed 's|^socket = "/run/chatd/admin.sock"$|socket = "'"$run"'/admin.sock"|' "$config" >"$run/chatd.toml"
"$root/usr/local/bin/chatd" --config "$run/chatd.toml" --data-dir "$run/data" \
    --listen 127.0.0.1:0 </dev/null >"$run/log" 2>&1 &
chatd_pid=$!
for _ in $(seq 100); do
    if grep -q "listening on" "$run/log" || ! kill -0 "$chatd_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if grep -q "listening on" "$run/log"; then
    ok "chatd starts with the installed config"
    chatctl=$root/usr/local/bin/chatctl
    check "chatctl --config finds the admin socket" "$chatctl" --config "$run/chatd.toml" stats
    check "chatctl backup writes a copy while chatd runs" "$chatctl" --socket "$run/admin.sock" \
        backup "$run/data/backups/chatd-$(date +%F).db"
    check "the backup is a SQLite database" \
        bash -c "head -c 15 '$run/data/backups/chatd-$(date +%F).db' | grep -q 'SQLite format 3'"
    kill -HUP "$chatd_pid"
    for _ in $(seq 50); do
        if grep -q "config reloaded" "$run/log"; then break; fi
        sleep 0.1
    done
    check "SIGHUP (ExecReload) reloads and chatd stays up" \
        bash -c "grep -q 'config reloaded' '$run/log' && kill -0 $chatd_pid"
    kill -TERM "$chatd_pid"
    rc=0
    wait "$chatd_pid" || rc=$?
    chatd_pid=
    if [ "$rc" -eq 0 ]; then ok "SIGTERM (systemctl stop) exits 0"; else fail "SIGTERM exits 0, got $rc"; fi
else
    fail "chatd starts with the installed config; its log:"
    cat "$run/log"
fi

echo "== conf/cloud-init.yaml"
check "starts with #cloud-config" bash -c "head -n1 conf/cloud-init.yaml | grep -qx '#cloud-config'"
python=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then
        python=$p
        break
    fi
done
if [ -n "$python" ]; then
    # Writes each shell script of write_files to $tmp/cloud/, and the certbot hook
    # from docs/deploy-ec2.md beside them.
    if "$python" - "$tmp/cloud" <<'EOF'; then
import os, re, sys, yaml
out = sys.argv[1]
os.makedirs(out)
doc = yaml.safe_load(open("conf/cloud-init.yaml"))
assert isinstance(doc, dict), "not a mapping"
for key in ("write_files", "runcmd"):
    assert key in doc, f"no {key}"
for f in doc["write_files"]:
    assert "path" in f and "content" in f, f"write_files entry without path or content: {f}"
    if f["content"].startswith("#!/bin/sh") or f["content"].startswith("#!/bin/bash"):
        with open(os.path.join(out, os.path.basename(f["path"])), "w") as w:
            w.write(f["content"])
md = open("docs/deploy-ec2.md").read()
hook = re.search(r"```sh\n(#!/bin/sh\n# certbot deploy hook for chatd.*?)```", md, re.S)
assert hook, "no certbot hook in docs/deploy-ec2.md"
with open(os.path.join(out, "hook-from-docs"), "w") as w:
    w.write(hook.group(1))
EOF
        ok "valid YAML with write_files and runcmd"
        for f in "$tmp"/cloud/*; do
            check "$(basename "$f"): shell syntax" sh -n "$f"
        done
        if [ -f "$tmp/cloud/chatd" ]; then
            check "the certbot hook is the same in cloud-init and docs/deploy-ec2.md" \
                cmp "$tmp/cloud/chatd" "$tmp/cloud/hook-from-docs"
        else
            fail "cloud-init writes the certbot hook (/etc/letsencrypt/renewal-hooks/deploy/chatd)"
        fi
    else
        fail "conf/cloud-init.yaml is valid YAML with write_files and runcmd"
    fi
else
    fail "python3 with PyYAML not found (Debian package python3-yaml)"
fi

if command -v shellcheck >/dev/null 2>&1; then
    for f in conf/install.sh conf/check-install.sh "$tmp"/cloud/*; do
        [ -f "$f" ] || continue
        if out=$(shellcheck "$f" 2>&1); then
            ok "shellcheck $(basename "$f")"
        else
            fail "shellcheck $(basename "$f"):"
            echo "$out"
        fi
    done
else
    fail "shellcheck not found (Debian package shellcheck)"
fi

echo "check-install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
