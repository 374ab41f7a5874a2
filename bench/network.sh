#!/usr/bin/env bash
# Container network setup/teardown: one CNI ADD (bridge + host-local + portmap with one published port, ipMasq)
# and its DEL, Berth's plugins (out/berth-cni, NativeAOT) vs the reference plugins (/usr/lib/cni), interleaved
# in the same run on the same config; medians, p95 and the ratio. Only the plugin executions are timed (the
# runtime's work between them — netns creation, injecting prevResult — is the same for both and left out).
# Then TCP throughput across the bridge each plugin set built (iperf3): namespace -> namespace, and host ->
# published port (through the DNAT rules each portmap wrote).
# Env: N iterations (30), SECONDS_TPUT iperf3 seconds (3, 0 skips), BERTH_CNI (out/berth-cni).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}; SECONDS_TPUT=${SECONDS_TPUT:-3}
BERTH_CNI=${BERTH_CNI:-$PWD/out/berth-cni}
REF=/usr/lib/cni
for tool in jq nft ip iperf3; do command -v $tool >/dev/null || { echo "bench/network.sh needs $tool (deps/networking.apt)"; exit 1; }; done
[ -x "$REF/bridge" ] || { echo "reference plugins missing: apt-get install containernetworking-plugins"; exit 1; }
if [ ! -x "$BERTH_CNI" ]; then
  echo "building berth-cni (NativeAOT) ..."
  dotnet publish src/Berth.Networking.Cni/Berth.Networking.Cni.csproj -c Release -r linux-x64 --nologo -v q -o out/.publish/berth-cni >/dev/null
  mkdir -p out && install -m 0755 out/.publish/berth-cni/berth-cni out/berth-cni
fi

work=$(mktemp -d /tmp/berth-bench-net-XXXXXX)
tag=$(printf '%04x' $((RANDOM)))
fwd_before=$(cat /proc/sys/net/ipv4/ip_forward)
tables_before=$(nft list tables)
nses=(); iperf_pids=()
cleanup() {
  for p in "${iperf_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for n in "${nses[@]}"; do ip netns delete "$n" 2>/dev/null || true; done
  ip link delete "bbb$tag" 2>/dev/null || true; ip link delete "bbr$tag" 2>/dev/null || true
  nft delete table ip "berth-bench-$tag" 2>/dev/null || true
  # The reference portmap leaves its CNI-HOSTPORT-* chains in ip/ip6 nat; drop those tables only if this run made them.
  for fam in ip ip6; do
    grep -q "table $fam nat$" <<<"$tables_before" && continue
    chains=$(nft list table $fam nat 2>/dev/null | awk '/^[[:space:]]*chain /{print $2}')
    if nft list table $fam nat >/dev/null 2>&1 && ! printf '%s' "$chains" | grep -vqE '^(CNI-|PREROUTING|POSTROUTING|OUTPUT|INPUT)'; then nft delete table $fam nat; fi
  done
  echo "$fwd_before" > /proc/sys/net/ipv4/ip_forward
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/berth-bin"
for p in bridge host-local portmap; do ln -s "$BERTH_CNI" "$work/berth-bin/$p"; done

conf() { # set bridge subnet -> bridge plugin config JSON
  local set=$1 br=$2 subnet=$3 extra=""
  [ "$set" = berth ] && extra=",\"nftTable\":\"berth-bench-$tag\",\"stateDir\":\"$work/state\""
  echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bench-$set\",\"type\":\"bridge\",\"bridge\":\"$br\",\"isGateway\":true,\"isDefaultGateway\":true,\"ipMasq\":true,\"hairpinMode\":true$extra,\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"$subnet\"}]],\"dataDir\":\"$work/ipam\"}}"
}
portmap_conf() { # set hostport prevResult [containerPort]
  local set=$1 extra=""
  [ "$set" = berth ] && extra=",\"nftTable\":\"berth-bench-$tag\",\"stateDir\":\"$work/state\""
  jq -c --argjson prev "$3" --argjson hp "$2" -n "{cniVersion:\"1.0.0\",name:\"bench-$set\",type:\"portmap\",capabilities:{portMappings:true},snat:true,runtimeConfig:{portMappings:[{hostPort:\$hp,containerPort:${4:-80},protocol:\"tcp\"}]},prevResult:\$prev}$([ -n "$extra" ] && echo " + {nftTable:\"berth-bench-$tag\",stateDir:\"$work/state\"}")"
}
now() { date +%s%N; }
plugin() { # dir name command conf-json  (CNI_* from the caller's environment)
  local out; out=$(CNI_COMMAND=$3 "$1/$2" <<<"$4") || { echo "plugin $2 $3 failed: $out" >&2; return 1; }
  printf '%s' "$out"
}

one() { # set dir bridge subnet i -> prints "setup_ms teardown_ms"
  local set=$1 dir=$2 br=$3 subnet=$4 i=$5
  local ns="bbn$tag-$set-$i"; ip netns add "$ns"; nses+=("$ns")
  export CNI_CONTAINERID="bench-$set-$i" CNI_NETNS="/var/run/netns/$ns" CNI_IFNAME=eth0 CNI_PATH=$dir
  local c; c=$(conf "$set" "$br" "$subnet")
  local t0 t1 t2 t3 t4 t5 res pm
  t0=$(now); res=$(plugin "$dir" bridge ADD "$c"); t1=$(now)
  pm=$(portmap_conf "$set" $((20000 + i)) "$res")
  t2=$(now); plugin "$dir" portmap ADD "$pm" >/dev/null; t3=$(now)
  plugin "$dir" portmap DEL "$pm" >/dev/null; plugin "$dir" bridge DEL "$(jq -c --argjson prev "$res" '. + {prevResult:$prev}' <<<"$c")" >/dev/null; t4=$(now)
  ip netns delete "$ns"
  echo "$(( (t1 - t0 + t3 - t2) / 1000 )) $(( (t4 - t3) / 1000 ))"
}

stats() { # file column label
  sort -n -k"$2" "$1" | awk -v c="$2" -v l="$3" '{v[NR]=$c} END {m=v[int((NR+1)/2)]; p=v[int(NR*0.95+0.999)]; printf "%-34s median %7.2f ms   p95 %7.2f ms   (n=%d)\n", l, m/1000, p/1000, NR}'
}
# sort -g: the columns may be integers (microseconds) or floats in exponent form (iperf3's bits per second).
median() { sort -g -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {print v[int((NR+1)/2)]}'; }

echo "== CNI ADD+DEL, bridge + host-local + portmap (N=$N, interleaved)"
: > "$work/berth.txt"; : > "$work/ref.txt"
# One warm-up each (creates the bridge; first nft/iptables table setup), not counted.
one berth "$work/berth-bin" "bbb$tag" "10.213.0.0/16" 0 >/dev/null
one ref "$REF" "bbr$tag" "10.214.0.0/16" 0 >/dev/null
for i in $(seq 1 "$N"); do
  one berth "$work/berth-bin" "bbb$tag" "10.213.0.0/16" "$i" >> "$work/berth.txt"
  one ref "$REF" "bbr$tag" "10.214.0.0/16" "$i" >> "$work/ref.txt"
done
awk '{print $1+$2}' "$work/berth.txt" > "$work/berth.total"; awk '{print $1+$2}' "$work/ref.txt" > "$work/ref.total"
stats "$work/berth.txt" 1 "berth   setup (ADD)"
stats "$work/ref.txt" 1 "reference setup (ADD)"
stats "$work/berth.txt" 2 "berth   teardown (DEL)"
stats "$work/ref.txt" 2 "reference teardown (DEL)"
stats "$work/berth.total" 1 "berth   ADD+DEL"
stats "$work/ref.total" 1 "reference ADD+DEL"
b=$(median "$work/berth.total" 1); r=$(median "$work/ref.total" 1)
awk -v b="$b" -v r="$r" 'BEGIN {printf "ratio reference/berth (ADD+DEL median): %.2fx  (>1: Berth faster)\n", r/b}'

if [ "$SECONDS_TPUT" != 0 ]; then
  echo "== TCP throughput across the bridge: netns -> netns, and host -> published port (iperf3, ${SECONDS_TPUT}s)"
  tput() { # set dir bridge subnet
    local set=$1 dir=$2 br=$3 subnet=$4 a="bbn$tag-$1-ta" b="bbn$tag-$1-tb"
    ip netns add "$a"; ip netns add "$b"; nses+=("$a" "$b")
    local c; c=$(conf "$set" "$br" "$subnet")
    local ra; ra=$(CNI_CONTAINERID="tput-$set-a" CNI_NETNS=/var/run/netns/$a CNI_IFNAME=eth0 CNI_PATH=$dir plugin "$dir" bridge ADD "$c")
    CNI_CONTAINERID="tput-$set-b" CNI_NETNS=/var/run/netns/$b CNI_IFNAME=eth0 CNI_PATH=$dir plugin "$dir" bridge ADD "$c" >/dev/null
    local ipa; ipa=$(jq -r '.ips[0].address' <<<"$ra"); ipa=${ipa%/*}
    ip netns exec "$a" iperf3 -s -p 5201 >/dev/null 2>&1 & local srv=$!; iperf_pids+=($srv)
    sleep 0.5
    local bps; bps=$(ip netns exec "$b" iperf3 -c "$ipa" -p 5201 -t "$SECONDS_TPUT" -J | jq '.end.sum_received.bits_per_second')
    # Host -> published port (DNAT through the table the portmap plugin wrote), via the host's own address.
    local hp=$((30000 + RANDOM % 20000)) hostip pm
    hostip=$(ip -4 -o addr show scope global | grep -vE "bbb$tag|bbr$tag" | awk '{print $4}' | cut -d/ -f1 | head -1)
    pm=$(portmap_conf "$set" "$hp" "$ra" 5201)
    CNI_CONTAINERID="tput-$set-a" CNI_NETNS=/var/run/netns/$a CNI_IFNAME=eth0 CNI_PATH=$dir plugin "$dir" portmap ADD "$pm" >/dev/null
    local pbps; pbps=$(iperf3 -c "$hostip" -p "$hp" -t "$SECONDS_TPUT" -J | jq '.end.sum_received.bits_per_second')
    CNI_CONTAINERID="tput-$set-a" CNI_NETNS=/var/run/netns/$a CNI_IFNAME=eth0 CNI_PATH=$dir plugin "$dir" portmap DEL "$pm" >/dev/null
    kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true
    awk -v s="$set" -v b="$bps" -v p="$pbps" 'BEGIN {printf "%-10s netns->netns %8.2f Gbit/s   host->published port %8.2f Gbit/s\n", s, b/1e9, p/1e9}'
    CNI_CONTAINERID="tput-$set-a" CNI_NETNS=/var/run/netns/$a CNI_IFNAME=eth0 CNI_PATH=$dir plugin "$dir" bridge DEL "$c" >/dev/null
    CNI_CONTAINERID="tput-$set-b" CNI_NETNS=/var/run/netns/$b CNI_IFNAME=eth0 CNI_PATH=$dir plugin "$dir" bridge DEL "$c" >/dev/null
    echo "$pbps" > "$work/ptput-$set"
    echo "$bps" > "$work/tput-$set"
  }
  tput berth "$work/berth-bin" "bbb$tag" "10.213.0.0/16"
  tput ref "$REF" "bbr$tag" "10.214.0.0/16"
  awk -v b="$(cat "$work/tput-berth")" -v r="$(cat "$work/tput-ref")" -v pb="$(cat "$work/ptput-berth")" -v pr="$(cat "$work/ptput-ref")" \
    'BEGIN {printf "ratio berth/reference throughput: netns->netns %.2fx, host->published port %.2fx\n", b/r, pb/pr}'
fi

# ---- Engines: berth daemon vs Debian's dockerd, each on its own socket, roots and bridge, in the same run ----
# Container -> container across the bridge (iperf3, busybox ping) and host -> published port (iperf3 through
# each engine's DNAT to the host's address), ROUNDS interleaved rounds, medians and ratios. ENGINES=0 skips.
if [ "${ENGINES:-1}" != 0 ]; then
  ROUNDS=${ROUNDS:-3}
  BERTH=${BERTH:-$PWD/out/berth}
  command -v dockerd >/dev/null || { echo "engine comparison needs dockerd (docker.io)"; exit 1; }
  eroot=$(mktemp -d /tmp/bnE-XXXXXX)   # short: shim sockets live below it
  ebr="bbe$tag"; dbr="bde$tag"
  tables_existed=$(for t in nat filter; do nft list table ip $t >/dev/null 2>&1 && echo $t; done; true)
  engines_cleanup() {
    for s in "$eroot/b.sock" "$eroot/d.sock"; do
      [ -S "$s" ] && docker -H "unix://$s" rm -f $(docker -H "unix://$s" ps -aq) >/dev/null 2>&1 || true
    done
    [ -n "${bpid:-}" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
    [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
    ip link delete "$ebr" 2>/dev/null || true; ip link delete "$dbr" 2>/dev/null || true
    # dockerd with iptables adds DOCKER* chains (and base chains) to iptables-nft's ip nat/filter tables: a table
    # this run made that holds only those goes; in a table that was there before, only the DOCKER* chains and the
    # rules jumping to them go.
    for t in nat filter; do
      nft list table ip $t >/dev/null 2>&1 || continue
      if ! grep -qx "$t" <<<"$tables_existed"; then
        if ! nft list table ip $t | awk '/^[[:space:]]*chain /{print $2}' | grep -vqE '^(DOCKER.*|PREROUTING|INPUT|OUTPUT|POSTROUTING|FORWARD)$'; then
          nft delete table ip $t; continue
        fi
      fi
      nft -a list table ip $t | awk '/^[[:space:]]*chain /{c=$2} /(jump|goto) DOCKER/ {print c, $NF}' | while read -r c h; do nft delete rule ip $t "$c" handle "$h" 2>/dev/null || true; done
      for ch in $(nft list table ip $t | awk '/^[[:space:]]*chain DOCKER/{print $2}'); do nft flush chain ip $t "$ch"; done
      for ch in $(nft list table ip $t | awk '/^[[:space:]]*chain DOCKER/{print $2}'); do nft delete chain ip $t "$ch" 2>/dev/null || true; done
    done
    grep -qs "$eroot" /proc/mounts && grep "$eroot" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$eroot"
  }
  trap 'engines_cleanup; cleanup' EXIT
  echo "== Engines: berth daemon vs dockerd $(dockerd --version | awk '{print $3}' | tr -d ,), container networking (iperf3 ${T:-3}s, $ROUNDS rounds)"
  "$BERTH" images-dev busybox --root "$eroot/bdata" >/dev/null
  "$BERTH" daemon -H "unix://$eroot/b.sock" --data-root "$eroot/bdata" --exec-root "$eroot/bexec" --bridge "$ebr" >"$eroot/b.log" 2>&1 & bpid=$!
  ip link add "$dbr" type bridge && ip addr add 10.216.$((RANDOM % 250)).1/24 dev "$dbr" && ip link set "$dbr" up
  dockerd -H "unix://$eroot/d.sock" --data-root "$eroot/ddata" --exec-root "$eroot/dexec" --pidfile "$eroot/d.pid" \
    --bridge "$dbr" --log-level=error >"$eroot/d.log" 2>&1 & dpid=$!
  for s in b d; do for _ in $(seq 1 150); do docker -H "unix://$eroot/$s.sock" version >/dev/null 2>&1 && break; sleep 0.2; done; done
  docker -H "unix://$eroot/b.sock" save busybox:latest | docker -H "unix://$eroot/d.sock" load >/dev/null
  hostip=$(ip -4 -o addr show scope global | grep -vE "$ebr|$dbr|br-|bb[br]$tag" | awk '{print $4}' | cut -d/ -f1 | head -1)
  # iperf3 is the host's binary, bind-mounted with its libraries into the busybox image (no registry here).
  IPERF="-v /usr/bin/iperf3:/usr/bin/iperf3:ro -v /usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro -v /lib64:/lib64:ro"
  T=${T:-3}
  xfer() { # engine-socket -> "c2c_bits_per_s rtt_ms host_bits_per_s"
    local D="docker -H unix://$1" port=$((30000 + RANDOM % 20000))
    $D run -d --name srv $IPERF -p "$port:5201" busybox iperf3 -s -p 5201 >/dev/null
    local ip; ip=$($D inspect -f '{{.NetworkSettings.IPAddress}}' srv); sleep 0.5
    local c2c rtt host
    c2c=$($D run --rm $IPERF busybox iperf3 -c "$ip" -p 5201 -t "$T" -J | jq '.end.sum_received.bits_per_second')
    rtt=$($D run --rm busybox ping -c 10 -i 0.2 "$ip" | awk -F/ '/min\/avg/{print $4}')
    host=$(iperf3 -c "$hostip" -p "$port" -t "$T" -J | jq '.end.sum_received.bits_per_second')
    $D rm -f srv >/dev/null
    echo "$c2c $rtt $host"
  }
  : > "$eroot/berth.txt"; : > "$eroot/docker.txt"
  for r in $(seq 1 "$ROUNDS"); do
    xfer "$eroot/b.sock" >> "$eroot/berth.txt"
    xfer "$eroot/d.sock" >> "$eroot/docker.txt"
  done
  for e in berth docker; do
    awk -v e="$e" -v c="$(median "$eroot/$e.txt" 1)" -v r="$(median "$eroot/$e.txt" 2)" -v h="$(median "$eroot/$e.txt" 3)" \
      'BEGIN {printf "%-7s container->container %7.2f Gbit/s   ping rtt %6.3f ms   host->published port %7.2f Gbit/s\n", e, c/1e9, r, h/1e9}'
  done
  awk -v bc="$(median "$eroot/berth.txt" 1)" -v dc="$(median "$eroot/docker.txt" 1)" -v br="$(median "$eroot/berth.txt" 2)" -v dr="$(median "$eroot/docker.txt" 2)" \
      -v bh="$(median "$eroot/berth.txt" 3)" -v dh="$(median "$eroot/docker.txt" 3)" \
    'BEGIN {printf "ratio berth/docker: container->container throughput %.2fx, rtt %.2fx (<1: lower), host->published port throughput %.2fx\n", bc/dc, br/dr, bh/dh}'
fi
