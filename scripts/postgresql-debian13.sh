#!/usr/bin/env bash
# PostgreSQL of a major Debian 12 lacks (17), taken from Debian 13's packages and made to
# run here: Debian 12 cannot install them (they need a newer C library), and the
# PostgreSQL project's own apt repository is out of reach, but Debian 13's .debs can be
# downloaded. They are unpacked into one folder with the Debian 13 C library they were
# built for; each program is pointed at that folder's loader and libraries (patchelf).
# Postgres finds its library and share folders from where its programs are, so the tree
# works where it lies, and pg_config reports its paths. Nothing outside the folder changes.
#   scripts/postgresql-debian13.sh MAJOR ROOT
set -euo pipefail
major="$1"; root="$2"
[ -x "$root/usr/lib/postgresql/$major/bin/pg_config" ] && exit 0

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc/apt/apt.conf.d" "$work/etc/apt/preferences.d" "$work/etc/apt/sources.list.d" \
    "$work/state/lists/partial" "$work/cache/archives/partial" "$work/debs"
touch "$work/state/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    >"$work/etc/apt/sources.list"
cat >"$work/apt.conf" <<CONF
Dir::Etc "$work/etc/apt";
Dir::State "$work/state";
Dir::State::status "$work/state/status";
Dir::Cache "$work/cache";
APT::Architecture "amd64";
APT::Sandbox::User "root";
CONF
export APT_CONFIG="$work/apt.conf"
apt-get update -qq
# The server, its client programs and headers, and every library they load; not the
# packages that only serve Debian's cluster scripts (perl, debconf, ...) or JIT (LLVM).
wanted=("postgresql-$major" "postgresql-client-$major" libpq5)
closure="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "${wanted[@]}" | grep -E '^[a-z0-9]' | sort -u \
    | grep -vE '^(postgresql-common|postgresql-client-common|postgresql-common-dev|libllvm|llvm|clang|perl|libperl|python|libpython|locales|debconf|cdebconf|adduser|passwd|ssl-cert|tzdata|sensible-utils|ucf|init-system-helpers|lsb-base|procps|libproc|login|sysvinit|base-passwd|lib.*-perl|netbase|media-types|readline-common|openssl|libdebian|libdebconf|libnewt|libslang|libtextwrap|libc-l10n|libsemanage|libz3|libyaml|libdb5)')"
(cd "$work/debs" && apt-get download -qq $closure "postgresql-server-dev-$major")

rm -rf "$root.new"; mkdir -p "$root.new"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$root.new"; done
libs="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu:$root/usr/lib/postgresql/$major/lib"
loader="$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
pgdir="$root.new/usr/lib/postgresql/$major"
for program in "$pgdir"/bin/* "$pgdir"/lib/pgxs/src/test/regress/pg_regress \
        "$pgdir"/lib/pgxs/src/test/isolation/pg_isolation_regress "$pgdir"/lib/pgxs/src/test/isolation/isolationtester; do
    [ -f "$program" ] && head -c 4 "$program" | grep -q ELF || continue
    # An RPATH (not RUNPATH) also serves the libraries they load, and the extensions.
    patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$libs" "$program"
done
rm -rf "$root"; mv "$root.new" "$root"
"$root/usr/lib/postgresql/$major/bin/pg_config" --version
