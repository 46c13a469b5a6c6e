#!/bin/bash
# Every mkACI argument reaches the manifest: an image built with all of them
# set passes actool, and its manifest says what the arguments said.
. "$(dirname "$0")/lib.sh"
need jq actool

nix-build -o "$work/result" --arg repo "$repo" -E '
{ repo }:
let n = import repo { }; bb = n.pkgs.busybox; in
n.mkACI {
  packages = [ bb ];
  acName = "example.com/all-args";
  acVersion = "0.1";
  versionAddon = "-test";
  arch = "x86_64";
  os = "linux";
  acLabels.channel = "alpha";
  labels.team = "nix2aci";
  annotations = { authors = "Nix2aci Tests"; homepage = "https://example.com/"; };
  mounts.state = "/var/lib/state";
  mountsRo.config = "/etc/app";
  ports = [ { name = "http"; protocol = "tcp"; port = 8080; count = 2; socketActivated = true; } ];
  env = { GREETING = "hi"; COUNT = 3; };
  exec = "/bin/busybox sh -c true";
  user = "1000";
  group = 1000;
  supplementaryGIDs = [ 10 20 ];
  workingDirectory = "/tmp";
  eventHandlers.pre-start = [ "/bin/busybox" "true" ];
  isolators = builtins.toJSON { "os/linux/no-new-privileges" = true; };
  dnsquirks = true;
  compression = "xz";
  sign = false;
}' >/dev/null || fail "an image with every argument set does not build"

aci=$(image "$work/result")
[ "$(basename "$aci")" = all-args-0.1-test-linux-amd64.aci ] || fail "built $(basename "$aci")"
[ "$(head -c 6 "$aci" | od -An -tx1 | tr -d ' \n')" = fd377a585a00 ] || fail "compression = \"xz\" did not give an xz image"
validate "$aci"
extract "$aci" "$work/x"
m=$work/x/manifest
check() { jq -e "$1" "$m" >/dev/null || fail "manifest fails $1: $(jq -c . "$m")"; }
check '.name == "example.com/all-args"'
check '[.labels[] | {(.name): .value}] | add | . == {version: "0.1-test", os: "linux", arch: "amd64", channel: "alpha", team: "nix2aci"}'
check '[.annotations[] | {(.name): .value}] | add | .authors == "Nix2aci Tests" and .homepage == "https://example.com/"'
check '.app.exec == ["/bin/busybox", "sh", "-c", "true"] and .app.user == "1000" and .app.group == "1000"'
check '.app.supplementaryGIDs == [10, 20] and .app.workingDirectory == "/tmp"'
check '[.app.environment[] | {(.name): .value}] | add | .GREETING == "hi" and .COUNT == "3"'
check '[.app.mountPoints[] | select(.name == "state" and .path == "/var/lib/state" and (.readOnly | not))] | length == 1'
check '[.app.mountPoints[] | select(.name == "config" and .path == "/etc/app" and .readOnly)] | length == 1'
check '.app.ports == [{name: "http", protocol: "tcp", port: 8080, count: 2, socketActivated: true}]'
check '.app.eventHandlers == [{name: "pre-start", exec: ["/bin/busybox", "true"]}]'
check '.app.isolators == [{name: "os/linux/no-new-privileges", value: true}]'
grep -q localhost "$work/x/rootfs/etc/hosts" || fail "dnsquirks = true wrote no /etc/hosts"
jq -e '.nix2aci == 2 and .artifacts[0].sign == false' "$work/result/nix2aci.json" >/dev/null \
    || fail "sign = false is not in nix2aci.json (version 2): $(jq -c . "$work/result/nix2aci.json")"
say "every argument reaches the manifest; actool accepts it"

# compression = "none" gives a plain tar.
nix-build -o "$work/result-none" --arg repo "$repo" -E '{ repo }: let n = import repo { }; in
  n.mkACI { packages = [ n.pkgs.busybox ]; name = "plain"; compression = "none"; exec = "/bin/busybox"; }' >/dev/null \
    || fail "compression = \"none\" does not build"
aci=$(image "$work/result-none")
[ "$(dd if="$aci" bs=1 skip=257 count=5 2>/dev/null)" = ustar ] || fail "compression = \"none\" is not a plain tar"
validate "$aci"
say "compression = \"none\" gives a plain tar"

# exec left out: the first package's meta.mainProgram gives [ "/bin/<mainProgram>" ].
nix-build -o "$work/result-main" --arg repo "$repo" -E '{ repo }: let n = import repo { }; in
  n.mkACI { packages = [ (n.pkgs.busybox // { meta.mainProgram = "busybox"; }) ]; name = "main-program"; }' >/dev/null \
    || fail "exec left out with meta.mainProgram does not build"
aci=$(image "$work/result-main")
validate "$aci"
extract "$aci" "$work/main"
jq -e '.app.exec == ["/bin/busybox"]' "$work/main/manifest" >/dev/null \
    || fail "meta.mainProgram did not give exec [\"/bin/busybox\"]: $(jq -c .app "$work/main/manifest")"
# A mainProgram the image lacks fails the build, naming the path.
if nix-build -o "$work/result-nomain" --arg repo "$repo" -E '{ repo }: let n = import repo { }; in
  n.mkACI { packages = [ (n.pkgs.busybox // { meta.mainProgram = "no-such-program"; }) ]; name = "no-main"; }' \
    >/dev/null 2>"$work/nomain.log"; then
    fail "a meta.mainProgram missing from the image was accepted"
fi
grep -q /bin/no-such-program "$work/nomain.log" || fail "the build error does not name /bin/no-such-program: $(cat "$work/nomain.log")"
say "exec defaults to /bin/<meta.mainProgram>; a missing one fails the build naming it"
