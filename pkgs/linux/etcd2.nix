# etcd (nixpkgs only; the original packaged etcd 2).
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.etcd ];
  exec = [ "/bin/etcd" "--data-dir=/var/lib/etcd" ];
  mounts.data = "/var/lib/etcd";
  ports = [
    { name = "client"; protocol = "tcp"; port = 2379; }
    { name = "peer"; protocol = "tcp"; port = 2380; }
  ];
}
