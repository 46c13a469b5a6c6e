# iperf3 as a server (nixpkgs only).
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.iperf3 ];
  exec = [ "/bin/iperf3" "--server" ];
  ports = [ { name = "iperf"; protocol = "tcp"; port = 5201; } ];
}
