# cacheLayers = true: one derivation for each store path's layer, found at
# evaluation time (import-from-derivation). Used by nix/mkACI.nix (layered
# ACIs: each per-path dependency ACI) and nix/mkOCI.nix (each one-path
# store layer); docs/layers.md and docs/oci.md describe it.
#
#   import ./cacheLayers.nix { kind = "aci"; ... }   # -> [ layer output paths ]
#
# 1. A small derivation, the layer plan (`format = "layer-plan"`), gets the
#    image's closure through exportReferencesGraph and writes layers.json:
#    the store paths that get a layer of their own, in the image's order.
#    mkaci computes it with the code the image itself runs (the popularity
#    order, maxLayers, the declared layers' store paths).
# 2. Evaluation reads layers.json (builtins.readFile builds the plan first:
#    import-from-derivation). Each listed path must be one of the file's
#    references, which readFile hands over as the string's context; each
#    path gets its own context back with builtins.appendContext.
# 3. Each path becomes one derivation whose only inputs are the path itself,
#    mkaci, and the compression and its level (for ACIs also the name prefix
#    and the os and arch labels; for OCI layers the platform). So every
#    image, on every machine, that holds the path uses the same derivation.
#
# Nothing here reads the host or builtins.currentSystem: it works in pure
# evaluation (flakes). Needs nothing from nixpkgs.
{
  # "aci" (per-path dependency ACIs) or "oci" (one-path OCI layers).
  kind,
  # The image's name and version: only the plan derivation's name.
  imageName,
  imageVersion,
  # The mkaci program (a store path of bin/mkaci, with its context).
  mkaci,
  # Where mkaci runs, and the image's system.
  system,
  targetSystem,
  # The image's packages (store paths with their context).
  packages,
  # The declared layers' outputs (mkLayer results for ACIs, their `oci`
  # for OCI images), whose store paths get no cached layer.
  layers,
  compression,
  compressionLevel ? null,
  # ACIs: the os and arch labels and the name prefix of the per-path images.
  os ? null,
  arch ? null,
  layerPrefix ? null,
  # OCI: the image's maxLayers.
  maxLayers ? null,
}:
let
  inherit (builtins) readFile fromJSON getContext appendContext unsafeDiscardStringContext
    substring stringLength baseNameOf map isList isString all;

  level = if compressionLevel == null then { } else { inherit compressionLevel; };
  otherSystem = if targetSystem == system then { } else { inherit targetSystem; };

  plan = import ./builder.nix ({
    kind = "layer-plan";
    inherit imageName imageVersion system targetSystem mkaci;
    aci = { inherit packages; }
      // (if kind == "aci" then { inherit os arch layers; } else { });
    extra = { format = "layer-plan"; }
      // (if kind == "oci" then { oci = { tag = "latest"; inherit maxLayers layers; }; } else { });
  });

  # Import-from-derivation: building the plan is part of evaluation.
  text = readFile "${plan}/layers.json";
  refs = getContext text;
  parsed = fromJSON (unsafeDiscardStringContext text);
  listed =
    if parsed ? paths && isList parsed.paths && all isString parsed.paths then parsed.paths
    else throw "cacheLayers: ${plan}/layers.json is not a layer plan ({ \"paths\": [ ... ] }); rebuild it with this mkaci";
  # A listed path regains its own context only: the layer depends on it alone.
  withContext = p:
    if refs ? ${p} then appendContext p { ${p} = { path = true; }; }
    else throw "cacheLayers: ${plan}/layers.json lists ${p}, which is not one of its references (so not in the image's closure); rebuild it with this mkaci";

  # A store path's name, without its hash: the layer derivation's name.
  namePart = p: let b = unsafeDiscardStringContext (baseNameOf p); in substring 33 (stringLength b) b;

  layerOf = p: derivation ({
    name = "${namePart p}-${kind}-layer";
    inherit system;
    builder = mkaci;
    args = [ "build" ];
    __structuredAttrs = true;
    exportReferencesGraph.closure = [ p ];
    storeDir = builtins.storeDir;
    inherit mkaci;
  } // (if kind == "aci" then {
    format = "path-layer";
    aci = { packages = [ p ]; inherit os arch layerPrefix compression; } // level;
  } else {
    format = "oci-path-layer";
    aci = { packages = [ p ]; inherit compression; } // level;
    oci = { tag = "latest"; maxLayers = 1; };
  } // otherSystem));
in
map (p: "${layerOf (withContext p)}") listed
