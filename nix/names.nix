# Stand-in for the naming rules Nix shares with mkaci, read from
# src/names.json: just enough to run tests/names_nix.rs on this branch. The
# full version comes from the Nix side of the project.
#
#   names = import ./nix/names.nix;
#   names.osArchOfSystem "x86_64-linux"   # { os = "linux"; arch = "amd64"; }, or null
#   names.mapName "gtk+3"                 # "gtkplus3" ("" when nothing is left)
#   names.normaliseArch "linux" "x86_64"  # "amd64"
#   names.fileName { name = "a/b"; version = null; os = "linux"; arch = "amd64"; }
#                                         # "b-latest-linux-amd64.aci"
let
  t = builtins.fromJSON (builtins.readFile ../src/names.json);
  inherit (builtins) attrNames concatStringsSep elem elemAt filter foldl' genList
    isString length replaceStrings split stringLength substring;
  m = t.nameMapping;

  # The bytes of a string, one string each. A non-ASCII character is several
  # bytes, each replaced; the replacement is a separator, so the run collapses
  # to one, as for Rust's one replacement per character.
  bytes = s: genList (i: substring i 1 s) (stringLength s);
  isSep = c: elem c (bytes m.separators);
  keep = bytes m.keep;
  upper = bytes "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  lower = bytes "abcdefghijklmnopqrstuvwxyz";
  subKeys = attrNames m.substitutions;
  subValues = map (k: m.substitutions.${k}) subKeys;

  validPair = os: arch: elem arch (t.validOsArch.${os} or [ ]);
in
{
  osArchOfSystem = system: t.systems.${system} or null;

  mapName = s:
    let
      lowered = if m.lowercase then replaceStrings upper lower s else s;
      substituted = replaceStrings subKeys subValues lowered;
      mapped = map (c: if elem c keep || isSep c then c else m.replacement) (bytes substituted);
      # Runs of separators keep their first; prevSep = true drops leading ones.
      collapsed = foldl'
        (acc: c:
          if isSep c then (if acc.prevSep then acc else { out = acc.out ++ [ c ]; prevSep = true; })
          else { out = acc.out ++ [ c ]; prevSep = false; })
        { out = [ ]; prevSep = true; }
        mapped;
      out = collapsed.out;
      n = length out;
      trimmed = if n > 0 && isSep (elemAt out (n - 1)) then genList (elemAt out) (n - 1) else out;
    in
    concatStringsSep "" trimmed;

  normaliseArch = os: arch:
    let alias = t.archAliases.${os}.${arch} or null; in
    if validPair os arch then arch
    else if alias != null && validPair os alias then alias
    else arch;

  fileName = { name, version, os, arch }:
    let parts = filter isString (split "/" name); in
    "${elemAt parts (length parts - 1)}-${if version == null then t.fileName.noVersion else version}-${os}-${arch}${t.fileName.aciExtension}";
}
