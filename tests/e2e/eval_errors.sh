#!/bin/bash
# Cheap mistakes in mkACI arguments fail at evaluation time with a message
# naming the argument; good arguments give the expected structured attrs.
. "$(dirname "$0")/lib.sh"
need jq

# mkACI is evaluated with a stand-in mkaci path: nothing is built here. exec
# defaults to /bin/busybox so that each case tests the argument it names.
expr() { stand_in_expr mkACI "$1"; }
# refuses ARGS MESSAGE: mkACI ARGS must fail with MESSAGE in the error.
refuses() { eval_refuses mkACI "$1" "$2"; }
refuses '{ packages = [ ]; }' '`packages` is empty'
refuses '{ packages = bb; }' '`packages` must be a list'
refuses '{ packages = [ 42 ]; }' '`packages` must hold derivations or store paths'
refuses '{ packages = [ bb ]; exec = null; }' '`exec` is required'
refuses '{ packages = [ bb ]; exec = [ ]; }' '`exec` is required'
refuses '{ packages = [ bb (bb // { meta.mainProgram = "busybox"; }) ]; exec = null; }' '`exec` is required'
refuses '{ packages = [ (bb // { meta.mainProgram = "bin/busybox"; }) ]; exec = null; }' '`meta.mainProgram` must be a file name'
refuses '{ packages = [ bb ]; exec = 42; }' '`exec` must be a string or a list of strings'
refuses '{ packages = [ bb ]; exec = [ "/bin/busybox" { } ]; }' '`exec` must be a string'
refuses '{ packages = [ bb ]; thin = "yes"; }' '`thin` must be true or false'
refuses '{ packages = [ bb ]; layered = "yes"; }' '`layered` must be true or false'
refuses '{ packages = [ bb ]; thin = true; layered = true; }' '`thin = true` and `layered = true` do not go together'
refuses '{ packages = [ bb ]; thin = true; layers = [ "/nix/store/00000000000000000000000000000000-l" ]; }' '`thin = true` and `layers` do not go together'
refuses '{ packages = [ bb ]; layerPrefix = "x/y"; }' '`layerPrefix` ("x/y") names the per-path dependency images, which only `layered = true` makes'
refuses '{ packages = [ bb ]; layered = true; layerPrefix = 3; }' '`layerPrefix` must be a non-empty string'
refuses '{ packages = [ bb ]; layers = bb; }' '`layers` must be a list of nix2aci.mkLayer results'
refuses '{ packages = [ bb ]; layers = [ bb ]; }' '`layers[0]` must be the result of nix2aci.mkLayer'
refuses '{ packages = [ bb ]; compression = "zstd"; }' '`compression` ("zstd") is not an ACI compression: appc allows gzip, bzip2, xz or none'
refuses '{ packages = [ bb ]; env.X = [ ]; }' '`env.X` must be a string'
refuses '{ packages = [ bb ]; env.DEBUG = true; }' '`env.DEBUG` must be a string, got true'
refuses '{ packages = [ bb ]; env.RATIO = 1.5; }' '`env.RATIO` must be a string, got the float 1.5; write it as a string, e.g. "1.5"'
refuses '{ packages = [ bb ]; labels.ratio = 0.5; }' '`labels.ratio` must be a string, got the float 0.5'
refuses '{ packages = [ bb ]; annotations.ratio = 0.5; }' '`annotations.ratio` must be a string, got the float 0.5'
refuses '{ packages = [ bb ]; labels.name = "x"; }' '`labels` must not contain `name`'
refuses '{ packages = [ bb ]; name = "a"; acName = "b"; }' 'both `name`'
refuses '{ packages = [ bb ]; user = ""; }' '`user` must not be empty'
refuses '{ packages = [ bb ]; supplementaryGIDs = [ (-1) ]; }' '`supplementaryGIDs` must be a list of non-negative integers'
refuses '{ packages = [ bb ]; workingDirectory = "srv"; }' '`workingDirectory` must be an absolute path'
refuses '{ packages = [ bb ]; system = "riscv64-linux"; }' 'no appc os and arch known for system'
refuses '{ packages = [ bb ]; isolators = 3; }' '`isolators` must be'
refuses '{ packages = [ bb ]; system = 64; }' '`system` must be a Nix system string'
refuses '{ packages = [ bb ]; exec = "bin/busybox sh"; }' '`exec`'"'"'s program must be an absolute path'
refuses '{ packages = [ bb ]; exec = [ "busybox" "sh" ]; }' '`exec`'"'"'s program must be an absolute path'
refuses '{ packages = [ bb ]; mounts.data = "var/lib/data"; }' '`mounts.data` must be an absolute path'
refuses '{ packages = [ bb ]; mountsRo.config = "etc"; }' '`mountsRo.config` must be an absolute path'
refuses '{ packages = [ bb ]; mounts = [ "/data" ]; }' '`mounts` must be an attrset'
refuses '{ packages = [ bb ]; ports = [ { name = "http"; protocol = "tcp"; port = 0; } ]; }' '`ports[0].port` must be an integer from 1 to 65535'
refuses '{ packages = [ bb ]; ports = [ { name = "http"; protocol = "tcp"; port = "80"; } ]; }' '`ports[0].port` must be an integer'
refuses '{ packages = [ bb ]; ports.http = { protocol = "tcp"; port = 65536; }; }' '`ports.http.port` must be an integer from 1 to 65535'
refuses '{ packages = [ bb ]; ports = [ { name = "a"; protocol = "tcp"; port = 1; } { name = "dns"; protocol = "sctp"; port = 53; } ]; }' '`ports[1].protocol` must be "tcp" or "udp"'
refuses '{ packages = [ bb ]; ports = [ { protocol = "tcp"; port = 80; } ]; }' '`ports[0]` lacks `name`'
refuses '{ packages = [ bb ]; ports = [ { name = 80; protocol = "tcp"; port = 80; } ]; }' '`ports[0].name` must be a non-empty string'
refuses '{ packages = [ bb ]; ports = [ "80/tcp" ]; }' '`ports[0]` must be an attrset'
refuses '{ packages = [ bb ]; ports.http = { protocol = "tcp"; port = 80; count = 0; }; }' '`ports.http.count` must be a positive integer'
# users, groups, perms, files and owned mounts.
refuses '{ packages = [ bb ]; users.app = { gid = 1000; }; }' '`users.app` lacks `uid`'
refuses '{ packages = [ bb ]; users.app = { uid = -1; }; }' '`users.app.uid` must be an integer from 0 to 4294967294'
refuses '{ packages = [ bb ]; users.app = { uid = 1000; home = "var/lib/app"; }; }' '`users.app.home` must be an absolute path'
refuses '{ packages = [ bb ]; users.app = { uid = 1000; homedir = "/x"; }; }' '`users.app` has the unknown key `homedir`'
refuses '{ packages = [ bb ]; groups.app = { gid = "1000"; }; }' '`groups.app.gid` must be an integer'
refuses '{ packages = [ bb ]; groups.app = { gid = 1; members = "a"; }; }' '`groups.app.members` must be a list of user names'
refuses '{ packages = [ bb ]; perms = [ { path = "data"; } ]; }' '`perms[0].path` must be an absolute path'
refuses '{ packages = [ bb ]; perms = [ { path = "/data"; mode = 0750; } ]; }' '`perms[0].mode` must be a string of octal digits such as "0750", got the integer 750'
refuses '{ packages = [ bb ]; perms = [ { path = "/data"; mode = "0x1ed"; } ]; }' '`perms[0].mode` must be a string of octal digits'
refuses '{ packages = [ bb ]; perms = [ { path = "${builtins.storeDir}/x-y/bin"; uid = 1; } ]; }' 'is inside the store; store contents stay as Nix made them'
refuses '{ packages = [ bb ]; perms = [ { path = "/data"; recursive = "yes"; } ]; }' '`perms[0].recursive` must be true or false'
refuses '{ packages = [ bb ]; files."etc/app.conf" = builtins.toFile "a" "a"; }' '`files."etc/app.conf"` must be an absolute path'
refuses '{ packages = [ bb ]; files."/etc/app.conf" = "/home/me/app.conf"; }' 'must be a path (./app.conf), a derivation or a store path'
refuses '{ packages = [ bb ]; files."/etc/app.conf" = { source = builtins.toFile "a" "a"; mode = "rw"; }; }' '`files."/etc/app.conf".mode` must be a string of octal digits'
refuses '{ packages = [ bb ]; mounts.data = { path = "data"; }; }' '`mounts.data.path` must be an absolute path'
refuses '{ packages = [ bb ]; mounts.data = { path = "/data"; owner = 1; }; }' '`mounts.data` has the unknown key `owner`'
refuses '{ packages = [ bb ]; mountsRo.data = { uid = 1; }; }' '`mountsRo.data` lacks `path`'
say "bad arguments fail at evaluation time with the argument named"

# once ARGS REASON HINT: mkACI ARGS fails with REASON exactly once in the whole
# output (an error said once, not repeated by its causes) and HINT in it.
once() {
    local err n
    err=$(nix-instantiate --eval --strict -E "$(expr "(mkACI $1).drvPath")" 2>&1) && fail "mkACI $1 was accepted"
    n=$(printf '%s' "$err" | grep -o -F -- "$2" | wc -l)
    [ "$n" = 1 ] || fail "mkACI $1: '$2' appears $n times: $err"
    case $err in *"$3"*) ;; *) fail "mkACI $1: error lacks '$3': $err" ;; esac
}
once '{ packages = [ bb ]; exec = [ "bin/busybox" ]; }' 'must be an absolute path' \
    '`exec`'"'"'s program must be an absolute path in the image, got "bin/busybox"; e.g. "/bin/busybox"'
once '{ packages = [ bb ]; mounts.data = "var/lib/data"; }' 'must be an absolute path' \
    '`mounts.data` must be an absolute path, got "var/lib/data"'
say "each evaluation error says its reason once"

# Without a system (mkaci a plain store path, which has none), mkACI says how to give one.
err=$(nix-instantiate --eval --strict -E "(import $repo/nix/mkACI.nix { mkaci = \"/nix/store/00000000000000000000000000000000-mkaci\"; }
    { packages = [ \"/nix/store/11111111111111111111111111111111-hello-2.12\" ]; exec = \"/bin/hello\"; }).drvPath" 2>&1) \
    && fail "mkACI without any system was accepted"
case $err in *"no Nix system known"*) ;; *) fail "mkACI without any system: unexpected error: $err" ;; esac
# The per-image system overrides the imported one and gives os and arch.
name=$(nix-instantiate --eval --json -E "(import $repo/nix/mkACI.nix { mkaci = \"/nix/store/00000000000000000000000000000000-mkaci\"; system = \"x86_64-linux\"; }
    { packages = [ \"/nix/store/11111111111111111111111111111111-hello-2.12\" ]; exec = \"/bin/hello\"; system = \"aarch64-linux\"; }).imageFileName" | jq -r .)
[ "$name" = hello-2.12-linux-aarch64.aci ] || fail "the per-image system gave $name"
say "system: required from somewhere, per image overrides the import's"

# accepts ARGS JQ: the aci attrs of mkACI ARGS satisfy the jq filter.
accepts() {
    local json
    json=$(nix-instantiate --eval --strict --json -E "$(expr "(mkACI $1).aciSpec")") || fail "mkACI $1 was refused"
    printf '%s' "$json" | jq -e "$2" >/dev/null || fail "mkACI $1: $json does not satisfy $2"
}
accepts '{ packages = [ bb ]; }' '.defaultName == "busybox" and .fileName == "busybox-1.35.0-linux-amd64.aci" and (has("name") | not) and .exec == "/bin/busybox" and .sign and (.thin | not)'
accepts '{ packages = [ bb ]; acName = "example.com/my~tool"; acVersion = "2"; versionAddon = "-static"; arch = "x86_64"; }' \
    '.name == "example.com/my~tool" and .version == "2-static" and .arch == "amd64" and .fileName == "my~tool-2-static-linux-amd64.aci"'
accepts '{ packages = [ bb ]; exec = "/bin/busybox sh"; env.N = 3; acLabels.a = "1"; labels.b = "2"; }' \
    '.exec == "/bin/busybox sh" and .env.N == "3" and .labels == {a: "1", b: "2"}'
accepts '{ packages = [ bb ]; isolators = "{\"os/linux/no-new-privileges\": true}"; ports.http = { protocol = "tcp"; port = 80; }; }' \
    '(.isolators | type) == "string" and .ports.http.port == 80'
accepts '{ packages = [ "${bb}" ]; version = ""; }' '.fileName == "busybox-latest-linux-amd64.aci" and (has("version") | not)'
accepts '{ packages = [ bb ]; pkg = { name = "_GNU+Linux  Tool!-1.0"; }; }' '.defaultName == "_GNU+Linux  Tool!" and .fileName == "gnupluslinux-tool-1.0-linux-amd64.aci"' 
accepts '{ packages = [ bb ]; pkg = { pname = "Py._Lib"; version = "3"; }; }' '.defaultName == "Py._Lib" and .fileName == "py.lib-3-linux-amd64.aci"' 
# exec may be left out when the first package has meta.mainProgram.
accepts '{ packages = [ (bb // { meta.mainProgram = "busybox"; }) ]; exec = null; }' '.exec == ["/bin/busybox"]'
accepts '{ packages = [ (bb // { meta.mainProgram = "busybox"; }) ]; exec = "/bin/sh"; }' '.exec == "/bin/sh"'
# Integers become strings, the same way in env, labels and annotations (as
# the README's argument table says).
accepts '{ packages = [ bb ]; env.PORT = 8080; labels.build = 42; annotations.revision = 7; env.DIR = /tmp; }' \
    '.env.PORT == "8080" and .labels.build == "42" and .annotations.revision == "7" and .env.DIR == "/tmp"'
# users, groups, perms and files reach mkaci only when given (so images
# without them keep their derivations); owned mounts keep their shape.
accepts '{ packages = [ bb ]; }' '[has("users"), has("groups"), has("perms"), has("files")] == [false, false, false, false]'
accepts '{ packages = [ bb ]; users.app = { uid = 1000; home = "/var/lib/app"; }; groups.app.gid = 1000; mounts.data = { path = "/d"; uid = 1000; mode = "0750"; }; mounts.x = "/x"; perms = [ { path = "/d"; gid = 2; recursive = true; } ]; files."/etc/a.conf" = builtins.toFile "a.conf" "a"; }' \
    '.users == {app: {uid: 1000, home: "/var/lib/app"}} and .groups == {app: {gid: 1000}} and .mounts == {data: {path: "/d", uid: 1000, mode: "0750"}, x: "/x"}
     and .perms == [{path: "/d", gid: 2, recursive: true}] and (.files."/etc/a.conf" | test("^/nix/store/[a-z0-9]{32}-a.conf$"))'
say "good arguments give the expected structured attrs"

# The image derivation hands mkaci the closure and the attrs the contract names.
drv=$(nix-instantiate "$repo" -A busyboxThin 2>/dev/null) || fail "cannot instantiate busyboxThin"
drv_json "$drv" >"$work/drv.json"
jq -e '.structuredAttrs |
    .exportReferencesGraph.closure == .aci.packages and (.mkaci | endswith("/bin/mkaci"))
    and .storeDir == "/nix/store" and .aci.thin' "$work/drv.json" >/dev/null \
    || fail "busyboxThin's derivation lacks the structured attrs mkaci reads: $(jq -c .structuredAttrs "$work/drv.json")"
jq -e '.args == ["build"] and (.builder | endswith("/bin/mkaci"))' "$work/drv.json" >/dev/null \
    || fail "busyboxThin's builder is not mkaci build"
say "the derivation is mkaci build with structured attrs"
