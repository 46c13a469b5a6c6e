# mkACI: build an App Container Image (appc ACI) from Nix packages.
#
#   mkACI = import ./nix/mkACI.nix { inherit mkaci system; };
#   mkACI { packages = [ pkgs.busybox ]; exec = [ "/bin/busybox" "sh" ]; }
#
# The result is a plain `derivation` with `__structuredAttrs = true` whose
# builder is `mkaci build`. Nix hands it the closure of `packages` through
# `exportReferencesGraph`, and every argument below, normalised, under the
# attribute `aci` (the contract is src/nix/attrs.rs). mkaci is the authority on
# validity; this file only catches cheap mistakes early, with a `throw`.
#
# The result directory holds `<name>-<version>-<os>-<arch>.aci`, its
# `.manifest` and `.id`, a `.mounts` file for thin images, `nix2aci.json` and
# `postprocess.sh` (see docs/result-layout.md).
#
# Needs nothing from nixpkgs.
{
  # The mkaci package: a derivation (or store path) with bin/mkaci.
  mkaci,
  # The Nix system the images are built on (each image may still pass its
  # own `system`). Default: `mkaci.system`, the system of the mkaci
  # derivation. Nothing here reads builtins.currentSystem, so mkACI works in
  # pure evaluation (flakes).
  system ? null,
  # The function name error messages start with (nix/mkOCI.nix reuses
  # mkACI's checks and says "mkOCI").
  caller ? "mkACI",
}@outer:
let
  defaultSystem =
    if outer.system or null != null then outer.system
    else if builtins.isAttrs mkaci && mkaci ? system then mkaci.system
    else throw "mkACI: no Nix system known: import nix/mkACI.nix { inherit mkaci system; }, or pass `system` to mkACI";
in

{
  # List of packages (derivations or store paths), at least one. Their
  # top-level trees are merged at the image root (like buildEnv); their whole
  # closure goes into the image (fat) or becomes read-only mount points (thin).
  packages,

  # The package that gives the default name and version. Defaults to the first
  # of `packages`.
  pkg ? null,

  # Image name, an AC Identifier such as `example.com/busybox`
  # (^[a-z0-9]+([-._~/][a-z0-9]+)*$). Taken as is and refused by mkaci if
  # invalid. Default: the name of `pkg` (`pname`, else the name part of its
  # Nix name) mapped by nix/names.nix (the rule mkaci uses too): lowercased,
  # `+` spelled `plus`, other characters outside [a-z0-9-._~/] (a non-ASCII
  # character counting as one) replaced by `-`, runs of separators collapsed
  # to their first character, leading and trailing separators dropped.
  name ? null,
  # The original's spelling of `name`.
  acName ? null,

  # The `version` label. Default: the version of `pkg` (its `version`, else the
  # version part of its Nix name). Images without a version are named
  # `...-latest-...`.
  version ? null,
  # The original's spelling of `version`.
  acVersion ? null,

  # Appended to the version, for example "-static".
  versionAddon ? "",

  # The `arch` label. Default: from `system` by src/names.json (x86_64-linux
  # -> amd64, aarch64-linux -> aarch64, i686-linux -> i386, ...). Other
  # spellings are mapped to the os's appc arch: x86_64 -> amd64, i686 -> i386
  # and arm64 -> aarch64 on linux, amd64 -> x86_64 on darwin.
  arch ? null,

  # The `os` label. Default: from `system` by src/names.json (linux).
  os ? null,

  # The Nix system the image is built on (where mkaci runs). Default: the
  # `system` mkACI was imported with (else mkaci's).
  system ? defaultSystem,

  # The Nix system of the image (e.g. "aarch64-linux" for an arm64 image
  # built on an x86_64 machine): gives the os and arch, and its programs
  # must be for it (mkaci refuses an `exec` built for another machine). The
  # packages must be built for it too: cross-built (nixpkgs'
  # pkgsCross.aarch64-multiplatform) or from a nixpkgs of that system.
  # Default: `system`. `os` and `arch`, when given too, must agree with it.
  targetSystem ? null,

  # Thin image: no store contents, only a directory skeleton and one read-only
  # host mount point per store path of the closure (`nix-<hash>`). Run it with
  # `rkt run $(cat result/*.mounts) result/*.aci`.
  thin ? false,

  # Layered image: each store path of the closure (less what `layers` hold)
  # becomes its own dependency ACI in the result, named
  # `<layerPrefix>/<hash>-<name>` and labelled os and arch; the image itself
  # holds the merged top-level tree, /etc, /tmp and mount targets, and its
  # manifest lists the dependencies with imageID and size pinned. The
  # runtime (rkt) fetches each dependency once and renders it below the app.
  # Not with `thin`.
  layered ? false,
  # The name prefix of the per-path dependency images, an AC Identifier.
  # Default: the image name's first component and the store directory
  # (`localhost/nix/store` for `localhost/app`).
  layerPrefix ? null,
  # Declared layers: a list of nix2aci.mkLayer results. The image depends
  # on each (declared layers first, in this order) and leaves their store
  # paths out of its contents and out of its per-path dependencies. A layer
  # is its own derivation, so images that share it build it once.
  layers ? [ ],
  # Cached per-path layers (with `layered = true` only): each per-path
  # dependency ACI becomes a derivation of its own, which depends only on
  # its store path, `layerPrefix`, the os and arch and the compression, so
  # every image on every machine that holds the path reuses it, and a
  # rebuild after the app changed packs only the app's own paths. The same
  # images as without it. Needs the closure at evaluation time: it imports
  # from a derivation (which Hydra and nixpkgs forbid), so it is off by
  # default (docs/layers.md).
  cacheLayers ? false,

  # Extra labels, attrset name -> string (an integer, path or derivation is
  # converted with toString, as for `env`). `name` is not allowed; `os`,
  # `arch` and `version` are set by the arguments above.
  labels ? { },
  # The original's spelling of `labels`; merged with `labels`.
  acLabels ? { },

  # Image annotations, attrset name -> string (e.g. `authors`, `homepage`,
  # `created`; `created` defaults to 1970-01-01T00:00:01Z for reproducibility).
  # An integer, path or derivation is converted with toString, as for `env`.
  annotations ? { },

  # Read-write mount points, attrset AC Name -> absolute path in the image,
  # or { path; uid ? 0; gid ? 0; mode ? "0755"; } to give the target
  # directory in the image an owner and mode (e.g. a data volume the app
  # user owns).
  mounts ? { },
  # Read-only mount points, as `mounts`.
  mountsRo ? { },

  # Users written into /etc/passwd, attrset name -> { uid; gid ?; home ?;
  # shell ? "/bin/sh"; description ? ""; }. `gid` defaults to the gid of
  # groups.<name>. A `home` is created in the image, owned by the user (mode
  # 0700); without one the home is /var/empty. With `users` or `groups`,
  # /etc/passwd and /etc/group are written as real files holding root (0)
  # and nobody (65534) too, and /etc/nsswitch.conf (unless a package has
  # one) says `passwd: files`. mkaci refuses a name or id used twice, a gid
  # no group has, a package's own /etc/passwd or /etc/group beside them.
  users ? { },
  # Groups written into /etc/group, attrset name -> { gid; members ? [ ]; }.
  groups ? { },

  # Ownership and modes of paths outside the store, in the tar headers (no
  # root needed): a list of { path; mode ?; uid ?; gid ?; recursive ? false; }.
  # `mode` is a string of octal digits ("0750"). The path must exist in the
  # image (a package's directory or /etc file, a home, a mount target, a
  # `files` entry); links are not followed. Paths in the store are refused:
  # store contents stay as Nix made them. Applied last, in order.
  perms ? [ ],

  # Files copied into the image as real files (not links): attrset absolute
  # image path -> a path, derivation or store path (a file, or a directory
  # copied recursively), or { source; mode ?; uid ?; gid ?; }. `mode` (octal
  # digits) is the top entry's; the default is 0644 (0755 when executable)
  # for files, 0755 for directories; uid and gid apply to the whole copy. A
  # path the packages (or mkaci's /etc/hosts, /etc/passwd, ...) already have
  # is an error naming both.
  files ? { },

  # Ports: a list of { name, protocol, port, count ? 1, socketActivated ? false },
  # or an attrset name -> { protocol, port, ... }.
  ports ? [ ],

  # Environment of the app, attrset name -> string. An integer, path or
  # derivation is converted with toString (env.PORT = 8080 gives "8080"), as
  # for `labels` and `annotations`; a float, boolean, list or attrset is
  # refused (write it as the string the program expects).
  env ? { },

  # The command: a string (split on whitespace) or a list of strings. Its
  # first word must be an absolute path to an executable in the image (mkaci
  # checks it at build time, following the image's links). In thin images
  # mkaci writes the store path it leads to, because rkt resolves exec before
  # it mounts the volumes. Required, unless the first package has
  # `meta.mainProgram`: then it defaults to [ "/bin/<mainProgram>" ].
  exec ? null,

  # User and group the app runs as (names or numbers; the original's default "0").
  user ? "0",
  group ? "0",

  # Supplementary group IDs, a list of non-negative integers.
  supplementaryGIDs ? [ ],

  # Absolute working directory of the app.
  workingDirectory ? null,

  # Event handlers: attrset { pre-start = [ ... ]; post-stop = [ ... ]; } or a
  # list of { name, exec }.
  eventHandlers ? null,

  # Isolators: attrset name -> value (e.g. { "resource/memory" = { limit = "1G"; }; }),
  # a list of { name, value }, or a JSON string of either.
  isolators ? null,

  # Write /etc/hosts with localhost lines into the image (the original's
  # workaround for runtimes that provide no /etc/hosts).
  dnsquirks ? true,

  # Compression of the .aci: "gzip" (default), "xz" or "none" (mkOCI also
  # takes "zstd").
  compression ? "gzip",
  # Compression level; null for mkaci's default for `compression`. gzip
  # 1..12, xz 0..9, zstd 1..22 (nix/compression.nix).
  compressionLevel ? null,

  # Whether ./result/postprocess.sh signs the image with gpg.
  sign ? true,

  # Accepted for compatibility with the original and ignored: `pkgs` (mkACI
  # needs nothing from nixpkgs) and `static` (link statically by choosing a
  # static package instead, e.g. pkgsStatic.busybox; `versionAddon` names it).
  pkgs ? null,
  static ? false,
}:

let
  inherit (builtins) isList isAttrs isString isInt isBool isPath isFunction typeOf toJSON
    length head filter map all attrNames attrValues mapAttrs concatStringsSep
    stringLength substring replaceStrings elem foldl' match parseDrvName split;

  # System -> os/arch, the default-name mapping and the file-name rule,
  # shared with mkaci through src/names.json.
  names = import ./names.nix;

  fail = msg: throw "${caller}: ${msg}";
  show = v:
    if isAttrs v && v ? outPath then "<derivation ${v.name or v.outPath}>"
    else if isFunction v then "<function>"
    else toJSON v;

  isDerivation = v: isAttrs v && (v.type or null) == "derivation";
  isStorePathString = v: isString v && substring 0 (stringLength builtins.storeDir + 1) v == builtins.storeDir + "/";
  isPackage = v: isDerivation v || isStorePathString v || isPath v || (isAttrs v && v ? outPath);

  # --- packages ---
  packages' =
    if !isList packages then fail "`packages` must be a list of packages, got ${typeOf packages}: ${show packages}"
    else if packages == [ ] then fail "`packages` is empty; give at least one package, e.g. packages = [ pkgs.busybox ]"
    else
      let bad = filter (p: !isPackage p) packages; in
      if bad != [ ] then fail "`packages` must hold derivations or store paths; ${show (head bad)} is a ${typeOf (head bad)}"
      else packages;
  packagePaths = map (p: "${p}") packages';
  pkg' = if pkg == null then head packages' else pkg;

  # The Nix name of a package: derivation name, or store path without its hash.
  nixName = p:
    if isAttrs p && p ? name then p.name
    else let b = builtins.unsafeDiscardStringContext (baseNameOf "${p}"); in
      if match "[0-9a-z]{32}-.*" b != null then substring 33 (stringLength b) b else b;
  parsed = parseDrvName (nixName pkg');
  pkgName = if isAttrs pkg' && pkg' ? pname then pkg'.pname else parsed.name;
  pkgVersion = if isAttrs pkg' && pkg' ? version then pkg'.version else parsed.version;

  # --- name ---
  pick = what: new: old:
    if new != null && old != null && new != old
    then fail "both `${what.new}` (${show new}) and `${what.old}` (${show old}) are given; use `${what.new}` only"
    else if new != null then new else old;
  explicitName = pick { new = "name"; old = "acName"; } name acName;

  # The default-name mapping, shared with mkaci (src/names.json).
  defaultName = names.mapName pkgName;
  imageName =
    if explicitName != null then
      (if isString explicitName && explicitName != "" then explicitName
       else fail "`name` must be a non-empty string, got ${show explicitName}")
    else if defaultName == "" then
      fail "cannot derive an image name from the package name ${show pkgName}; pass `name`, e.g. name = \"example.com/app\""
    else defaultName;

  # --- version ---
  baseVersion = pick { new = "version"; old = "acVersion"; } version acVersion;
  version' =
    let v = (if baseVersion != null then toString baseVersion else pkgVersion) + versionAddon; in
    if !isString versionAddon then fail "`versionAddon` must be a string, got ${show versionAddon}"
    else if v == "" then null else v;

  # --- os and arch ---
  # From src/names.json, shared with mkaci: the image's system is
  # `targetSystem`, else `system`.
  targetSystem' =
    if targetSystem == null then system
    else if isString targetSystem then targetSystem
    else fail "`targetSystem` must be a Nix system string such as \"aarch64-linux\", got ${show targetSystem}";
  systemArg = if targetSystem == null then "system" else "targetSystem";
  systemOsArch =
    if isString targetSystem' then names.osArchOfSystem targetSystem'
    else fail "`system` must be a Nix system string such as \"x86_64-linux\", got ${show system}";
  noSystem = fail "no appc os and arch known for ${systemArg} ${show targetSystem'}; pass `os` and `arch` (e.g. os = \"linux\"; arch = \"amd64\";)";
  osFinal =
    if os != null then str "os" os
    else if systemOsArch != null then systemOsArch.os
    else noSystem;
  arch' = if arch == null then null else names.normaliseArch osFinal (str "arch" arch);
  archFinal =
    if arch' != null then arch'
    else if systemOsArch != null then systemOsArch.arch
    else noSystem;
  # os and arch given with targetSystem must say the same.
  targetConflict =
    if targetSystem == null || systemOsArch == null then null
    else if os != null && osFinal != systemOsArch.os then "os"
    else if arch' != null && arch' != systemOsArch.arch then "arch"
    else null;
  checkTarget =
    if targetConflict == null then true
    else fail "`${targetConflict}` (${show (if targetConflict == "os" then osFinal else arch')}) contradicts targetSystem ${show targetSystem'}, whose ${targetConflict} is ${show systemOsArch.${targetConflict}}; drop `${targetConflict}` (targetSystem gives it) or change targetSystem";
  fileName = names.fileName { name = imageName; version = version'; os = osFinal; arch = archFinal; };

  # --- small checks and conversions ---
  checkBool = what: v: if isBool v then v else fail "`${what}` must be true or false, got ${show v}";
  checkAttrs = what: v: if isAttrs v && !(v ? outPath) then v else fail "`${what}` must be an attrset, got ${show v}";
  # Converts values that have one obvious string form (integers: 8080 ->
  # "8080"; paths and derivations: their store path); throws for the rest.
  # Floats are refused: toString 1.5 is "1.500000".
  str = what: v:
    if isString v then v
    else if isInt v || isPath v || (isAttrs v && v ? outPath) then toString v
    else if builtins.isFloat v then fail "`${what}` must be a string, got the float ${show v}; write it as a string, e.g. \"${show v}\""
    else fail "`${what}` must be a string, got ${show v}";
  strAttrs = what: v: mapAttrs (k: x: str "${what}.${k}" x) (checkAttrs what v);

  # The first package's meta.mainProgram, the default program to run.
  mainProgram =
    let p = head packages'; m = if isAttrs p then p.meta.mainProgram or null else null; in
    if m == null then null
    else if isString m && m != "" && match ".*/.*" m == null then m
    else fail "the first package's `meta.mainProgram` must be a file name under bin/, got ${show m}; pass `exec`";
  isAbsolute = p: substring 0 1 p == "/";
  absolutePath = what: v:
    let p = str what v; in
    if isAbsolute p then p else fail "`${what}` must be an absolute path, got ${show p}";

  exec0 =
    if exec == null && mainProgram != null then [ "/bin/${mainProgram}" ]
    else if exec == null || exec == "" || exec == [ ] then
      fail "`exec` is required: the program the image runs, e.g. exec = [ \"/bin/busybox\" \"sh\" ] (it may be left out only when the first package has meta.mainProgram)"
    else if isString exec then exec
    else if isList exec then map (str "exec") exec
    else if isAttrs exec && exec ? outPath then toString exec
    else fail "`exec` must be a string or a list of strings, got ${typeOf exec}: ${show exec}";
  # The program, exec's first word, must be an absolute path in the image.
  execProgram =
    if isList exec0 then head exec0
    else let words = filter (w: isString w && w != "") (split "[[:space:]]+" exec0); in
      if words == [ ] then fail "`exec` is required: ${show exec0} has no words" else head words;
  exec' =
    if isAbsolute execProgram then exec0
    else fail "`exec`'s program must be an absolute path in the image, got ${show execProgram}; e.g. \"/bin/${baseNameOf execProgram}\"";

  userGroup = what: v:
    let s = str what v; in
    if s == "" then fail "`${what}` must not be empty; use \"0\" for root" else s;

  gids =
    if isList supplementaryGIDs && all (g: isInt g && g >= 0) supplementaryGIDs then supplementaryGIDs
    else fail "`supplementaryGIDs` must be a list of non-negative integers, got ${show supplementaryGIDs}";

  isolators' =
    if isolators == null || isolators == "" || isolators == { } || isolators == [ ] then null
    else if isString isolators || isAttrs isolators || isList isolators then isolators
    else fail "`isolators` must be an attrset, a list of { name, value } or a JSON string, got ${show isolators}";

  # One port: { name (list form only), protocol, port, count ?, socketActivated ? }.
  checkPort = what: withName: p:
    if !isAttrs p then fail "`${what}` must be an attrset { ${if withName then "name, " else ""}protocol, port }, got ${show p}"
    else if withName && !(p ? name) then fail "`${what}` lacks `name`: ${show p}"
    else if withName && !(isString p.name && p.name != "") then fail "`${what}.name` must be a non-empty string, got ${show p.name}"
    else if !(p ? protocol) || !elem p.protocol [ "tcp" "udp" ] then fail "`${what}.protocol` must be \"tcp\" or \"udp\", got ${show (p.protocol or null)}"
    else if !(p ? port) || !(isInt p.port && p.port >= 1 && p.port <= 65535) then fail "`${what}.port` must be an integer from 1 to 65535, got ${show (p.port or null)}"
    else if p ? count && !(isInt p.count && p.count >= 1) then fail "`${what}.count` must be a positive integer, got ${show p.count}"
    else if p ? socketActivated && !isBool p.socketActivated then fail "`${what}.socketActivated` must be true or false, got ${show p.socketActivated}"
    else p;
  ports' =
    if ports == [ ] || ports == { } || ports == null then null
    else if isList ports then builtins.genList (i: checkPort "ports[${toString i}]" true (builtins.elemAt ports i)) (length ports)
    else if isAttrs ports && !(ports ? outPath) then mapAttrs (n: checkPort "ports.${n}" false) ports
    else fail "`ports` must be a list of { name, protocol, port } or an attrset, got ${show ports}";

  # Octal digits as a string: Nix has no octal integers (0750 is 750).
  modeString = what: v:
    if isString v && match "[0-7]{1,5}" v != null then v
    else if isInt v then fail "`${what}` must be a string of octal digits such as \"0750\", got the integer ${show v}; Nix has no octal numbers, write it as a string"
    else fail "`${what}` must be a string of octal digits such as \"0750\", got ${show v}";
  nonNegInt = what: v:
    if isInt v && v >= 0 && v <= 4294967294 then v
    else fail "`${what}` must be an integer from 0 to 4294967294, got ${show v}";
  onlyKeys = what: allowed: v:
    let extra = filter (k: !elem k allowed) (attrNames v); in
    if extra == [ ] then v
    else fail "`${what}` has the unknown key `${head extra}`; allowed: ${concatStringsSep ", " allowed}";
  inStore = p: p == builtins.storeDir || substring 0 (stringLength builtins.storeDir + 1) p == builtins.storeDir + "/";
  outsideStore = what: p:
    if inStore p then fail "`${what}` (${show p}) is inside the store; store contents stay as Nix made them: choose a path outside ${builtins.storeDir}"
    else p;
  # { uid ?; gid ?; mode ?; } of `v`, checked, for what's attrset form.
  ownership = what: v:
    optional "uid" (if v ? uid then nonNegInt "${what}.uid" v.uid else null)
    // optional "gid" (if v ? gid then nonNegInt "${what}.gid" v.gid else null)
    // optional "mode" (if v ? mode then modeString "${what}.mode" v.mode else null);

  mountPoint = what: v:
    if isAttrs v && !(v ? outPath) then
      let v' = onlyKeys what [ "path" "uid" "gid" "mode" ] v; in
      if !(v' ? path) then fail "`${what}` lacks `path`: ${show v}"
      else { path = absolutePath "${what}.path" v'.path; } // ownership what v'
    else absolutePath what v;
  mountPoints = what: v: mapAttrs (k: mountPoint "${what}.${k}") (checkAttrs what v);

  users' = mapAttrs (n: u:
    let what = "users.${n}"; in
    if !isAttrs u then fail "`${what}` must be an attrset { uid; gid ?; home ?; shell ?; description ?; }, got ${show u}"
    else
      let u' = onlyKeys what [ "uid" "gid" "home" "shell" "description" ] u; in
      if !(u' ? uid) then fail "`${what}` lacks `uid`, e.g. ${what} = { uid = 1000; gid = 1000; };"
      else { uid = nonNegInt "${what}.uid" u'.uid; }
        // optional "gid" (if u' ? gid then nonNegInt "${what}.gid" u'.gid else null)
        // optional "home" (if u' ? home then absolutePath "${what}.home" u'.home else null)
        // optional "shell" (if u' ? shell then str "${what}.shell" u'.shell else null)
        // optional "description" (if u' ? description then str "${what}.description" u'.description else null)
  ) (checkAttrs "users" users);

  groups' = mapAttrs (n: g:
    let what = "groups.${n}"; in
    if !isAttrs g then fail "`${what}` must be an attrset { gid; members ? [ ]; }, got ${show g}"
    else
      let g' = onlyKeys what [ "gid" "members" ] g; in
      if !(g' ? gid) then fail "`${what}` lacks `gid`, e.g. ${what} = { gid = 1000; };"
      else { gid = nonNegInt "${what}.gid" g'.gid; }
        // optional "members" (
          if !(g' ? members) then null
          else if isList g'.members && all isString g'.members then g'.members
          else fail "`${what}.members` must be a list of user names, got ${show g'.members}")
  ) (checkAttrs "groups" groups);

  perms' =
    if !isList perms then fail "`perms` must be a list of { path; mode ?; uid ?; gid ?; recursive ?; }, got ${show perms}"
    else builtins.genList (i:
      let what = "perms[${toString i}]"; p = builtins.elemAt perms i; in
      if !isAttrs p then fail "`${what}` must be an attrset { path; mode ?; uid ?; gid ?; recursive ?; }, got ${show p}"
      else
        let p' = onlyKeys what [ "path" "mode" "uid" "gid" "recursive" ] p; in
        if !(p' ? path) then fail "`${what}` lacks `path`: ${show p}"
        else { path = outsideStore "${what}.path" (absolutePath "${what}.path" p'.path); }
          // ownership what p'
          // optional "recursive" (if p' ? recursive then checkBool "${what}.recursive" p'.recursive else null)
    ) (length perms);

  # A file source: a path (copied into the store), a derivation or a store path.
  fileSource = what: v:
    if isPath v || (isAttrs v && v ? outPath) then "${v}"
    else if isStorePathString v then v
    else fail "`${what}` must be a path (./app.conf), a derivation or a store path, got ${show v}";
  files' = builtins.listToAttrs (map (k:
    let what = "files.\"${k}\""; v = files.${k}; in
    {
      name = outsideStore what (absolutePath what k);
      value =
        if isAttrs v && !(v ? outPath) then
          let v' = onlyKeys what [ "source" "mode" "uid" "gid" ] v; in
          if !(v' ? source) then fail "`${what}` lacks `source`: ${show v}"
          else { source = fileSource "${what}.source" v'.source; } // ownership what v'
        else fileSource what v;
    }) (attrNames (checkAttrs "files" files)));

  eventHandlers' =
    if eventHandlers == null || eventHandlers == { } || eventHandlers == [ ] then null
    else if isList eventHandlers || isAttrs eventHandlers then eventHandlers
    else fail "`eventHandlers` must be an attrset or a list of { name, exec }, got ${show eventHandlers}";

  # zstd is for OCI layers only: appc has no zstd (actool and rkt refuse it).
  compression' =
    if compression == "zstd" && caller != "mkOCI" then
      fail "`compression` (\"zstd\") is not an ACI compression: appc allows gzip, bzip2, xz or none; use \"gzip\" (the default), \"xz\" or \"none\"${
        if caller == "mkLayer" then ", and ociCompression = \"zstd\" for the layer's OCI form (its `oci`)" else ", or build an OCI image with mkOCI"}"
    else if elem compression [ "gzip" "xz" "zstd" "none" ] then compression
    else fail "`compression` must be \"gzip\", \"xz\", \"zstd\" (OCI only) or \"none\", got ${show compression}";
  compressionLevel' = (import ./compression.nix).checkLevel fail "compressionLevel" compression' compressionLevel;

  workingDirectory' =
    if workingDirectory == null then null else absolutePath "workingDirectory" workingDirectory;

  thin' = checkBool "thin" thin;
  layered' =
    let l = checkBool "layered" layered; in
    if l && thin' then fail "`thin = true` and `layered = true` do not go together: a thin image mounts every store path from the host, a layered one ships them as dependency images; choose one"
    else l;
  cacheLayers' =
    let c = checkBool "cacheLayers" cacheLayers; in
    if c && !layered' then fail "`cacheLayers = true` caches the per-path dependency images of a layered image, and this image is not layered; set layered = true (the image then ships each store path as a dependency ACI), or drop cacheLayers"
    else c;
  # The name prefix of the per-path images, as mkaci computes its default
  # (formats/aci/deps.rs): the image name's first component and the store
  # directory.
  effectivePrefix =
    if layerPrefix' != null then layerPrefix'
    else names.mapName "${builtins.head (builtins.split "/" imageName)}/${substring 1 (stringLength builtins.storeDir) builtins.storeDir}";
  cachedLayers = import ./cacheLayers.nix {
    kind = "aci";
    inherit imageName system;
    imageVersion = version';
    targetSystem = targetSystem';
    mkaci = mkaciBin;
    packages = packagePaths;
    layers = layers';
    compression = compression';
    compressionLevel = compressionLevel';
    os = osFinal;
    arch = archFinal;
    layerPrefix = effectivePrefix;
  };
  layerPrefix' =
    if layerPrefix == null then null
    else if !layered' then fail "`layerPrefix` (${show layerPrefix}) names the per-path dependency images, which only `layered = true` makes; set layered = true or drop layerPrefix"
    else if isString layerPrefix && layerPrefix != "" then layerPrefix
    else fail "`layerPrefix` must be a non-empty string (an AC Identifier such as \"example.com/nix/store\"), got ${show layerPrefix}";
  isLayer = l: (isAttrs l && (l.nix2aciLayer or false) == true) || isStorePathString l;
  layers' =
    if !isList layers then fail "`layers` must be a list of nix2aci.mkLayer results, got ${show layers}"
    else if layers != [ ] && thin' then fail "`thin = true` and `layers` do not go together: a thin image mounts every store path from the host; drop one"
    else builtins.genList (i:
      let l = builtins.elemAt layers i; in
      if isLayer l then "${l}"
      else fail "`layers[${toString i}]` must be the result of nix2aci.mkLayer { packages = [ ... ]; }, got ${show l}"
    ) (length layers);

  labels' =
    let l = strAttrs "acLabels" acLabels // strAttrs "labels" labels; in
    if l ? name then fail "`labels` must not contain `name`; pass `name` instead"
    else l;

  # Optional fields are left out rather than set to null.
  optional = k: v: if v == null then { } else { ${k} = v; };

  mkaciBin = "${mkaci}/bin/mkaci";

  aci = {
    defaultName = pkgName;
    fileName = fileName;
    thin = thin';
    packages = packagePaths;
    labels = labels';
    annotations = strAttrs "annotations" annotations;
    user = userGroup "user" user;
    group = userGroup "group" group;
    env = strAttrs "env" env;
    mounts = mountPoints "mounts" mounts;
    mountsRo = mountPoints "mountsRo" mountsRo;
    dnsquirks = checkBool "dnsquirks" dnsquirks;
    compression = compression';
    sign = checkBool "sign" sign;
  }
  // optional "name" explicitName
  // optional "version" version'
  // optional "os" (if os == null then null else osFinal)
  // optional "arch" arch'
  // optional "exec" exec'
  // optional "workingDirectory" workingDirectory'
  // optional "supplementaryGIDs" (if gids == [ ] then null else gids)
  // optional "ports" ports'
  // optional "isolators" isolators'
  // optional "eventHandlers" eventHandlers'
  // optional "compressionLevel" compressionLevel'
  // optional "users" (if users' == { } then null else users')
  // optional "groups" (if groups' == { } then null else groups')
  // optional "perms" (if perms' == [ ] then null else perms')
  // optional "files" (if files' == { } then null else files')
  // optional "layered" (if layered' then true else null)
  // optional "layerPrefix" layerPrefix'
  // optional "layers" (if layers' == [ ] then null else layers')
  // optional "cachedLayers" (if cacheLayers' then cachedLayers else null);

  drv = import ./builder.nix {
    kind = "aci";
    inherit imageName system aci;
    targetSystem = targetSystem';
    imageVersion = version';
    mkaci = mkaciBin;
  };
in
# Force the checks above before Nix sees the derivation, so that mistakes are
# reported at evaluation time.
builtins.seq checkTarget (builtins.seq (builtins.deepSeq aci null) (drv // {
  # The image file inside the result, `<name>-<version>-<os>-<arch>.aci`.
  imageFileName = fileName;
  # The image name and version labels.
  imageName = imageName;
  imageVersion = version';
  inherit (aci) thin;
  layered = layered';
  # The mkaci package that built the image (and whose postprocess the result uses).
  inherit mkaci;
  # The normalised arguments, as handed to mkaci.
  aciSpec = aci;
  # The packages the image was made from.
  packages = packages';
  # The Nix system of the image (targetSystem, else system).
  targetSystem = targetSystem';
}))
