# The offline package set: what `default.nix` uses when `<nixpkgs>` cannot be
# found. Every package is made from programs installed on the host (Debian 12
# with busybox-static, bash and patchelf) and imported into the store with
# `builtins.path`; nothing is downloaded and nothing is compiled.
#
# - mkaci: the static release build of this repository
#   (target/<triple>/release/mkaci), wrapped as a package with bin/mkaci.
# - busybox, busyboxStatic: Debian's busybox-static, with one symlink per applet.
# - glibc, ncurses: the host's dynamic loader, libc and libtinfo, as store paths
#   of their own.
# - bash: the host's dynamically linked /usr/bin/bash, with its interpreter and
#   RUNPATH rewritten by patchelf to point at the store copies of glibc and
#   ncurses. Its closure is three store paths, and it runs only if all three
#   are present.
# - busyboxAarch64 (on x86_64): Debian's arm64 busybox-static, which
#   ./scripts/setup unpacks under target/foreign/aarch64-linux/, for images
#   of another platform (`targetSystem = "aarch64-linux"`); it runs here under
#   qemu-aarch64-static.
# - runCommand, writeScriptBin, writeShellScriptBin: to make packages of your
#   own (a script, a directory, a program you compiled elsewhere) with the same
#   names and arguments as nixpkgs' trivial builders, so that an expression
#   written with them builds with either package set.
#
# The build sandbox has no shell and no patchelf: busybox-static is imported as
# a directory (so that it is called as `busybox` and finds its applets) and
# serves as the builder shell; patchelf runs through the store copy of the
# dynamic loader with the store copies of its libraries.
{
  # The Nix system to build for. Only Linux systems with a Debian multiarch
  # library directory are supported.
  system ? builtins.currentSystem,
  # The host's root directory: the programs, libraries and dpkg status are
  # read from under it (usr/bin, usr/lib/<triple>, var/lib/dpkg/status). A
  # directory holding copies of exactly those files works in pure evaluation
  # (a flake): the store paths depend only on the files' contents, so the
  # copies give the same packages as the host.
  hostRoot ? /.,
  # The mkaci binary to wrap. Defaults to the static release build in this
  # repository's target directory.
  mkaciBinary ? null,
  # mkaci's version. Defaults to the one in this repository's Cargo.toml.
  mkaciVersion ? null,
}:
let
  inherit (builtins) pathExists readFile split filter isString isList head elemAt
    match substring stringLength baseNameOf elem concatStringsSep;

  # The Debian multiarch triple and dynamic loader of each supported system.
  hostAbi = {
    x86_64-linux = { triple = "x86_64-linux-gnu"; loader = "ld-linux-x86-64.so.2"; rust = "x86_64-unknown-linux-gnu"; };
    aarch64-linux = { triple = "aarch64-linux-gnu"; loader = "ld-linux-aarch64.so.1"; rust = "aarch64-unknown-linux-gnu"; };
  }.${system} or (throw "nix2aci offline package set: system ${system} is not supported (x86_64-linux or aarch64-linux); install nixpkgs and put it on NIX_PATH instead");

  # /bin and /lib are symlinks into /usr on merged-/usr Debian; import from the real directories.
  firstExisting = dirs: let found = filter pathExists dirs; in
    if found == [ ] then throw "nix2aci offline package set: none of ${concatStringsSep ", " (map toString dirs)} exists"
    else head found;
  host = sub: hostRoot + sub;
  binDir = firstExisting [ (host "/usr/bin") (host "/bin") ];
  libDir = firstExisting [ (host "/usr/lib/${hostAbi.triple}") (host "/lib/${hostAbi.triple}") ];
  dpkgStatus = host "/var/lib/dpkg/status";

  # Imports the named entries (files or symlinks, not directories) of a host
  # directory as one store path. Symlinks stay symlinks, so a relative link
  # such as libtinfo.so.6 -> libtinfo.so.6.4 keeps working when its target is
  # imported too.
  importFiles = name: dir: files:
    let
      missing = filter (f: !pathExists (dir + "/${f}")) files;
    in
    if missing != [ ] then
      throw "nix2aci offline package set: ${concatStringsSep ", " (map (f: "${toString dir}/${f}") missing)} not found; run ./scripts/setup (it installs busybox-static and patchelf) or use nixpkgs"
    else
      builtins.path {
        inherit name;
        path = dir;
        filter = path: type: type != "directory" && elem (baseNameOf path) files;
      };

  # Upstream version of an installed Debian package, from /var/lib/dpkg/status
  # ("1:1.35.0-4+b3" -> "1.35.0"); "host" when dpkg knows nothing about it.
  dpkgStanzas =
    if pathExists dpkgStatus
    then filter isString (split "\n\n" (readFile dpkgStatus))
    else [ ];
  debVersion = pkg:
    let
      prefix = "Package: ${pkg}\n";
      stanzas = filter (s: substring 0 (stringLength prefix) s == prefix) dpkgStanzas;
      versions = filter isList (split "\nVersion: ([^\n]*)" (head stanzas));
      full = head (head versions);
      upstream = match "([0-9]+:)?(.*)-[^-]*" full;
      noEpoch = match "[0-9]+:(.*)" full;
    in
    if stanzas == [ ] || versions == [ ] then "host"
    else if upstream != null then elemAt upstream 1
    else if noEpoch != null then head noEpoch
    else full;

  # The builder shell: busybox-static, imported as a directory so that its
  # argv[0] is `busybox`.
  busyboxHost = importFiles "busybox-static-host" binDir [ "busybox" ];

  # A derivation whose builder is busybox sh running `script`, with every
  # busybox applet on PATH and `env`'s attributes in its environment.
  runBusyboxWith = name: env: script: derivation (removeAttrs env [ "name" "system" "builder" "args" ] // {
    inherit name system;
    builder = "${busyboxHost}/busybox";
    args = [
      "sh"
      "-euc"
      ''
        ${busyboxHost}/busybox mkdir "$NIX_BUILD_TOP/.bin"
        ${busyboxHost}/busybox --install -s "$NIX_BUILD_TOP/.bin"
        export PATH="$NIX_BUILD_TOP/.bin"
        ${script}
      ''
    ];
  });
  runBusybox = name: runBusyboxWith name { };

  # A busybox package: the binary `bin` as bin/busybox, and one relative
  # symlink per applet of the host's busybox-static.
  busyboxPackage = name: bin: runBusybox name ''
    mkdir -p "$out/bin"
    cp ${bin} "$out/bin/busybox"
    chmod 0555 "$out/bin/busybox"
    for applet in $(busybox --list); do
      [ -e "$out/bin/$applet" ] || ln -s busybox "$out/bin/$applet"
    done
  '';

  # Build-time only: patchelf and the C++ runtime it links against.
  patchelfHost = importFiles "patchelf-host" binDir [ "patchelf" ];
  gccLibsHost = importFiles "gcc-libs-host" libDir
    ([ "libgcc_s.so.1" ] ++ filter (f: match "libstdc\\+\\+\\.so\\.6(\\..*)?" f != null) (builtins.attrNames (builtins.readDir libDir)));
  glibcFiles = importFiles "glibc-host-files" libDir [ hostAbi.loader "libc.so.6" "libm.so.6" ];
  ncursesFiles = importFiles "libtinfo-host-files" libDir [ "libtinfo.so.6" "libtinfo.so.6.4" ];

  # Copies an imported directory of libraries to $out/lib.
  libPackage = name: files: runBusybox name ''
    mkdir -p "$out/lib"
    cp -RP ${files}/. "$out/lib/"
  '';

  version' = if mkaciVersion != null then mkaciVersion else (builtins.fromTOML (readFile ../Cargo.toml)).package.version;
  mkaciPath =
    if mkaciBinary != null then mkaciBinary
    else ../target + "/${hostAbi.rust}/release/mkaci";
  mkaciBuildCommand = "RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target ${hostAbi.rust}";
in
rec {
  inherit system;

  # mkaci: the static release build of this repository, as bin/mkaci.
  mkaci =
    if !pathExists mkaciPath then
      throw ''
        nix2aci offline package set: ${toString mkaciPath} does not exist.
        Build the static mkaci first, in the repository root:
          ${mkaciBuildCommand}
        (./scripts/setup does this), or put nixpkgs on NIX_PATH to build mkaci with rustPlatform.''
    else
      let
        bin = builtins.path { name = "mkaci-static-binary"; path = mkaciPath; };
      in
      runBusybox "mkaci-${version'}" ''
        mkdir -p "$out/bin"
        cp ${bin} "$out/bin/mkaci"
        chmod 0555 "$out/bin/mkaci"
      ''
      // { pname = "mkaci"; version = version'; };

  # Debian's busybox-static: bin/busybox and one relative symlink per applet.
  busybox =
    let version = debVersion "busybox-static"; in
    busyboxPackage "busybox-${version}" "${busyboxHost}/busybox"
    // { pname = "busybox"; inherit version; };

  # The same binary: Debian's busybox is statically linked already.
  busyboxStatic = busybox;

  # Debian's arm64 busybox-static (a foreign package: built for
  # aarch64-linux, packed here by the x86_64 mkaci), with one symlink per
  # applet. ./scripts/setup downloads and unpacks it. Its applets are named
  # after the host's busybox-static of the same Debian release.
  busyboxAarch64 =
    let
      dir = ../target/foreign/aarch64-linux;
      version =
        let v = if pathExists (dir + "/VERSION") then builtins.replaceStrings [ "\n" ] [ "" ] (readFile (dir + "/VERSION")) else "host";
          m = match "([0-9]+:)?(.*)-[^-]*" v;
        in if m != null then elemAt m 1 else v;
      bin = builtins.path { name = "busybox-static-arm64"; path = dir + "/bin/busybox"; };
    in
    if !pathExists (dir + "/bin/busybox") then
      throw "nix2aci offline package set: ${toString dir}/bin/busybox does not exist; run ./scripts/setup as root (it downloads Debian's arm64 busybox-static)"
    else
      # The applets are the host's busybox-static's, the same Debian build
      # for amd64: the arm64 binary cannot run in this sandbox.
      busyboxPackage "busybox-aarch64-${version}" bin
      // { pname = "busybox"; inherit version; };

  # The host's dynamic loader, libc and libm.
  glibc = libPackage "glibc-${debVersion "libc6"}" glibcFiles // { pname = "glibc"; version = debVersion "libc6"; };

  # The host's libtinfo (what bash needs from ncurses).
  ncurses = libPackage "ncurses-${debVersion "libtinfo6"}" ncursesFiles // { pname = "ncurses"; version = debVersion "libtinfo6"; };

  # runCommand NAME ENV SCRIPT: a package made by SCRIPT, run by busybox sh
  # (`-eu`) with every busybox applet on PATH; SCRIPT writes $out (a file or
  # a directory). ENV's attributes become environment variables of the
  # build. As nixpkgs' runCommand, e.g.
  #   runCommand "my-site" { } "mkdir -p $out/share && cp -r ${./site} $out/share/site"
  runCommand = name: env: script:
    if !builtins.isString name then throw "nix2aci offline package set: runCommand's first argument (the name) must be a string, got a ${builtins.typeOf name}"
    else if !builtins.isAttrs env then throw "nix2aci offline package set: runCommand ${name}: the second argument (the environment) must be an attribute set, e.g. { }, got a ${builtins.typeOf env}"
    else if !builtins.isString script then throw "nix2aci offline package set: runCommand ${name}: the third argument (the build script) must be a string, got a ${builtins.typeOf script}"
    else runBusyboxWith name env script;

  # writeScriptBin NAME TEXT: a package with the executable bin/NAME holding
  # TEXT (give it its own `#!` line). As nixpkgs' writeScriptBin.
  writeScriptBin = name: text:
    if builtins.match "[^/]+" name == null || name == "." || name == ".." then
      throw "nix2aci offline package set: writeScriptBin ${builtins.toJSON name}: the name becomes bin/NAME, so it must be a file name (no /, not empty)"
    else runCommand name { inherit text; passAsFile = [ "text" ]; } ''
      mkdir -p "$out/bin"
      cp "$textPath" "$out/bin/${name}"
      chmod 0555 "$out/bin/${name}"
    '';

  # writeShellScriptBin NAME TEXT: bin/NAME, a bash script of TEXT (this
  # set's bash, which comes with it into the image). As nixpkgs'
  # writeShellScriptBin.
  writeShellScriptBin = name: text: writeScriptBin name ''
    #!${bash}/bin/bash
    ${text}
  '';

  # The host's bash, made to load glibc and ncurses from the store.
  bash =
    let
      version = debVersion "bash";
      bashHost = importFiles "bash-host" binDir [ "bash" ];
      loader = "${glibc}/lib/${hostAbi.loader}";
    in
    runBusybox "bash-${version}" ''
      mkdir -p "$out/bin"
      cp ${bashHost}/bash "$out/bin/bash"
      chmod 0755 "$out/bin/bash"
      ${loader} --library-path ${glibc}/lib:${gccLibsHost} ${patchelfHost}/patchelf \
        --set-interpreter ${loader} \
        --set-rpath ${glibc}/lib:${ncurses}/lib \
        "$out/bin/bash"
      chmod 0555 "$out/bin/bash"
      ln -s bash "$out/bin/sh"
      # Prove the result runs with nothing but the store copies.
      [ "$("$out/bin/bash" -c 'echo $((6 * 7))')" = 42 ]
    ''
    // { pname = "bash"; inherit version; };
}
