#!/bin/bash
# postprocess.sh --site SITE --base-url URL makes a static appc discovery
# site that the real rkt (1.30, fly stage1) uses by name, served by a plain
# static server (python3 -m http.server on 127.0.0.1:80, which answers
# localhost): `rkt trust --prefix localhost --insecure-allow-http` finds the
# key through discovery (no key file given), and `rkt run localhost/busybox:1.0.0`
# discovers, fetches and verifies the image (only http is allowed insecurely;
# the signature is checked) and runs it. Publishing the same image again
# changes no file of the site; a different image under the same name and
# labels is refused and changes nothing (nor DIR). An image signed with a
# second key keeps the first key answerable: one trust of the prefix gets
# both. The same works from a sub-path (SITE served at /sub/, base URL
# http://localhost/sub/, images localhost/sub/...), and a name the base URL
# cannot answer, a bad base URL and --site without --base-url are refused.
#
# rkt is found through NIX2ACI_RKT and NIX2ACI_RKT_STAGE1 (default: rkt and
# stage1-fly.aci in ../shared/tools/rkt/ beside the repository); without
# them the test is skipped. rkt and the server on port 80 need root.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/rkt_lib.sh"
need python3 curl sha256sum
# rkt must reach the local server itself, never a proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=localhost,127.0.0.1 NO_PROXY=localhost,127.0.0.1

SITE="$work/site"
server_pid=
rkt_extra_cleanup() { stop_server; }

# rk_ok WHAT STATE ARGS...: rkt ARGS in STATE must succeed.
rk_ok() {
    local what=$1 dir=$2; shift 2
    rkt_in "$dir" "$@" || fail "$what: rkt $* exited $?$(said)"
}

# serve DIR: python3 -m http.server on 127.0.0.1:80 serving DIR, until stop_server.
serve() {
    stop_server
    # Fail clearly rather than test against someone else's server.
    python3 -c 'import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 80))' \
        2>"$work/bind.err" || fail "127.0.0.1:80 is not free (the test serves the site there, as rkt discovers localhost on port 80): $(tail -n 1 "$work/bind.err")"
    python3 -m http.server 80 --bind 127.0.0.1 --directory "$1" >"$work/server.log" 2>&1 &
    server_pid=$!
    local i
    for i in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1/" && return 0
        kill -0 "$server_pid" 2>/dev/null || fail "python3 -m http.server exited: $(tail -n 5 "$work/server.log")"
        sleep 0.2
    done
    fail "python3 -m http.server does not answer on 127.0.0.1:80: $(tail -n 5 "$work/server.log")"
}
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null || true  # killed: 143
    server_pid=
}

# snapshot DIR: every file under DIR with its checksum, size and mtime.
snapshot() { (cd "$1" && find . -type f -printf '%p %s %T@\n' | sort && find . -type f -exec sha256sum {} + | sort); }

# publish ATTR DIR SITE BASE [ENV...]: builds ATTR of $work/images.nix and runs
# its postprocess.sh into DIR with --site SITE --base-url BASE; sets out. Its
# output is in $work/pp.log; returns its exit status.
publish() {
    local attr=$1 dir=$2 site=$3 base=$4; shift 4
    nix-build "$work/images.nix" -A "$attr" -o "$work/result-$attr" >/dev/null || fail "$attr: nix-build failed"
    out=$(readlink -f "$work/result-$attr")
    (cd "$work" && env "$@" "$out/postprocess.sh" "$dir" --site "$site" --base-url "$base") >"$work/pp.log" 2>&1
}
publish_ok() {
    publish "$@" || fail "$1: postprocess.sh --site $3 --base-url $4 failed: $(tail -n 5 "$work/pp.log")"
}

# rkt cannot verify Ed25519 signatures: RSA keys, without a passphrase. The
# first is gpg's default key; the second signs only when named.
for who in first second; do
    gpg --batch --passphrase '' --pinentry-mode loopback \
        --quick-gen-key "nix2aci $who <$who@example.com>" rsa2048 sign never >"$work/gpg.log" 2>&1 ||
        fail "gpg cannot create the $who test key: $(tail -n 5 "$work/gpg.log")"
done
fpr_of() { gpg --with-colons --list-keys "$1" | awk -F: '$1 == "fpr" { print $10; exit }'; }
key_a=$(fpr_of first@example.com)
key_b=$(fpr_of second@example.com)
[ -n "$key_a" ] && [ -n "$key_b" ] || fail "cannot read the test keys' fingerprints"
echo "default-key $key_a" >"$GNUPGHOME/gpg.conf"

cat >"$work/images.nix" <<NIX
let
  nix2aci = import $repo { };
  echo = name: text: nix2aci.mkACI {
    packages = [ nix2aci.pkgs.busybox ];
    inherit name;
    version = "1.0.0";
    exec = [ "/bin/busybox" "echo" text ];
    layered = name == "localhost/layered-a";
  };
in {
  busybox = echo "localhost/busybox" "hello-from-the-site";
  # The same name, version, os and arch, another image.
  busyboxOther = echo "localhost/busybox" "another-image";
  tools = echo "localhost/tools/echo" "signed-by-the-second-key";
  sub = echo "localhost/sub/busybox" "hello-from-sub";
  # Layered images under localhost/: their per-path dependency images are
  # named under localhost/nix/store/, and the two share busybox's.
  layeredA = echo "localhost/layered-a" "layered-a";
  layeredB = nix2aci.mkACI {
    packages = [ nix2aci.pkgs.busybox ];
    name = "localhost/layered-b";
    version = "1.0.0";
    exec = [ "/bin/busybox" "echo" "layered-b" ];
    layered = true;
  };
  # One name for two platforms.
  multi = nix2aci.mkMultiArch {
    images = [
      (echo "localhost/multi" "the-amd64-image")
      (nix2aci.mkACI {
        packages = [ nix2aci.pkgs.busyboxAarch64 ];
        name = "localhost/multi";
        version = "1.0.0";
        targetSystem = "aarch64-linux";
        exec = [ "/bin/busybox" "echo" "the-arm64-image" ];
      })
    ];
  };
}
NIX

# rkt run verifies the stage1 too unless --insecure-options=image: a copy of
# the fly stage1 signed by the first key, trusted for its prefix from a file,
# so that the image's signature is checked through discovery alone.
# rkt 1.30 rejects an RSA signature one byte shorter than the modulus
# (sig_short in rkt_lib.sh): sign again while it is one.
cp "$STAGE1" "$work/stage1-fly.aci"
for try in 1 2 3 4 5 6 7 8; do
    gpg --batch --yes --armor --detach-sign -u "$key_a" --sig-notation "try@nix2aci.test=$try" \
        -o "$work/stage1-fly.aci.asc" "$work/stage1-fly.aci" 2>"$work/gpg.log" ||
        fail "gpg cannot sign the stage1 copy: $(tail -n 5 "$work/gpg.log")"
    sig_short "$work/stage1-fly.aci.asc" || break
done
gpg --batch --armor --export "$key_a" >"$work/stage1-key.gpg"
# fresh NAME: a new rkt state in $work/rkt-NAME that trusts the stage1 copy; sets st.
fresh() {
    st=$work/rkt-$1
    rk_ok "$1: trust for the stage1" "$st" trust --prefix=coreos.com/rkt/stage1-fly --skip-fingerprint-review "$work/stage1-key.gpg"
}
# trusted STATE PREFIX: the fingerprints (lowercase) rkt trusts for PREFIX.
trusted() { find "$1/cfg/trustedkeys/prefix.d/$2" -maxdepth 1 -type f -printf '%f\n' 2>/dev/null | sort; }
lower() { tr 'A-F' 'a-f' <<<"$1"; }
# run_by_name WHAT STATE REF EXPECTED: rkt run REF (discovered over http,
# signature verified) prints EXPECTED.
run_by_name() {
    local what=$1 dir=$2 ref=$3 expected=$4 got
    rk_ok "$what" "$dir" run --stage1-path="$work/stage1-fly.aci" --insecure-options=http "$ref"
    got=$(tail -n 1 "$work/out")
    [ "$got" = "$expected" ] || fail "$what: rkt run $ref printed '$got', expected '$expected'$(said)"
    grep -q "signature verified" "$work/err" || fail "$what: rkt run $ref did not say it verified the signature$(said)"
    say "$what: rkt run $ref verified the signature and printed $expected"
}

# 0. The flags are checked before anything is built into DIR or the site.
nix-build "$work/images.nix" -A busybox -o "$work/result-busybox" >/dev/null || fail "busybox: nix-build failed"
out=$(readlink -f "$work/result-busybox")
if (cd "$work" && "$out/postprocess.sh" "$ACIS" --site "$SITE") >"$work/pp.log" 2>&1; then
    fail "--site without --base-url succeeded"
fi
grep -q -- "--base-url" "$work/pp.log" || fail "--site without --base-url: no word of --base-url: $(cat "$work/pp.log")"
if (cd "$work" && "$out/postprocess.sh" "$ACIS" --site "$SITE" --base-url localhost/) >"$work/pp.log" 2>&1; then
    fail "--base-url localhost/ succeeded"
fi
grep -q -- '--base-url "localhost/" has no scheme' "$work/pp.log" || fail "--base-url localhost/: unexpected message: $(cat "$work/pp.log")"
[ ! -e "$ACIS" ] && [ ! -e "$SITE" ] || fail "a refused command line left $ACIS or $SITE behind"
say "--site without --base-url and a --base-url without scheme are refused, nothing written"

# 1. Publish the fat busybox; the site holds copies, pages and the key.
publish_ok busybox "$ACIS" "$SITE" http://localhost/
aci=$SITE/_aci/localhost/busybox-1.0.0-linux-amd64.aci
[ -f "$aci" ] && [ ! -L "$aci" ] || fail "$aci is not a plain file: $(ls -la "$(dirname "$aci")")"
cmp -s "$aci" "$out"/*.aci || fail "$aci differs from the result's image"
gpg --batch --verify "$aci.asc" "$aci" 2>/dev/null || fail "gpg cannot verify $aci.asc"
[ -f "$SITE/_keys/$key_a.gpg" ] || fail "no $SITE/_keys/$key_a.gpg: $(ls -la "$SITE/_keys" 2>&1)"
for page in index.html busybox/index.html; do
    grep -qF '<meta name="ac-discovery" content="' "$SITE/$page" || fail "$SITE/$page has no ac-discovery tag"
done
[ "$(jq -r '.images[0].imageId' "$SITE/_site.json")" = "$(cat "$out"/*.id)" ] || fail "_site.json does not hold the image ID"
say "the site holds a copy of the image, its .asc, the key and the pages"
# postprocess.sh prints the rkt lines for the site; the test runs them (as rkt_in) below.
for line in "sudo rkt trust --prefix=localhost --insecure-allow-http" "sudo rkt run --insecure-options=http localhost/busybox:1.0.0"; do
    grep -qF "  $line" "$work/pp.log" || fail "postprocess.sh does not print '$line': $(cat "$work/pp.log")"
done

serve "$SITE"
# What a static server answers for rkt's discovery URL: a redirect keeping the query, then the page.
page=$(curl -sfL "http://localhost/busybox?ac-discovery=1") || fail "curl -L http://localhost/busybox?ac-discovery=1 failed"
grep -qF '<meta name="ac-discovery" content="localhost/busybox http://localhost/_aci/{name}-{version}-{os}-{arch}.{ext}">' <<<"$page" ||
    fail "http://localhost/busybox?ac-discovery=1 answers no ac-discovery tag: $page"

# 2. rkt trusts the key through discovery, fetches and runs the image by name.
fresh main
state=$st
rk_ok "trust --prefix localhost through discovery" "$state" trust --prefix=localhost --insecure-allow-http --skip-fingerprint-review
[ "$(trusted "$state" localhost)" = "$(lower "$key_a")" ] ||
    fail "rkt trust --prefix localhost trusts '$(trusted "$state" localhost)', expected the key $key_a$(said)"
say "rkt trust --prefix localhost --insecure-allow-http found the key $key_a through discovery"
# Without --insecure-options=http, discovery (https only) finds nothing.
if rkt_in "$state" run --stage1-path="$work/stage1-fly.aci" localhost/busybox:1.0.0; then
    fail "rkt run localhost/busybox:1.0.0 without --insecure-options=http succeeded$(said)"
fi
say "rkt run by name without --insecure-options=http is refused (https only): $(grep -v 'group "rkt"' "$work/err" | tail -n 1)"
run_by_name "busybox by name" "$state" localhost/busybox:1.0.0 hello-from-the-site
rk_ok "image list" "$state" image list --fields=id,name --full --no-legend
# rkt keeps the first half of the SHA-512 (sha512- and 64 hex digits).
grep -q "^$(cut -c1-71 "$out"/*.id)[[:space:]]*localhost/busybox:1.0.0" "$work/out" ||
    fail "rkt image list does not show the result's image ID $(cat "$out"/*.id)$(said)"
say "rkt fetched the very image of the result"

# 3. Publishing the same image again changes no file of the site.
before=$(snapshot "$SITE")
sleep 1
publish_ok busybox "$ACIS" "$SITE" http://localhost/
[ "$(snapshot "$SITE")" = "$before" ] || fail "publishing the same image again changed the site:
$(diff <(printf '%s\n' "$before") <(snapshot "$SITE"))"
grep -q "holds .*busybox-1.0.0-linux-amd64.aci already" "$work/pp.log" || fail "postprocess.sh did not say the site held the image: $(cat "$work/pp.log")"
say "publishing the same image again leaves every file of the site (checksums, mtimes) as it was"

# 4. Another image under the same name, version, os and arch: refused, nothing written (not DIR either).
if publish busyboxOther "$work/ACIs-other" "$SITE" http://localhost/; then
    fail "a different image under localhost/busybox 1.0.0 linux/amd64 was published: $(cat "$work/pp.log")"
fi
for part in "localhost/busybox" "version=1.0.0, os=linux, arch=amd64" "$(cat "$work/result-busybox"/*.id)" \
    "$(cat "$out"/*.id)" "never replaced" "another version"; do
    grep -qF -- "$part" "$work/pp.log" || fail "the refusal does not name '$part': $(cat "$work/pp.log")"
done
[ "$(snapshot "$SITE")" = "$before" ] || fail "the refused run changed the site"
[ ! -e "$work/ACIs-other" ] || fail "the refused run wrote DIR $work/ACIs-other"
say "a different image under localhost/busybox 1.0.0 linux/amd64 is refused, naming both image IDs; neither the site nor DIR written"

# 5. Signed with the second key: one trust of the prefix gets both keys, and both images run.
publish_ok tools "$ACIS" "$SITE" http://localhost/ MKACI_SIGN_KEY="$key_b"
[ -f "$SITE/_keys/$key_a.gpg" ] && [ -f "$SITE/_keys/$key_b.gpg" ] || fail "the site lacks a key: $(ls "$SITE/_keys")"
fresh two
two=$st
rk_ok "trust --prefix localhost, two keys" "$two" trust --prefix=localhost --insecure-allow-http --skip-fingerprint-review
[ "$(trusted "$two" localhost)" = "$(printf '%s\n' "$(lower "$key_a")" "$(lower "$key_b")" | sort)" ] ||
    fail "rkt trust --prefix localhost trusts '$(trusted "$two" localhost)', expected $key_a and $key_b$(said)"
say "one rkt trust --prefix localhost trusts both keys"
run_by_name "tools/echo, second key" "$two" localhost/tools/echo:1.0.0 signed-by-the-second-key
run_by_name "busybox, first key" "$two" localhost/busybox:1.0.0 hello-from-the-site
# A prefix page lists only the keys of the images under it.
grep -q "$key_b" "$SITE/tools/index.html" && ! grep -q "$key_a" "$SITE/tools/index.html" ||
    fail "tools/index.html does not list exactly the second key"

# 6. A sub-path: the site served at /sub/ (its parent is served), base URL http://localhost/sub/.
SUB=$work/srv/sub
if publish busybox "$work/ACIs-sub" "$SUB" http://localhost/sub/; then
    fail "localhost/busybox was published into the site for http://localhost/sub/"
fi
grep -qF "cannot publish localhost/busybox into the site for --base-url http://localhost/sub/" "$work/pp.log" ||
    fail "the refusal of localhost/busybox under http://localhost/sub/ is unclear: $(cat "$work/pp.log")"
[ ! -e "$SUB" ] && [ ! -e "$work/ACIs-sub" ] || fail "the refused run wrote $SUB or its DIR"
say "localhost/busybox is refused for --base-url http://localhost/sub/, nothing written"
publish_ok sub "$ACIS" "$SUB" http://localhost/sub/
[ -f "$SUB/_aci/localhost/sub/busybox-1.0.0-linux-amd64.aci" ] || fail "the sub-path site lacks its image: $(find "$SUB")"
serve "$work/srv"
fresh sub
subst=$st
rk_ok "trust --prefix localhost/sub through discovery" "$subst" trust --prefix=localhost/sub --insecure-allow-http --skip-fingerprint-review
[ "$(trusted "$subst" localhost/sub)" = "$(lower "$key_a")" ] ||
    fail "rkt trust --prefix localhost/sub trusts '$(trusted "$subst" localhost/sub)', expected $key_a$(said)"
run_by_name "sub-path busybox by name" "$subst" localhost/sub/busybox:1.0.0 hello-from-sub
say "the site works from a sub-path"

# 7. Verification is on: a served image with one byte flipped is refused.
bad=$SUB/_aci/localhost/sub/busybox-1.0.0-linux-amd64.aci
chmod u+w "$bad"
offset=$(( $(stat -c %s "$bad") / 2 ))
byte=$(od -An -tu1 -j "$offset" -N1 "$bad" | tr -d ' ')
printf "\\$(printf %03o $(( byte ^ 0xff )))" | dd of="$bad" bs=1 seek="$offset" conv=notrunc status=none
fresh tampered
rk_ok "trust --prefix localhost/sub, tampered" "$st" trust --prefix=localhost/sub --insecure-allow-http --skip-fingerprint-review
if rkt_in "$st" run --stage1-path="$work/stage1-fly.aci" --insecure-options=http localhost/sub/busybox:1.0.0; then
    fail "rkt ran the tampered image$(said)"
fi
grep -q "openpgp: invalid signature" "$work/err" || fail "the tampered image failed, but not its signature check$(said)"
say "a served image with byte $offset flipped is refused: openpgp: invalid signature"

# 8. Layered images: every dependency image goes into the site under its own
# name, rkt discovers the app and its dependencies by name, and two images
# sharing a store path put one dependency image into the site and one into
# rkt's store.
LSITE=$work/layered-site
publish_ok layeredA "$work/ACIs-layered" "$LSITE" http://localhost/
# The site's "Next:" lines run the app only; its dependency image, which has
# no app, gets a fetch line. The run line is run below, as printed.
site_runs=$(sed -n 's/^  sudo rkt run --insecure-options=http //p' "$work/pp.log" | grep -v '^--' | grep -v '\.aci$' || true)
[ "$site_runs" = "localhost/layered-a:1.0.0" ] || fail "the printed site run lines name '$site_runs', not only the app: $(cat "$work/pp.log")"
grep -q '^  sudo rkt fetch --insecure-options=http localhost/nix/store/[0-9a-z]\{32\}-busybox-1.35.0$' "$work/pp.log" \
    || fail "no fetch line for the dependency image: $(cat "$work/pp.log")"
say "the printed site lines run the app only and fetch its dependency image"
publish_ok layeredB "$work/ACIs-layered" "$LSITE" http://localhost/
deps=$(find "$LSITE/_aci/localhost/nix/store" -name '*.aci' | wc -l)
[ "$deps" = 1 ] || fail "two layered images sharing busybox put $deps dependency images into the site: $(find "$LSITE/_aci" -name '*.aci')"
[ -f "$LSITE/nix/store/index.html" ] || fail "the site does not answer discovery for the prefix localhost/nix/store"
say "two layered images sharing a store path put one dependency image into the site"
serve "$LSITE"
fresh layered
rk_ok "trust --prefix localhost, layered site" "$st" trust --prefix=localhost --insecure-allow-http --skip-fingerprint-review
run_by_name "layered-a by name, the printed run line" "$st" "$site_runs" layered-a
before=$(wc -l <"$work/server.log")
run_by_name "layered-b by name" "$st" localhost/layered-b:1.0.0 layered-b
# What rkt downloaded for the second image: its own files, not the shared dependency.
fetched=$(tail -n +"$((before + 1))" "$work/server.log" | grep -o '"GET [^ ]*' | sed 's/"GET //; s/?.*//' | grep '\.aci\(\.asc\)\?$' | sort -u)
case $fetched in */nix/store/*) fail "rkt fetched the shared dependency again for layered-b: $fetched" ;; esac
bytes=0
for f in $fetched; do bytes=$((bytes + $(stat -c %s "$LSITE$f"))); done
say "rkt fetched $bytes bytes for layered-b ($(printf '%s ' $fetched)), the shared dependency not again"
rk_ok "image list, layered" "$st" image list --fields=name --no-legend
n=$(grep -c '^localhost/nix/store/' "$work/out")
[ "$n" = 1 ] || fail "rkt's store holds $n dependency images for two images sharing one store path$(said)"
say "rkt discovered both layered apps and their dependency by name; its store holds the shared dependency once"
stop_server

# 9. One name, two platforms (mkMultiArch): the site serves both images
# under the name, and rkt on this amd64 machine fetches and runs the amd64
# one by name, never downloading the arm64 one.
if [ -x "$repo/target/foreign/aarch64-linux/bin/busybox" ]; then
    MSITE=$work/multi-site
    publish_ok multi "$work/ACIs-multi" "$MSITE" http://localhost/
    for arch in amd64 aarch64; do
        [ -f "$MSITE/_aci/localhost/multi-1.0.0-linux-$arch.aci" ] || fail "the site lacks the $arch image: $(find "$MSITE/_aci" -name '*.aci')"
        gpg --batch --verify "$MSITE/_aci/localhost/multi-1.0.0-linux-$arch.aci.asc" "$MSITE/_aci/localhost/multi-1.0.0-linux-$arch.aci" 2>/dev/null \
            || fail "the $arch image's signature does not verify"
    done
    serve "$MSITE"
    fresh multi
    rk_ok "trust --prefix localhost, multi-arch site" "$st" trust --prefix=localhost --insecure-allow-http --skip-fingerprint-review
    before=$(wc -l <"$work/server.log")
    run_by_name "multi-arch by name" "$st" localhost/multi:1.0.0 the-amd64-image
    fetched=$(tail -n +"$((before + 1))" "$work/server.log" | grep -o '"GET [^ ]*\.aci' | sed 's/"GET //' | sort -u)
    [ "$fetched" = /_aci/localhost/multi-1.0.0-linux-amd64.aci ] || fail "rkt fetched $fetched, not the amd64 image alone"
    say "one name, two platforms: the site serves both, rkt fetched and ran $fetched by name"
else
    [ -z "${NIX2ACI_REQUIRE_TOOLS:-}" ] || fail "the arm64 busybox-static is missing; run ./scripts/setup as root"
    say "SKIP the multi-arch site: no arm64 busybox-static (run ./scripts/setup as root)"
fi

