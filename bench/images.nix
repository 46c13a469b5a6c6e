# The images scripts/bench builds. Not part of nix2aci's interface.
#
#   nix-build bench/images.nix --argstr corpus /var/tmp/nix2aci-bench/corpus.json -A large
#
# `corpus` is a JSON file written by scripts/bench: { "large": [ storePaths ],
# "small": [ storePaths ] }, store paths it imported with `nix store add-path`
# (the Rust toolchain, or a fallback). Each list becomes the closure of one fat
# image through a tiny "root" package that references every path in it.
# `thin` is a thin image of a closure of `thinPaths` + 2 store paths: generated
# one-line files, referenced by one root package.
{
  corpus,
  # How many tiny store paths the thin image's closure gets (plus the root
  # package and busybox).
  thinPaths ? 2100,
  # Passed to every fat image; null means mkACI's default.
  compression ? "gzip",
  compressionLevel ? null,
  # Passed to the OCI images (largeOCI, smallOCI): "gzip" or "zstd", and a
  # level (null: mkaci's default). scripts/bench-zstd compares them.
  ociCompression ? "gzip",
  ociCompressionLevel ? null,
}:
let
  inherit (builtins) fromJSON readFile map storePath genList toFile toString concatStringsSep;

  nix2aci = import ../default.nix { offline = true; };
  inherit (nix2aci) mkACI mkOCI;
  busybox = nix2aci.pkgs.busybox;

  paths = fromJSON (readFile corpus);

  # A package whose only content is a list of store paths, so that the paths
  # become its references and their closure the image's closure.
  root = name: refs: derivation {
    name = "bench-root-${name}";
    system = builtins.currentSystem;
    builder = "${busybox}/bin/busybox";
    args = [ "sh" "-euc" ''
      export PATH=${busybox}/bin
      mkdir -p "$out/share/nix2aci-bench"
      cp "$refsPath" "$out/share/nix2aci-bench/${name}.paths"
    '' ];
    # A file, not an argument: 2100 store paths exceed the 128 KiB limit of one.
    refs = concatStringsSep "\n" refs + "\n";
    passAsFile = [ "refs" ];
  };

  rootOf = name: root name (map storePath paths.${name});

  fat = name: mkACI {
    name = "bench-${name}";
    version = "1";
    packages = [ busybox (rootOf name) ];
    exec = [ "/bin/sh" ];
    inherit compression compressionLevel;
  };

  # The OCI image layout of the same closure: one layer per store path.
  oci = name: mkOCI {
    name = "bench-${name}";
    version = "1";
    packages = [ busybox (rootOf name) ];
    exec = [ "/bin/sh" ];
    compression = ociCompression;
    compressionLevel = ociCompressionLevel;
  };

  leaves = genList (i: toFile "bench-thin-leaf-${toString i}" "leaf ${toString i}\n") thinPaths;
  thinRoot = root "thin" leaves;
in
{
  inherit busybox;
  roots = {
    large = rootOf "large";
    small = rootOf "small";
    thin = thinRoot;
  };
  large = fat "large";
  small = fat "small";
  largeOCI = oci "large";
  smallOCI = oci "small";
  thin = mkACI {
    name = "bench-thin";
    version = "1";
    thin = true;
    packages = [ busybox thinRoot ];
    exec = "${busybox}/bin/busybox sh";
  };
}
