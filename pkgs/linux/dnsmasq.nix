# dnsmasq as a DNS and DHCP server in the foreground (nixpkgs only).
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.dnsmasq ];
  exec = [ "/bin/dnsmasq" "--keep-in-foreground" "--log-facility=-" "--conf-dir=/etc/dnsmasq.d" ];
  mountsRo.config = "/etc/dnsmasq.d";
  ports = [
    { name = "dns"; protocol = "udp"; port = 53; }
    { name = "dns-tcp"; protocol = "tcp"; port = 53; }
    { name = "dhcp"; protocol = "udp"; port = 67; }
  ];
  isolators."os/linux/capabilities-retain-set".set = [ "CAP_NET_ADMIN" "CAP_NET_BIND_SERVICE" "CAP_NET_RAW" "CAP_SETUID" "CAP_SETGID" ];
}
