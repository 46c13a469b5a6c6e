#!/bin/bash
# postprocess.sh --push: the result's OCI image goes to a real registry
# (Debian's docker-registry, distribution 2.8, started here on 127.0.0.1 with
# its own config and storage under $work) and into podman's local store.
# - The first push sends every blob; podman pulls the image back and
#   inspects it.
# - After a one-line change only the new blobs reach the registry's storage
#   (du of it before and after), far fewer bytes than the first push, and the
#   push's own report agrees.
# - A bad --push value, a registry that is down and a plain-HTTP registry
#   without --tls-verify=false give errors that name the flag or the
#   registry and the fix; DIR is written all the same.
# - containers-storage: lands in podman's store.
# - A TLS registry with htpasswd refuses a push without credentials and takes
#   it with --authfile.
. "$(dirname "$0")/lib.sh"
need jq skopeo podman docker-registry openssl htpasswd curl nix-store

. "$(dirname "$0")/registry_lib.sh"

# sent REPORT: the bytes the push reported sent.
sent() { sed -n 's/^Pushed .*: \([0-9]*\) bytes sent .*/\1/p' "$1"; }

port=$(free_port)
start_registry reg "$port"
registry=127.0.0.1:$port

out=$(build busyboxOCI)
tag=$(jq -r '.artifacts[0].tag' "$out/nix2aci.json")
config=$(jq -r '.artifacts[0].digests.config' "$out/nix2aci.json")
manifest=$(jq -r '.artifacts[0].digests.manifest' "$out/nix2aci.json")
layout_bytes=$(du -sbL --apparent-size "$out"/*.oci/blobs | cut -f1)

# 1. The first push: every blob.
before=$(blob_bytes reg)
"$out/postprocess.sh" "$work/OCI" --push "docker://$registry/nix2aci/busybox" --tls-verify=false >"$work/push1.log" 2>&1 \
    || { cat "$work/push1.log" >&2; fail "postprocess.sh --push failed"; }
first=$(( $(blob_bytes reg) - before ))
first_sent=$(sent "$work/push1.log")
grep -q "^Pushed busybox:$tag to docker://$registry/nix2aci/busybox:$tag: .* 0 bytes skipped (0 blobs" "$work/push1.log" \
    || { cat "$work/push1.log" >&2; fail "the first push does not report every blob sent"; }
[ "$first" -gt 100000 ] || fail "the registry's storage grew by $first bytes only"
# The registry stores the blobs the push reports sent, and the manifest.
manifest_size=$(sed -n 's/.*, manifest \([0-9]*\) bytes.*/\1/p' "$work/push1.log")
[ "$first" = $((first_sent + manifest_size)) ] \
    || fail "the push reported $first_sent bytes sent, the registry's storage grew by $first"
[ -f "$work/OCI/$(basename "$out"/*.oci .oci).docker.tar" ] || fail "DIR has no docker-archive after a push"
grep -q "($manifest)" "$work/push1.log" || fail "the push does not report the manifest digest $manifest (--preserve-digests)"
say "first push: $first_sent bytes sent (the layout's blobs: $layout_bytes bytes); the registry's storage grew by $first"

podman=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs --cgroup-manager cgroupfs --events-backend none)
"${podman[@]}" pull -q --tls-verify=false "$registry/nix2aci/busybox:$tag" >"$work/pull.log" 2>&1 \
    || { cat "$work/pull.log" >&2; fail "podman pull from the registry failed"; }
"${podman[@]}" image inspect "$registry/nix2aci/busybox:$tag" >"$work/pinspect.json" || fail "podman image inspect failed"
jq -e --arg id "${config#sha256:}" '.[0].Id == $id and .[0].Config.Entrypoint == ["/bin/busybox"] and .[0].Os == "linux"' \
    "$work/pinspect.json" >/dev/null || fail "podman pulled another image: $(jq -c '.[0] | {Id, Config}' "$work/pinspect.json")"
say "podman pulls it back from the registry; podman image inspect shows the image ID $config"

# 2. A one-line change: only the new blobs go.
cat >"$work/changed.nix" <<NIX
let n = import $repo { }; in
n.mkOCI {
  packages = [ n.pkgs.busybox ];
  exec = [ "/bin/busybox" "sh" ];
  env.CHANGED = "a one-line change";
  tag = "changed";
}
NIX
nix-build "$work/changed.nix" -o "$work/result-changed" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; fail "the changed image does not build"; }
before=$(blob_bytes reg)
"$work/result-changed/postprocess.sh" "$work/OCI2" --push "docker://$registry/nix2aci/busybox" --tls-verify=false \
    >"$work/push2.log" 2>&1 || { cat "$work/push2.log" >&2; fail "the second push failed"; }
second=$(( $(blob_bytes reg) - before ))
second_sent=$(sent "$work/push2.log")
manifest_size=$(sed -n 's/.*, manifest \([0-9]*\) bytes.*/\1/p' "$work/push2.log")
[ "$second" = $((second_sent + manifest_size)) ] \
    || fail "the push reported $second_sent bytes sent, the registry's storage grew by $second"
[ $((second * 20)) -lt "$first" ] || fail "after a one-line change the registry's storage grew by $second bytes (first push: $first)"
grep -q "bytes skipped ([1-9][0-9]* blobs $registry had already)" "$work/push2.log" \
    || { cat "$work/push2.log" >&2; fail "the second push skipped no blob"; }
skopeo inspect --tls-verify=false "docker://$registry/nix2aci/busybox:changed" >/dev/null || fail "the registry lacks the changed image"
grep "^Pushed" "$work/push2.log" | sed "s/^/push: /"
say "after a one-line change: $second_sent bytes sent, the registry's storage grew by $second (first push: $first)"

# 3. Errors: a bad value, a registry that is down, plain HTTP without --tls-verify=false.
# Each is a clear message, and DIR is written (a bad value refuses before it is).
if "$out/postprocess.sh" "$work/OCI3" --push "docker://$registry/BusyBox:1" >"$work/bad.log" 2>&1; then fail "a bad --push value was taken"; fi
grep -q -- "--push \"docker://$registry/BusyBox:1\": .*\"BusyBox\"" "$work/bad.log" || { cat "$work/bad.log" >&2; fail "the bad value's error does not name --push and the value"; }
[ ! -e "$work/OCI3" ] || fail "a bad --push value left DIR written"
down=$(free_port)
if "$out/postprocess.sh" "$work/OCI3" --push "docker://127.0.0.1:$down/busybox" --tls-verify=false >"$work/down.log" 2>&1; then
    fail "a push to a registry that is down succeeded"
fi
grep -q "cannot reach the registry 127.0.0.1:$down .*start the registry" "$work/down.log" \
    || { cat "$work/down.log" >&2; fail "a registry that is down gives no clear error"; }
! grep -qi panic "$work/down.log" || fail "a registry that is down made mkaci panic"
[ -f "$work/OCI3/$(basename "$out"/*.oci .oci).docker.tar" ] || fail "a failed push left DIR without its docker-archive"
if "$out/postprocess.sh" "$work/OCI3" --push "docker://$registry/busybox" >"$work/http.log" 2>&1; then
    fail "a push over HTTPS to a plain-HTTP registry succeeded"
fi
grep -q "the registry $registry .*plain HTTP.*--tls-verify=false" "$work/http.log" \
    || { cat "$work/http.log" >&2; fail "a plain-HTTP registry without --tls-verify=false gives no clear error"; }
say "a bad value, a registry that is down and plain HTTP give clear errors: $(tail -n 1 "$work/down.log")"

# 4. containers-storage: podman's store (here one under $work).
store="[vfs@$work/podman/root+$work/podman/run]"
"$out/postprocess.sh" "$work/OCI" --push "containers-storage:${store}localhost/nix2aci-pushed:$tag" >"$work/cs.log" 2>&1 \
    || { cat "$work/cs.log" >&2; fail "--push containers-storage: failed"; }
"${podman[@]}" image inspect "localhost/nix2aci-pushed:$tag" >"$work/cs.json" || fail "podman does not have the image pushed into its store"
jq -e --arg id "${config#sha256:}" '.[0].Id == $id' "$work/cs.json" >/dev/null || fail "podman's store holds another image"
say "containers-storage: podman image inspect localhost/nix2aci-pushed:$tag shows the image ID $config"
"${podman[@]}" rmi -af >/dev/null 2>&1 || true

# 5. TLS and htpasswd: refused without credentials, taken with --authfile.
tls_port=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$work/tls.key" -out "$work/tls.crt" >/dev/null 2>&1 || fail "openssl cannot make a certificate"
htpasswd -Bbn pusher s3cret >"$work/htpasswd" || fail "htpasswd failed"
start_registry tls "$tls_port" "  tls:
    certificate: $work/tls.crt
    key: $work/tls.key
auth:
  htpasswd:
    realm: nix2aci-test
    path: $work/htpasswd"
# skopeo trusts the certificate from a certs.d directory of its own.
tls=127.0.0.1:$tls_port
export REGISTRY_AUTH_FILE=$work/no-such-auth.json XDG_RUNTIME_DIR=$work/xdg HOME=$work/home
if "$out/postprocess.sh" "$work/OCI" --push "docker://$tls/busybox" >"$work/cert.log" 2>&1; then fail "an unknown certificate was accepted"; fi
grep -q "TLS certificate of the registry $tls .*not trusted.*certs.d/$tls/ca.crt" "$work/cert.log" \
    || { cat "$work/cert.log" >&2; fail "an unknown certificate gives no clear error"; }
if "$out/postprocess.sh" "$work/OCI" --push "docker://$tls/busybox" --tls-verify=false >"$work/noauth.log" 2>&1; then
    fail "the htpasswd registry took a push without credentials"
fi
grep -q "the registry $tls .*refused the push.*no credentials file.*--authfile FILE" "$work/noauth.log" \
    || { cat "$work/noauth.log" >&2; fail "a push without credentials gives no clear error"; }
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$tls" "$(printf 'pusher:wrong' | base64)" >"$work/wrong.json"
if "$out/postprocess.sh" "$work/OCI" --push "docker://$tls/busybox" --tls-verify=false --authfile "$work/wrong.json" >"$work/wrong.log" 2>&1; then
    fail "the htpasswd registry took a wrong password"
fi
grep -q "refused the push.*$work/wrong.json" "$work/wrong.log" || { cat "$work/wrong.log" >&2; fail "wrong credentials give no clear error"; }
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$tls" "$(printf 'pusher:s3cret' | base64)" >"$work/auth.json"
"$out/postprocess.sh" "$work/OCI" --push "docker://$tls/busybox" --tls-verify=false --authfile "$work/auth.json" >"$work/auth.log" 2>&1 \
    || { cat "$work/auth.log" >&2; fail "the push with --authfile failed"; }
# The default credentials file: REGISTRY_AUTH_FILE when it exists.
REGISTRY_AUTH_FILE=$work/auth.json "$out/postprocess.sh" "$work/OCI" --push "docker://$tls/busybox:again" --tls-verify=false \
    >"$work/auth2.log" 2>&1 || { cat "$work/auth2.log" >&2; fail "the push with REGISTRY_AUTH_FILE failed"; }
if "$out/postprocess.sh" "$work/OCI" --push "docker://$tls/busybox" --authfile "$work/none.json" >"$work/noauthfile.log" 2>&1; then fail "a missing --authfile was taken"; fi
grep -q -- "--authfile \"$work/none.json\" does not exist" "$work/noauthfile.log" || { cat "$work/noauthfile.log" >&2; fail "a missing --authfile gives no clear error"; }
say "TLS + htpasswd: an unknown certificate, no and wrong credentials are refused with clear errors; --authfile and REGISTRY_AUTH_FILE push"
