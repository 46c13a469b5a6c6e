# The naming rules nix2aci's Nix code and mkaci share, read from
# src/names.json (mkaci compiles in the same file). Needs nothing from
# nixpkgs and nothing impure.
#
#   names = import ./nix/names.nix;
#   names.osArchOfSystem "x86_64-linux"   # { os = "linux"; arch = "amd64"; }, or null
#   names.mapName "GTK+3 Tool"            # "gtkplus3-tool" ("" when nothing is left)
#   names.normaliseArch "linux" "x86_64"  # "amd64"
#   names.fileName { name = "example.com/app"; version = null; os = "linux"; arch = "amd64"; }
#                                         # "app-latest-linux-amd64.aci"
#   names.ociPlatformOfSystem "aarch64-linux" # { os = "linux"; architecture = "arm64"; }, or null
#   names.ociLayoutName { name = "example.com/app"; version = "1"; os = "linux"; arch = "arm64"; }
#                                         # "app-1-linux-arm64.oci"
#   names.ociIndexName { name = "example.com/app"; version = "1"; }   # "app-1.oci"
let
  table = builtins.fromJSON (builtins.readFile ../src/names.json);

  inherit (builtins) substring stringLength genList elem length elemAt foldl'
    concatStringsSep filter isString split replaceStrings;

  m = table.nameMapping;

  # The single-byte strings of an ASCII string.
  asciiChars = s: genList (i: substring i 1 s) (stringLength s);

  # UTF-8 continuation bytes are 0x80..0xBF. Nix compares strings bytewise as
  # unsigned bytes, and has no byte escapes, so the bounds are taken from the
  # second byte of two-byte characters: U+00C0 is C3 80, U+00BF is C2 BF.
  contLow = substring 1 1 "À";
  contHigh = substring 1 1 "¿";
  isContinuation = b: !(b < contLow) && !(contHigh < b);

  # The characters of a UTF-8 string, each a string of 1 to 4 bytes, as Rust's
  # str::chars sees them: a continuation byte joins the character before it.
  utf8Chars = s:
    let
      bytes = genList (i: substring i 1 s) (stringLength s);
      grouped = foldl' (acc: b:
        if isContinuation b && acc.cur != "" then acc // { cur = acc.cur + b; }
        else { done = if acc.cur == "" then acc.done else acc.done ++ [ acc.cur ]; cur = b; })
        { done = [ ]; cur = ""; } bytes;
    in
    if grouped.cur == "" then grouped.done else grouped.done ++ [ grouped.cur ];

  upper = asciiChars "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  lower = asciiChars "abcdefghijklmnopqrstuvwxyz";
  keep = asciiChars m.keep;
  separators = asciiChars m.separators;
  isSep = c: elem c separators;

  # One character of the input -> its mapped text.
  mapChar = c:
    if m.substitutions ? ${c} then m.substitutions.${c}
    else if elem c keep || isSep c then c
    else m.replacement;

  validPair = os: arch: elem arch (table.validOsArch.${os} or [ ]);
in
{
  # The Nix system -> { os, arch }, or null for a system the table lacks.
  osArchOfSystem = system: table.systems.${system} or null;

  # Any string -> the default image name: ASCII letters lowercased, each
  # substituted character (`+`) spelled out (`plus`), characters outside the
  # kept ones and the separators (any non-ASCII character counting as one)
  # replaced, runs of separators collapsed to their first, separators at
  # either end dropped. "" when nothing is left.
  mapName = s:
    let
      lowered = if m.lowercase then replaceStrings upper lower s else s;
      mapped = concatStringsSep "" (map mapChar (utf8Chars lowered));
      collapsed = foldl' (acc: c:
        if isSep c then
          (if acc.prevSep then acc else { out = acc.out ++ [ c ]; prevSep = true; })
        else { out = acc.out ++ [ c ]; prevSep = false; })
        { out = [ ]; prevSep = true; }  # prevSep = true drops leading separators
        (asciiChars mapped);
      out = collapsed.out;
      trimmed = if out != [ ] && isSep (elemAt out (length out - 1))
        then genList (elemAt out) (length out - 1) else out;
    in
    concatStringsSep "" trimmed;

  # An appc arch for an os: kept when the pair is valid, else the os's
  # spelling of it when that gives a valid pair (x86_64 -> amd64 on linux),
  # else unchanged (mkaci refuses it with the valid choices).
  normaliseArch = os: arch:
    if validPair os arch then arch
    else
      let alias = table.archAliases.${os}.${arch} or null; in
      if alias != null && validPair os alias then alias else arch;

  # The Nix system -> the OCI platform { os, architecture, variant ? }
  # (Go's spelling: amd64, arm64, 386), or null for a system the table lacks.
  ociPlatformOfSystem = system: table.ociPlatforms.${system} or null;

  # The OCI image layout directory name, <last /-component of
  # name>-<version>-<os>-<arch>.oci, with `latest` for a null version (os and
  # arch of the OCI platform).
  ociLayoutName = { name, version, os, arch }:
    let
      parts = filter isString (split "/" name);
      last = elemAt parts (length parts - 1);
    in
    "${last}-${if version == null then table.fileName.noVersion else version}-${os}-${arch}${table.fileName.ociExtension}";

  # The OCI image index layout of one name and version for several
  # platforms (mkMultiArch), <last /-component of name>-<version>.oci.
  ociIndexName = { name, version }:
    let
      parts = filter isString (split "/" name);
      last = elemAt parts (length parts - 1);
    in
    "${last}-${if version == null then table.fileName.noVersion else version}${table.fileName.ociExtension}";

  # The image file name, <last /-component of name>-<version>-<os>-<arch>.aci,
  # with `latest` for a null version.
  fileName = { name, version, os, arch }:
    let
      parts = filter isString (split "/" name);
      last = elemAt parts (length parts - 1);
    in
    "${last}-${if version == null then table.fileName.noVersion else version}-${os}-${arch}${table.fileName.aciExtension}";
}
