# busybox httpd serving a data volume as an unprivileged user: `users` and
# `groups` write /etc/passwd and /etc/group, the mount target /srv/www
# belongs to that user, and the configuration comes from `files` as a real
# file readable by its group only.
# Run: rkt run --volume=www,kind=host,source=/srv/www result/busybox-httpd-*.aci
#      (the host directory must be readable by uid 1000), then
#      wget -qO- http://127.0.0.1:8080/index.txt
{ mkACI, pkgs, ... }:
mkACI {
  packages = [ pkgs.busybox ];
  name = "busybox-httpd";
  exec = [ "/bin/busybox" "httpd" "-f" "-v" "-p" "8080" "-h" "/srv/www" "-c" "/etc/httpd.conf" ];
  user = "www";
  group = "www";
  users.www = { uid = 1000; description = "busybox httpd"; };
  groups.www.gid = 1000;
  mounts.www = { path = "/srv/www"; uid = 1000; gid = 1000; mode = "0750"; };
  files."/etc/httpd.conf" = { source = ./httpd.conf; gid = 1000; mode = "0440"; };
  ports = [ { name = "http"; protocol = "tcp"; port = 8080; } ];
}
