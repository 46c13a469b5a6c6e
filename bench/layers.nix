# The images scripts/bench-layers builds: a layered image whose top-level
# package changes between builds, on top of a declared layer that does not.
# Not part of nix2aci's interface.
#
#   nix-build bench/layers.nix --argstr corpus /var/tmp/nix2aci-bench/corpus.json \
#     --argstr part large --argstr generation 1 -A layered
#
# `corpus` is the JSON file scripts/bench writes ({ "large": [ storePaths ],
# "small": [ storePaths ] }); `part` picks the list (the Rust toolchain is
# "large"). `generation` is any string: it goes into the app's text, so each
# new value gives a new app store path, a new layered image and a new fat
# image, and leaves the layer alone.
#
# - layer: mkLayer of busybox and the corpus paths (the app's interpreter and
#   the toolchain), "localhost/bench/toolchain". It never depends on
#   `generation`, so Nix builds it once.
# - app: a store path holding bin/app, a busybox sh script that names the
#   generation and runs the toolchain's rustc; the corpus paths and busybox
#   are its references, so its closure is app + busybox + corpus.
# - layered: mkACI { packages = [ app ]; layers = [ layer ]; layered = true; }:
#   the app image plus one per-path dependency ACI (the app's store path).
# - perPath: mkACI { packages = [ app ]; layered = true; } without the
#   layer: every store path of the closure a per-path dependency ACI, all
#   built in the image's derivation.
# - fat: mkACI { packages = [ app ]; } of the same closure, for comparison.
# - oci: mkOCI { packages = [ app ]; layers = [ layer ]; }: an OCI image whose
#   bottom layer is the layer's `oci` (built once, as `layerOci`), linked.
# - ociCached: mkOCI { packages = [ app ]; cacheLayers = true; }: nothing
#   declared; each store path's layer is a derivation of its own.
# - layeredCached: mkACI { packages = [ app ]; layered = true;
#   cacheLayers = true; }: each per-path dependency ACI a derivation of its own.
{
  corpus,
  part ? "large",
  generation ? "0",
}:
let
  inherit (builtins) fromJSON readFile map storePath concatStringsSep head filter match;

  nix2aci = import ../default.nix { offline = true; };
  inherit (nix2aci) mkACI mkOCI mkLayer;
  busybox = nix2aci.pkgs.busybox;

  paths = map storePath (fromJSON (readFile corpus)).${part};
  # The store path with bin/rustc (the toolchain's bin), else the first one.
  binPaths = filter (p: match ".*-bin" p != null) paths;
  mainPath = if binPaths != [ ] then head binPaths else head paths;

  layer = mkLayer {
    name = "localhost/bench/toolchain";
    version = "1";
    packages = [ busybox ] ++ paths;
  };

  app = derivation {
    name = "bench-app";
    system = builtins.currentSystem;
    builder = "${busybox}/bin/busybox";
    args = [ "sh" "-euc" ''
      export PATH=${busybox}/bin
      mkdir -p "$out/bin"
      cp "$scriptPath" "$out/bin/app"
      chmod 0555 "$out/bin/app"
    '' ];
    script = ''
      #!${busybox}/bin/sh
      # nix2aci bench app, generation ${generation}
      # toolchain: ${concatStringsSep " " paths}
      exec ${mainPath}/bin/rustc "$@"
    '';
    passAsFile = [ "script" ];
  };

  common = {
    version = "1";
    packages = [ app ];
    exec = [ "/bin/app" ];
  };
in
{
  inherit busybox layer app;
  layerOci = layer.oci;
  oci = mkOCI (common // {
    name = "localhost/bench/app-oci";
    layers = [ layer ];
  });
  layered = mkACI (common // {
    name = "localhost/bench/app";
    layered = true;
    layers = [ layer ];
  });
  perPath = mkACI (common // {
    name = "localhost/bench/app-per-path";
    layered = true;
  });
  ociCached = mkOCI (common // {
    name = "localhost/bench/app-oci-cached";
    cacheLayers = true;
  });
  layeredCached = mkACI (common // {
    name = "localhost/bench/app-cached";
    layered = true;
    cacheLayers = true;
  });
  fat = mkACI (common // {
    name = "localhost/bench/app-fat";
  });
}
