# mkLayer: a declared layer, one dependency ACI holding the whole closure of
# `packages` (and no app), for mkACI's `layers` and mkOCI's `layers`.
#
#   mkLayer = import ./nix/mkLayer.nix { inherit mkaci system; };
#   libs = mkLayer { packages = [ pkgs.glibc pkgs.ncurses ]; name = "example.com/layers/bash-libs"; };
#   mkACI { packages = [ pkgs.bash ]; layers = [ libs ]; layered = true; ... }
#   mkOCI { packages = [ pkgs.bash ]; layers = [ libs ]; ... }
#
# For OCI images the layer has a second derivation, its `oci` attribute: an
# OCI image layout of one layer holding the same closure, which mkOCI links
# into its images as is. It is built only when an OCI image uses the layer,
# so an ACI-only user never pays for it, and then once.
#
# A layer is its own derivation: every image that lists it links to the
# same output, and Nix builds it once. The result directory holds
# `<name>-<version>-<os>-<arch>.aci` (an image with no app), its `.manifest`
# and `.id`, `nix2aci.json` (kind dependency-aci, with the image ID, the
# size of the .aci and the store paths it holds) and `postprocess.sh`
# (a layer can be signed and published on its own too). docs/layers.md
# describes layers.
#
# The name, version, os/arch, labels, annotations, compression and signing
# arguments mean what they mean for mkACI, and are checked by it.
#
# Needs nothing from nixpkgs.
{
  # The mkaci package: a derivation (or store path) with bin/mkaci.
  mkaci,
  # The Nix system the layers are built on. Default: `mkaci.system`.
  system ? null,
}@outer:
let
  mkACI = import ./mkACI.nix (outer // { caller = "mkLayer"; });
  names = import ./names.nix;
in

{
  # List of packages; the layer holds their whole closure (as a fat image
  # would, without merging their trees at the root).
  packages,
  # The package that gives the default name and version (the first of
  # `packages` by default).
  pkg ? null,
  # The layer's image name, an AC Identifier. Default: the name of `pkg`,
  # mapped as for mkACI. Images depend on it by this name, so choose one
  # under the host you publish from (e.g. "localhost/layers/bash-libs").
  name ? null,
  # The `version` label. Default: the version of `pkg`.
  version ? null,
  versionAddon ? "",
  # The `os` and `arch` labels; default: from `system`. An image can only
  # use a layer built for its own os and arch.
  os ? null,
  arch ? null,
  system ? null,
  # The Nix system of the layer's packages, as for mkACI; an image can use
  # only a layer of its own targetSystem. Default: `system`.
  targetSystem ? null,
  # Extra labels and annotations, as for mkACI.
  labels ? { },
  annotations ? { },
  # Compression of the .aci and its level, as for mkACI.
  compression ? "gzip",
  compressionLevel ? null,
  # Compression of the OCI layer (the `oci` attribute) and its level:
  # "gzip", "zstd" (docs/oci.md) or "none". Default: `compression` and
  # `compressionLevel`, so one layer serves ACIs and OCI images alike.
  ociCompression ? null,
  ociCompressionLevel ? null,
  # Whether postprocess.sh signs the layer's image.
  sign ? true,
}@args:

let
  # mkACI checks and normalises the shared arguments; the app it would
  # describe is never built (a layer has no app), so `exec` is a stand-in.
  image = mkACI ((builtins.removeAttrs args [ "system" "ociCompression" "ociCompressionLevel" ])
    // (if system != null then { inherit system; } else { })
    // { exec = [ "/" ]; });
  spec = image.aciSpec;
  aci = {
    inherit (spec) defaultName fileName packages labels annotations compression sign;
  }
  // (if spec ? name then { inherit (spec) name; } else { })
  // (if spec ? version then { inherit (spec) version; } else { })
  // (if spec ? os then { inherit (spec) os; } else { })
  // (if spec ? arch then { inherit (spec) arch; } else { })
  // (if spec ? compressionLevel then { inherit (spec) compressionLevel; } else { });

  drv = import ./builder.nix {
    kind = "layer";
    inherit (image) imageName imageVersion system targetSystem;
    inherit aci;
    mkaci = image.builder;
    extra = { format = "layer"; };
  };

  # The OCI layer: the same closure as one layer of an OCI image layout. Its
  # tag is the version when that is a valid OCI tag, else "latest".
  ociPlatform = names.ociPlatformOfSystem image.targetSystem;
  ociTag =
    if image.imageVersion != null && builtins.match "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}" image.imageVersion != null
    then image.imageVersion else "latest";
  # The OCI layer's compression: the ACI's unless ociCompression is given.
  # Without ociCompression and ociCompressionLevel, its arguments are
  # exactly the ACI's, so existing layers keep their derivations.
  fail = msg: throw "mkLayer: ${msg}";
  ociCompression' =
    if ociCompression == null then aci.compression
    else if builtins.elem ociCompression [ "gzip" "zstd" "none" ] then ociCompression
    else fail "`ociCompression` (${builtins.toJSON ociCompression}) is not an OCI layer compression; use \"gzip\", \"zstd\" or \"none\"";
  ociLevel =
    if ociCompression == null && ociCompressionLevel == null then aci.compressionLevel or null
    else (import ./compression.nix).checkLevel fail "ociCompressionLevel" ociCompression' ociCompressionLevel;
  ociAci =
    if ociCompression == null && ociCompressionLevel == null then builtins.removeAttrs aci [ "sign" ]
    else builtins.removeAttrs aci [ "sign" "compressionLevel" ]
      // { compression = ociCompression'; }
      // (if ociLevel == null then { } else { compressionLevel = ociLevel; });
  ociDrv =
    if ociCompression' == "xz" then
      throw "mkLayer ${image.imageName}: compression = \"xz\" is not an OCI layer compression, so mkOCI cannot use this layer; build it with compression = \"gzip\" (the default) or \"none\", or give ociCompression = \"gzip\", \"zstd\" or \"none\" for its OCI form"
    else if ociPlatform == null then
      throw "mkLayer ${image.imageName}: no OCI platform known for system ${image.targetSystem}; build it for one of src/names.json's ociPlatforms"
    else import ./builder.nix {
      kind = "oci-layer";
      inherit (image) imageName imageVersion system targetSystem;
      aci = ociAci;
      mkaci = image.builder;
      extra = {
        format = "oci-layer";
        oci = {
          tag = ociTag;
          maxLayers = 1;
          dirName = names.ociLayoutName {
            name = image.imageName;
            version = image.imageVersion;
            os = ociPlatform.os;
            arch = ociPlatform.architecture;
          };
        };
      };
    };
in
builtins.seq (builtins.deepSeq aci null) (drv // {
  # Marks a layer for mkACI's `layers`.
  nix2aciLayer = true;
  # The layer's image file inside the result.
  imageFileName = image.imageFileName;
  imageName = image.imageName;
  imageVersion = image.imageVersion;
  inherit (image) mkaci packages targetSystem;
  # The normalised arguments, as handed to mkaci.
  aciSpec = aci;
  # The layer for OCI images (what mkOCI's `layers` uses).
  oci = ociDrv;
})
