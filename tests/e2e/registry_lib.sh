# Shared by the end-to-end tests that push to a real registry; sourced after
# lib.sh. Starts Debian's docker-registry (distribution 2.8) on 127.0.0.1 on
# a free port, with its own config and storage under $work, and stops every
# registry it started on exit.

reg_pids=()
stop_registries() {
    local p
    for p in "${reg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${reg_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap 'stop_registries; cleanup' EXIT

# free_port: a TCP port nothing listens on on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry NAME PORT [EXTRA_YAML]: docker-registry on 127.0.0.1:PORT,
# storage in $work/NAME/data; waits until it answers.
start_registry() {
    local name=$1 port=$2 extra=${3:-} scheme=http curl_opts=()
    mkdir -p "$work/$name/data"
    cat >"$work/$name/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/$name/data
http:
  addr: 127.0.0.1:$port
$extra
YAML
    case $extra in *tls:*) scheme=https curl_opts=(-k) ;; esac
    docker-registry serve "$work/$name/config.yml" >"$work/$name/log" 2>&1 &
    reg_pids+=($!)
    local i
    for i in $(seq 50); do
        # 200 (open) or 401 (htpasswd): the registry answers.
        case $(curl -s "${curl_opts[@]}" -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/v2/" || true) in
            200 | 401) return 0 ;;
        esac
        sleep 0.2
    done
    cat "$work/$name/log" >&2
    fail "docker-registry ($name) does not answer on 127.0.0.1:$port"
}

# blob_bytes NAME: bytes of the blob files in the registry's storage (the
# layers, the configs and the manifests).
blob_bytes() {
    find "$work/$1/data" -path '*/blobs/*' -type f -name data -printf '%s\n' 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'
}

