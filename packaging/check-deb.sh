#!/usr/bin/env bash
# Checks the contents of a built forecourtd .deb: the files it installs, the conffile,
# the maintainer scripts, and that the binary is stripped.
# Usage: packaging/check-deb.sh target/debian/forecourtd_*.deb
set -euo pipefail
deb=${1:?usage: check-deb.sh PACKAGE.deb}
fail() { echo "check-deb: $*" >&2; exit 1; }

contents=$(dpkg-deb -c "$deb")
for path in \
    ./usr/bin/forecourtd \
    ./usr/lib/systemd/system/forecourtd.service \
    ./usr/lib/sysusers.d/forecourtd.conf \
    ./usr/lib/tmpfiles.d/forecourtd.conf \
    ./etc/forecourtd/config.toml \
    ./usr/share/doc/forecourtd/README.md \
    ./usr/share/doc/forecourtd/docs/architecture.md \
    ./usr/share/doc/forecourtd/docs/protocols/dart.md \
    ./usr/share/doc/forecourtd/config.example.toml; do
    grep -q " $path\$" <<<"$contents" || fail "$path is missing"
done
grep -qE '^-rwxr-xr-x (root/root|0/0) .* ./usr/bin/forecourtd$' <<<"$contents" \
    || fail "the binary is not root-owned 0755"

info=$(dpkg-deb -I "$deb")
grep -q '^ Package: forecourtd$' <<<"$info" || fail "wrong package name"
grep -q '^ Depends:.*systemd' <<<"$info" || fail "does not depend on systemd"
for script in postinst prerm postrm conffiles; do
    grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\*? *$script" <<<"$info" || fail "no $script"
done
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/forecourtd/config.toml ] || fail "conffiles"
dpkg-deb -I "$deb" postinst | grep -q 'systemd-sysusers forecourtd.conf' \
    || fail "postinst does not create the user"
if dpkg-deb -I "$deb" postinst | grep -qE 'systemctl (enable|start)'; then
    fail "postinst must not enable or start the service before it is configured"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work"
if readelf -S "$work/usr/bin/forecourtd" | grep -q '\.symtab'; then
    fail "the binary is not stripped"
fi
"$work/usr/bin/forecourtd" check-config "$work/etc/forecourtd/config.toml" >/dev/null \
    || fail "the packaged configuration does not validate"
echo "check-deb: $deb OK"
