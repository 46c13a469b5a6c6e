#!/bin/bash
# users, groups, perms, files and owned mount targets, in a fat ACI, a thin
# ACI and an OCI image of the same arguments:
# - the tar headers (GNU tar's listing) give the owners and modes asked for,
#   /etc/passwd and /etc/group are real files with root and nobody;
# - the fat rootfs and the OCI bundle (umoci unpack) run under bwrap --uid
#   1000 as that uid (not as root: setpriv drops to it first, so the owners
#   on disk are the ones the image gave): id says app, the home directory and
#   the owned mount target are writable, /etc is not;
# - the OCI config's User names the user;
# - bad inputs only mkaci can see fail the build, one each: an unknown user,
#   a duplicate uid, `files` over a package's file;
# - the busyboxHttpd example serves a data volume as uid 1000 with its
#   configuration from `files`.
. "$(dirname "$0")/lib.sh"
need jq actool bwrap setpriv umoci busybox
# uid 1000 must reach the unpacked trees.
work=$(realpath "$work")
chmod 755 "$work"

mkdir -p "$work/conf" && echo a >"$work/conf/a.txt"
common="
  packages = [ n.pkgs.busybox ];
  name = \"example.com/users\";
  version = \"1\";
  exec = [ \"/bin/busybox\" \"id\" ];
  user = \"app\";
  group = \"app\";
  users.app = { uid = 1000; home = \"/var/lib/app\"; description = \"The app\"; };
  users.web = { uid = 1001; gid = 1000; };
  groups.app = { gid = 1000; members = [ \"web\" ]; };
  mounts.data = { path = \"/srv/data\"; uid = 1000; gid = 1000; mode = \"0750\"; };
  perms = [ { path = \"/etc/hosts\"; mode = \"0600\"; } { path = \"/opt/conf\"; uid = 1001; recursive = true; } ];
  files.\"/etc/app.conf\" = { source = builtins.toFile \"app.conf\" \"greeting=hi\\n\"; gid = 1000; mode = \"0640\"; };
  files.\"/opt/conf\" = builtins.path { path = $work/conf; name = \"conf\"; };
"
# build_expr NAME FUNCTION EXTRA: builds n.FUNCTION ({ common } // { EXTRA }) into $work/result-NAME.
build_expr() {
    nix-build -o "$work/result-$1" -E "let n = import $repo { }; in n.$2 ({ $common } // { $3 })" >"$work/build.log" 2>&1 ||
        fail "$1 does not build: $(tail -n 5 "$work/build.log")"
    readlink -f "$work/result-$1"
}

# owners TAR PREFIX: "mode uid/gid path" of the entries outside the store, PREFIX cut.
owners() {
    tar -tv --numeric-owner -f "$1" | awk -v p="$2" '{ n = $6; sub("^" p, "", n); print $1, $2, n }' |
        grep -v ' nix/'
}
# check_owners LISTING WHAT: each wanted line is in LISTING.
check_owners() {
    local want
    while read -r want; do
        grep -qxF -- "$want" "$1" || fail "$2: no '$want' in the listing:
$(cat "$1")"
    done <<'EOF'
drwx------ 1000/1000 var/lib/app/
drwxr-x--- 1000/1000 srv/data/
-rw-r----- 0/1000 etc/app.conf
-rw------- 0/0 etc/hosts
-rw-r--r-- 0/0 etc/passwd
-rw-r--r-- 0/0 etc/group
-rw-r--r-- 0/0 etc/nsswitch.conf
drwxr-xr-x 1001/0 opt/conf/
-rw-r--r-- 1001/0 opt/conf/a.txt
drwxr-xr-x 0/0 bin/
drwxrwxrwt 0/0 tmp/
EOF
    say "$2: the tar headers give the owners and modes asked for"
}

# run_as_app ROOTFS: ROOTFS as / under bwrap, as uid 1000 from the start
# (which cannot create /proc and /dev in a root-owned rootfs: root does).
run_as_app() {
    mkdir -p "$1/proc" "$1/dev"
    setpriv --reuid=1000 --regid=1000 --clear-groups \
        bwrap --unshare-all --uid 1000 --gid 1000 --bind "$1" / --proc /proc --dev /dev --die-with-parent \
        --clearenv --setenv PATH /bin /bin/busybox sh -c \
        'id -u; id -un; id -gn; touch /var/lib/app/ok && echo home-writable; touch /srv/data/ok && echo data-writable;
         touch /etc/x 2>/dev/null || echo etc-not-writable; cat /etc/app.conf'
}
check_run() {
    local got want
    got=$(run_as_app "$1" 2>&1) || fail "$2: the rootfs does not run as uid 1000: $got"
    want=$(printf '%s\n' 1000 app app home-writable data-writable etc-not-writable greeting=hi)
    [ "$got" = "$want" ] || fail "$2: as uid 1000 it printed:
$got
expected:
$want"
    say "$2: runs under bwrap --uid 1000 as app; its home and data directories are writable, /etc is not"
}

# 1. Fat ACI.
out=$(build_expr fat mkACI "")
aci=$(image "$out")
validate "$aci"
owners "$aci" rootfs/ >"$work/fat.list"
check_owners "$work/fat.list" "fat ACI"
mkdir "$work/fat"
tar -xf "$aci" -C "$work/fat" --same-owner --numeric-owner || fail "cannot extract $aci"
[ "$(cat "$work/fat/rootfs/etc/passwd")" = "root:x:0:0:root:/var/empty:/bin/sh
app:x:1000:1000:The app:/var/lib/app:/bin/sh
web:x:1001:1000::/var/empty:/bin/sh
nobody:x:65534:65534:nobody:/var/empty:/bin/sh" ] || fail "fat ACI: unexpected /etc/passwd: $(cat "$work/fat/rootfs/etc/passwd")"
[ "$(cat "$work/fat/rootfs/etc/group")" = "root:x:0:
app:x:1000:web
nobody:x:65534:" ] || fail "fat ACI: unexpected /etc/group: $(cat "$work/fat/rootfs/etc/group")"
jq -e '.app.user == "app" and .app.group == "app"' "$work/fat/manifest" >/dev/null || fail "fat ACI: manifest user/group"
say "fat ACI: /etc/passwd and /etc/group hold root, the users and nobody"
check_run "$work/fat/rootfs" "fat ACI"

# 2. Thin ACI: the same outside the store.
out=$(build_expr thin mkACI "thin = true;")
aci=$(image "$out")
validate "$aci"
owners "$aci" rootfs/ >"$work/thin.list"
check_owners "$work/thin.list" "thin ACI"

# 3. OCI: the same in the top layer; User names the user; the bundle runs as uid 1000.
out=$(build_expr oci mkOCI "")
lay=$(echo "$out"/*.oci)
m=$lay/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$lay/index.json")
top=$lay/blobs/sha256/$(jq -r '.layers[-1].digest | ltrimstr("sha256:")' "$m")
owners "$top" "" >"$work/oci.list"
check_owners "$work/oci.list" "OCI top layer"
c=$lay/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$m")
jq -e '.config.User == "app:app"' "$c" >/dev/null || fail "OCI: config User is $(jq -c .config.User "$c")"
umoci unpack --image "$lay:1" "$work/bundle" >"$work/umoci.log" 2>&1 || fail "umoci unpack: $(tail -n 5 "$work/umoci.log")"
chmod 755 "$work/bundle"
check_run "$work/bundle/rootfs" "OCI (umoci unpack)"

# 4. Refusals at build time, each naming what to change.
# refused NAME EXTRA MESSAGE...: n.mkACI ({ common } // { EXTRA }) fails with each MESSAGE.
refused() {
    local name=$1 extra=$2 msg
    shift 2
    if nix-build --no-out-link -E "let n = import $repo { }; in n.mkACI ({ $common } // { $extra })" >"$work/err.log" 2>&1; then
        fail "$name was accepted"
    fi
    for msg in "$@"; do
        grep -qF -- "$msg" "$work/err.log" || fail "$name: the error lacks '$msg': $(grep mkaci "$work/err.log")"
    done
    say "$name: refused ($(grep -o 'mkaci: error: .*' "$work/err.log" | head -c 160)...)"
}
refused "an unknown user" 'user = "ghost";' \
    "user: \"ghost\" is not in the image's /etc/passwd (it lists root, app, web, nobody)" \
    'users.ghost = { uid = 1002; gid = 1002; home = "/var/lib/ghost"; };'
refused "a duplicate uid" 'users = { app = { uid = 1000; gid = 1000; }; web = { uid = 1000; gid = 1000; }; };' \
    'users.web.uid: uid 1000 is already used by users.app'
refused "files over a package's file" 'files."/bin/busybox" = builtins.toFile "b" "b";' \
    'files."/bin/busybox" (/nix/store/' '/bin/busybox is already in the image, from /nix/store/' \
    '-busybox-1.35.0; remove one of them'

# 5. The busyboxHttpd example serves a data volume as uid 1000.
out=$(build busyboxHttpd)
aci=$(image "$out")
validate "$aci"
mkdir "$work/httpd"
tar -xf "$aci" -C "$work/httpd" --same-owner --numeric-owner || fail "cannot extract $aci"
mkdir -m 750 "$work/www" && echo served-as-www >"$work/www/index.txt" && chown -R 1000:1000 "$work/www"
mkdir -p "$work/httpd/rootfs/proc" "$work/httpd/rootfs/dev"
port=$((20000 + RANDOM % 20000))
mapfile -t cmd < <(jq -r '.app.exec[]' "$work/httpd/manifest" | sed "s/^8080\$/$port/")
jq -e '.app.user == "www" and .app.group == "www"' "$work/httpd/manifest" >/dev/null || fail "busyboxHttpd: manifest user"
setpriv --reuid=1000 --regid=1000 --clear-groups \
    bwrap --unshare-all --share-net --uid 1000 --gid 1000 --bind "$work/httpd/rootfs" / --bind "$work/www" /srv/www \
    --proc /proc --dev /dev --die-with-parent --clearenv --setenv PATH /bin "${cmd[@]}" >"$work/httpd.log" 2>&1 &
httpd=$!
got=
for _ in $(seq 50); do
    got=$(busybox wget -qO- "http://127.0.0.1:$port/index.txt" 2>/dev/null) && break
    sleep 0.1
done
kill "$httpd" 2>/dev/null
wait "$httpd" 2>/dev/null || true
[ "$got" = served-as-www ] || fail "busyboxHttpd: got '$got' from port $port: $(cat "$work/httpd.log")"
say "busyboxHttpd: serves /srv/www (mode 0750, uid 1000) as www with /etc/httpd.conf from files"
