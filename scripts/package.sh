#!/usr/bin/env bash
# make package: for each supported major, a build users install without our tree, in
# target/dist/:
#   auth_ext-VERSION-pgMAJOR-linux-x86_64.tar.gz   lib/, share/extension/ (laid out as
#       they install), bin/auth_ext_gateway, install.sh (places them with pg_config)
#   auth_ext-pgMAJOR_VERSION_amd64.deb              the same files at Debian's paths for
#       that major (/usr/lib/postgresql/MAJOR/lib, ...), depending on postgresql-MAJOR
# Release builds; PACKAGE_PROFILE=debug for a quick check (make test's).
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
release=--release; [ "${PACKAGE_PROFILE:-release}" = debug ] && release=""
profile_dir=release; [ -z "$release" ] && profile_dir=debug
version="$(extension_version)"
dist="$REPO_ROOT/target/dist"
mkdir -p "$dist"
log "building auth_ext_gateway ($profile_dir)"
cargo build --quiet -p auth_ext_gateway $release
for major in ${PACKAGE_MAJORS:-${PG_MAJORS[@]}}; do
    export PG_MAJOR="$major" PG_CONFIG; PG_CONFIG="$(pg_config_of "$major")"
    name="auth_ext-$version-pg$major-linux-x86_64"
    tree="$dist/$name"
    log "packaging $name"
    build_extension "$tree" $release
    mkdir -p "$tree/bin"
    cp "target/$profile_dir/auth_ext_gateway" "$tree/bin/"
    cp packaging/install.sh "$tree/"
    echo "$major" >"$tree/PG_MAJOR"; echo "$version" >"$tree/VERSION"
    tar -C "$dist" -czf "$dist/$name.tar.gz" "$name"

    # The .deb: the same files where Debian's postgresql-MAJOR looks for them.
    deb="$dist/deb-pg$major"
    rm -rf "$deb"
    mkdir -p "$deb/DEBIAN" "$deb/usr/lib/postgresql/$major/lib" "$deb/usr/share/postgresql/$major/extension" "$deb/usr/bin"
    cp "$tree/lib/auth_ext.so" "$deb/usr/lib/postgresql/$major/lib/"
    cp "$tree"/share/extension/* "$deb/usr/share/postgresql/$major/extension/"
    cp "$tree/bin/auth_ext_gateway" "$deb/usr/bin/"
    cat >"$deb/DEBIAN/control" <<CONTROL
Package: postgresql-$major-auth-ext
Version: $version
Architecture: amd64
Maintainer: auth_ext developers <auth_ext@localhost>
Depends: postgresql-$major, libc6 (>= 2.34)
Section: database
Priority: optional
Description: Postgres as its own auth server (PostgreSQL $major)
 CREATE EXTENSION auth_ext: users, identities, sessions, JWTs and sign-in flows
 inside the database, and auth_ext_gateway, which speaks Supabase Auth's HTTP API.
CONTROL
    dpkg-deb --root-owner-group -Zgzip --build "$deb" "$dist/postgresql-${major}-auth-ext_${version}_amd64.deb" >/dev/null
    rm -rf "$deb"
done
ls -1 "$dist"/*.tar.gz "$dist"/*.deb
