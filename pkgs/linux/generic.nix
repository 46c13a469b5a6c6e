# An image of one package running one of its programs, as the original's
# generic.nix: gnupg and tcpdump are made with it.
#
#   import ./generic.nix stdArgs { package = pkgs.tcpdump; }
#
# Arguments: `package`; `program`, the file under bin/ to run (default: the
# package's name); `args`, extra arguments for it; every other argument goes
# to mkACI unchanged (thin, ports, mounts, ...).
{ mkACI, pkgs, ... }:
{ package, program ? package.pname or (builtins.parseDrvName package.name).name, args ? [ ], ... }@a:
let
  thin = a.thin or false;
in
mkACI ({
  packages = [ package ];
  # A thin image must exec a store path: rkt resolves exec before mounting.
  exec = [ (if thin then "${package}/bin/${program}" else "/bin/${program}") ] ++ args;
} // builtins.removeAttrs a [ "package" "program" "args" ])
