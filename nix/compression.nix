# The compressions and their level ranges, so that a level out of range
# fails at evaluation time, naming the argument, before anything is built.
# mkaci checks them again and is the authority (src/image/compression.rs:
# GzipLevel, XzLevel, ZstdLevel); tests/e2e/oci_zstd.sh checks that both
# agree at the ends of every range.
let
  inherit (builtins) isInt toJSON elemAt;
in
rec {
  # compression -> [ lowest highest ] compressionLevel; "none" takes none.
  levels = {
    gzip = [ 1 12 ];
    xz = [ 0 9 ];
    zstd = [ 1 22 ];
  };

  # The level `level` (null: mkaci's default) of `compression`, or a throw
  # through `fail` that names the argument `arg`.
  checkLevel = fail: arg: compression: level:
    if level == null then null
    else if !isInt level then fail "`${arg}` must be an integer or null, got ${toJSON level}"
    else if compression == "none" then
      fail "`${arg}` (${toString level}) was given with compression = \"none\"; remove `${arg}` or choose gzip, xz or zstd"
    else if !(levels ? ${compression}) then level
    else
      let r = levels.${compression}; lo = elemAt r 0; hi = elemAt r 1; in
      if level < lo || level > hi then
        fail "`${arg}` (${toString level}) is outside ${toString lo}..${toString hi} for ${compression}; pick a level in that range or leave it unset for mkaci's default"
      else level;
}
