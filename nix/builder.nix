# The derivation behind mkACI, mkOCI and mkLayer: `mkaci build` as the
# builder, with structured attrs (the contract is src/nix/attrs.rs) and the
# closure of the packages exported as `closure`.
#
#   import ./builder.nix { kind = "aci"; inherit imageName imageVersion system mkaci aci; }
#
# `extra` adds attributes (`format`, `oci`); `targetSystem`, the image's Nix
# system, is passed when it is not `system`. The derivation is named
# `<last part of the image name>-<kind>[-<version>]`, made a valid store name.
{ kind, imageName, imageVersion, system, mkaci, aci, extra ? { }, targetSystem ? system }:
let
  inherit (builtins) isString match concatStringsSep stringLength substring genList filter split elemAt length;
  lastPart = let parts = filter isString (split "/" imageName); in elemAt parts (length parts - 1);
  chars = s: genList (i: substring i 1 s) (stringLength s);
  # Nix store names allow [A-Za-z0-9+._?=-]; AC identifiers may contain `~`.
  storeSafe = s: concatStringsSep "" (map (c: if match "[A-Za-z0-9+._?=-]" c != null then c else "-") (chars s));
in
derivation ({
  name = storeSafe ("${lastPart}-${kind}" + (if imageVersion == null then "" else "-${imageVersion}"));
  inherit system;
  builder = mkaci;
  args = [ "build" ];
  __structuredAttrs = true;
  exportReferencesGraph.closure = aci.packages;
  storeDir = builtins.storeDir;
  inherit mkaci aci;
}
# The image's system, only when it is not the builder's: images built for
# their own system keep their derivations.
// (if targetSystem == system then { } else { inherit targetSystem; })
// extra)
