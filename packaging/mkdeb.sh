#!/bin/sh
# mkdeb.sh: build the krx Debian package from a finished build.
#
#   packaging/mkdeb.sh BUILD VERSION OUT.deb
#
# Stages the files under BUILD/deb/root with the paths of `make install
# PREFIX=/usr` (krxd in /usr/sbin, as packaging/krxd.service runs it),
# man pages gzipped -9n, the example configuration as the conffile
# /etc/krx/krxd.conf, and DEBIAN/ from packaging/deb/; Depends from
# dpkg-shlibdeps. Run from the top of the source tree (make deb does).
set -eu

build=$1 version=$2 out=$3
top=$(pwd)
pd=$top/packaging/deb
root=$build/deb/root
doc=$root/usr/share/doc/krx

die() { printf 'mkdeb: %s\n' "$*" >&2; exit 1; }

# The changelog must describe the version being built.
head -n1 "$pd/changelog" | grep -q "^krx ($version) " ||
    die "packaging/deb/changelog does not start with krx ($version)"

rm -rf "$build/deb"
umask 022
install -d "$root/usr/sbin" "$root/usr/bin" "$root/etc/krx" "$doc" \
    "$root/usr/share/man/man5" "$root/usr/share/man/man8" \
    "$root/usr/lib/systemd/system" "$root/usr/lib/sysusers.d" \
    "$root/usr/lib/tmpfiles.d" "$root/usr/share/lintian/overrides" \
    "$root/DEBIAN"

# Binaries, stripped as Debian policy wants (debug info stays in BUILD).
for b in sbin/krxd bin/krx-ctl; do
	install -m 0755 "$build/${b#*/}" "$root/usr/$b"
	strip --strip-unneeded --remove-section=.comment \
	    --remove-section=.note "$root/usr/$b"
done

for m in man/*.[0-9]; do
	s=${m##*.}
	gzip -9n <"$m" >"$root/usr/share/man/man$s/${m#man/}.gz"
done
gzip -9n <"$pd/changelog" >"$doc/changelog.Debian.gz"
install -m 0644 "$pd/copyright" "$doc/copyright"
install -m 0644 "$pd/lintian-overrides" \
    "$root/usr/share/lintian/overrides/krx"

install -m 0644 conf/krxd.conf.example "$root/etc/krx/krxd.conf"
install -m 0644 packaging/krxd.service "$root/usr/lib/systemd/system/"
install -m 0644 packaging/krx.sysusers "$root/usr/lib/sysusers.d/krx.conf"
install -m 0644 packaging/krx.tmpfiles "$root/usr/lib/tmpfiles.d/krx.conf"

install -m 0644 "$pd/conffiles" "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$pd/$s" "$root/DEBIAN/$s"
done

# Depends: what dpkg-shlibdeps finds the binaries link (it wants a
# debian/control, any will do); without it, the libraries of the
# GNUmakefile's pkg-config list as Debian 12 names them.
shl=$build/deb/shlibs
mkdir -p "$shl/debian"
: >"$shl/debian/control"
abs=$(cd "$root" && pwd)
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
	shlibs=$(cd "$shl" && dpkg-shlibdeps -O \
	    -e"$abs/usr/sbin/krxd" -e"$abs/usr/bin/krx-ctl" \
	    2>/dev/null | sed -n 's/^shlibs:Depends=//p')
else
	shlibs="libc6 (>= 2.34), libconfig9, libcurl4 (>= 7.16.3),"
	shlibs="$shlibs libevent-2.1-7, libevent-openssl-2.1-7, liblmdb0,"
	shlibs="$shlibs liblz4-1, libsnappy1v5, libssl3, libzstd1, zlib1g"
fi
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no shared libraries"

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$(dpkg --print-architecture)/" \
    -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" \
    "$pd/control.in" >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o \
    -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control"

dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
printf '  DEB    %s\n' "$out"
