# Sourced by scripts that need a throwaway etcd on loopback (build/run-tests.sh, bench/apiserver.sh, bench/store.sh).
#   free_port            prints a free TCP port on 127.0.0.1
#   start_etcd DIR       starts Debian's etcd with its data and log (etcd.log) in DIR on two free ports, waits until
#                        it answers /health, and sets ETCD_URL and ETCD_PID; the caller stops it (kill "$ETCD_PID").
#                        If it never answers, it is stopped, its log printed, and start_etcd returns 1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_etcd() {
  local dir=$1 client peer
  client=$(free_port); peer=$(free_port)
  mkdir -p "$dir"
  etcd --name default --data-dir "$dir/data" --log-level warn \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "default=http://127.0.0.1:$peer" >"$dir/etcd.log" 2>&1 &
  ETCD_PID=$!
  ETCD_URL="http://127.0.0.1:$client"
  for _ in $(seq 100); do curl -sf "$ETCD_URL/health" >/dev/null && return 0; sleep 0.2; done
  echo "etcd did not become healthy at $ETCD_URL; its log:" >&2
  cat "$dir/etcd.log" >&2
  kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null
  return 1
}
