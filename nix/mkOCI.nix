# mkOCI: build an OCI image (an OCI image layout directory) from Nix
# packages, from the same arguments as mkACI and with the same checks, the
# same closure and the same rootfs plan.
#
#   mkOCI = import ./nix/mkOCI.nix { inherit mkaci system; };
#   mkOCI { packages = [ pkgs.busybox ]; exec = [ "/bin/busybox" "sh" ]; }
#
# Every argument is first handed to mkACI (nix/mkACI.nix), which checks and
# normalises it; mkOCI then makes a derivation of its own whose builder is
# `mkaci build` with `format = "oci"`. Arguments that mean nothing in an OCI
# image (thin, isolators, eventHandlers, supplementaryGIDs, os, arch,
# sign = true, layered, layerPrefix, a socket-activated port, xz
# compression) are refused here,
# with a throw that names them. docs/oci.md has the mapping.
#
# The result directory holds `<name>-<version>-<os>-<arch>.oci/` (os and
# architecture in OCI's spelling: linux-amd64, linux-arm64), `nix2aci.json`
# and `postprocess.sh`, which writes a docker-archive and a GC-rooted link to
# the layout into OCI/.
#
# Needs nothing from nixpkgs.
{
  # The mkaci package: a derivation (or store path) with bin/mkaci.
  mkaci,
  # The Nix system the images are built on. Default: `mkaci.system`.
  system ? null,
}@outer:
let
  mkACI = import ./mkACI.nix (outer // { caller = "mkOCI"; });
  names = import ./names.nix;
  inherit (builtins) isInt isString isList isAttrs toJSON match any attrValues removeAttrs;
  fail = msg: throw "mkOCI: ${msg}";
in

{
  # The arguments below mean what they mean for mkACI (see nix/mkACI.nix and
  # the README); how each becomes the OCI image config is in docs/oci.md.
  packages,
  pkg ? null,
  name ? null,
  acName ? null,
  version ? null,
  acVersion ? null,
  versionAddon ? "",
  # The Nix system the image is built on (where mkaci runs).
  system ? null,
  # The Nix system of the image: gives the OCI os and architecture
  # (x86_64-linux -> linux/amd64, aarch64-linux -> linux/arm64;
  # src/names.json, ociPlatforms), and its `exec` must be built for it.
  # Default: `system`. See mkACI's targetSystem.
  targetSystem ? null,
  # -> the config's Labels.
  labels ? { },
  acLabels ? { },
  # -> the manifest's annotations; `created` -> the config's created.
  annotations ? { },
  # -> Volumes (read-only is not expressible in an OCI image).
  mounts ? { },
  mountsRo ? { },
  # -> /etc/passwd, /etc/group, home directories, owners and modes and
  # copied files in the top layer, as mkACI writes them into the rootfs.
  users ? { },
  groups ? { },
  perms ? [ ],
  files ? { },
  # -> ExposedPorts; `socketActivated = true` is refused.
  ports ? [ ],
  # -> Env.
  env ? { },
  # -> Entrypoint (the program) and Cmd (its arguments).
  exec ? null,
  # -> User, "user:group".
  user ? "0",
  group ? "0",
  # -> WorkingDir.
  workingDirectory ? null,
  # /etc/hosts with localhost lines in the top-level layer (engines usually
  # mount their own over it).
  dnsquirks ? true,
  # Layer compression: "gzip" (default; tar+gzip layers), "zstd" (tar+zstd
  # layers: smaller and faster to unpack; read by containerd >= 1.5,
  # Docker >= 23.0, podman and skopeo; docs/oci.md) or "none"; "xz" is
  # refused.
  compression ? "gzip",
  # Its level: gzip 1..12, zstd 1..22; null for mkaci's default (gzip 6,
  # zstd 3; docs/bench.md measures them).
  compressionLevel ? null,
  # Accepted for compatibility, ignored (as for mkACI).
  pkgs ? null,
  static ? false,

  # The tag: org.opencontainers.image.ref.name in index.json and the tag of
  # the docker-archive postprocess.sh writes. Default: the version, else
  # "latest". Must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
  tag ? null,
  # The most layers the image may have, the top-level tree's included: one
  # layer per store path, the least popular grouped past this (docs/oci.md).
  # Declared layers count.
  maxLayers ? 100,
  # Declared layers: results of nix2aci.mkLayer (the same values mkACI's
  # `layers` takes). Each is the image's bottom layer in the order given,
  # built once as its own derivation (the layer's `oci`) and linked into the
  # image as is; its store paths leave the image's own layers.
  layers ? [ ],
  # Cached layers: each one-path store layer (the most popular paths, up to
  # maxLayers; the rest share one layer the image packs itself) becomes a
  # derivation of its own, which depends only on its store path, the
  # platform and the compression, so every image on every machine that
  # holds the path reuses it, and a rebuild after the app changed packs
  # only the app's own paths. The same image as without it. Needs the
  # closure at evaluation time: it imports from a derivation (which Hydra
  # and nixpkgs forbid), so it is off by default (docs/oci.md).
  cacheLayers ? false,

  # mkACI arguments with no OCI meaning: refused when they ask for anything.
  thin ? false,
  isolators ? null,
  eventHandlers ? null,
  supplementaryGIDs ? [ ],
  os ? null,
  arch ? null,
  sign ? false,
  layered ? false,
  layerPrefix ? null,
}@args:

let
  show = v: if isAttrs v && v ? outPath then "<derivation ${v.name or v.outPath}>" else toJSON v;
  empty = v: v == null || v == { } || v == [ ] || v == "";
  refuse = arg: v: why:
    fail "`${arg}` (${show v}) has no meaning in an OCI image: ${why}; remove `${arg}`, or build an ACI with mkACI";

  portList = if isList ports then ports else if isAttrs ports then attrValues ports else [ ];
  notLayers = if isList layers
    then builtins.filter (i: let l = builtins.elemAt layers i; in !(isAttrs l && (l.nix2aciLayer or false) == true)) (builtins.genList (i: i) (builtins.length layers))
    else [ ];
  socketActivated = any (p: isAttrs p && (p.socketActivated or false) == true) portList;

  checks =
    if thin != false then refuse "thin" thin "its layers always hold the closure (no host mounts of the store)"
    else if !empty isolators then refuse "isolators" isolators "the image config has no resource or capability limits; give them to the engine (podman run --memory, --cap-drop, ...)"
    else if !empty eventHandlers then refuse "eventHandlers" eventHandlers "the image config has no pre-start or post-stop hooks"
    else if !empty supplementaryGIDs then refuse "supplementaryGIDs" supplementaryGIDs "the image config has no supplementary groups; give them to the engine (podman run --group-add)"
    else if os != null then refuse "os" os "the OCI os comes from `targetSystem` (default: `system`); pass targetSystem = \"x86_64-linux\" or the like"
    else if arch != null then refuse "arch" arch "the OCI architecture comes from `targetSystem` (default: `system`); pass targetSystem = \"aarch64-linux\" or the like"
    else if sign != false then refuse "sign" sign "OCI images are not signed by nix2aci (cosign and the like are out of scope)"
    else if layered != false then refuse "layered" layered "an OCI image already has one layer per store path (see maxLayers); declared layers go in `layers`"
    else if layerPrefix != null then refuse "layerPrefix" layerPrefix "it names per-path dependency ACIs, which OCI images do not have"
    else if socketActivated then refuse "ports" ports "socketActivated has no OCI equivalent; drop socketActivated from the port"
    else if compression == "xz" then fail "`compression` (\"xz\") is not an OCI layer compression; use \"gzip\" (the default), \"zstd\" or \"none\""
    else if !(isInt maxLayers && maxLayers >= 2) then fail "`maxLayers` must be an integer of at least 2 (one store layer and the top-level layer), got ${show maxLayers}"
    else if !isList layers then fail "`layers` must be a list of nix2aci.mkLayer results, got ${show layers}"
    else if notLayers != [ ] then fail "`layers`[${toString (builtins.head notLayers)}] is not a nix2aci.mkLayer result (${show (builtins.elemAt layers (builtins.head notLayers))}); pass layers = [ (nix2aci.mkLayer { packages = [ ... ]; }) ]"
    else if !builtins.isBool cacheLayers then fail "`cacheLayers` must be true or false, got ${show cacheLayers}"
    else if maxLayers < builtins.length layers + 2 then fail "`maxLayers` (${toString maxLayers}) leaves no room beside ${toString (builtins.length layers)} declared layer(s) for the image's own store layer and top-level layer; raise it to at least ${toString (builtins.length layers + 2)}"
    else true;

  # Everything else is mkACI's: its checks, its normalisation.
  image = mkACI (removeAttrs args [ "tag" "maxLayers" "layers" "cacheLayers" "thin" "isolators" "eventHandlers" "supplementaryGIDs" "os" "arch" "sign" "layered" "layerPrefix" ]);
  aci = removeAttrs image.aciSpec [ "sign" ];
  system' = image.system;
  targetSystem' = image.targetSystem;

  platform =
    let p = names.ociPlatformOfSystem targetSystem'; in
    if p != null then p
    else fail "no OCI platform known for system ${show targetSystem'}; build for one of src/names.json's ociPlatforms (x86_64-linux, aarch64-linux, ...)";

  tag' =
    let t = if tag != null then tag else if image.imageVersion != null then image.imageVersion else "latest"; in
    if !isString t then fail "`tag` must be a string, got ${show t}"
    else if match "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}" t != null then t
    else if tag != null then fail "`tag` (${show t}) is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}); pass e.g. tag = \"1.0\""
    else fail "the version ${show t} is not a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}), so it cannot be the default tag; pass `tag`, e.g. tag = \"1.0\"";

  dirName = names.ociLayoutName {
    name = image.imageName;
    version = image.imageVersion;
    os = platform.os;
    arch = platform.architecture;
  };

  # `layers` only when there are some, so that images without keep their
  # derivations.
  declaredOci = map (l: "${l.oci}") layers;
  oci = { tag = tag'; inherit maxLayers dirName; }
    // (if layers == [ ] then { } else { layers = declaredOci; })
    // (if cacheLayers != true then { } else {
      cachedLayers = import ./cacheLayers.nix {
        kind = "oci";
        inherit (image) imageName imageVersion;
        system = system';
        targetSystem = targetSystem';
        mkaci = image.builder;
        packages = aci.packages;
        layers = declaredOci;
        inherit (aci) compression;
        compressionLevel = aci.compressionLevel or null;
        inherit maxLayers;
      };
    });

  drv = import ./builder.nix {
    kind = "oci";
    inherit (image) imageName imageVersion;
    inherit aci;
    system = system';
    targetSystem = targetSystem';
    mkaci = image.builder;
    extra = { format = "oci"; inherit oci; };
  };
in
builtins.seq checks (builtins.seq (builtins.deepSeq [ aci oci ] null) (drv // {
  # The layout directory inside the result, `<name>-<version>-<os>-<arch>.oci`.
  ociLayoutName = dirName;
  imageName = image.imageName;
  imageVersion = image.imageVersion;
  tag = tag';
  inherit platform;
  targetSystem = targetSystem';
  inherit (image) mkaci packages;
  # The normalised arguments, as handed to mkaci.
  aciSpec = aci;
  ociSpec = oci;
}))
