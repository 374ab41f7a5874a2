#!/usr/bin/env bash
# Embedded DNS: queries/second and latency (median, p99) of Berth's server (attached to a network namespace on
# 127.0.0.11:53, as for a container) vs dnsmasq (on 127.0.0.12:53 in the same namespace), both answering the same
# static name "web" A 10.0.0.3 from memory, loaded by dnsperf from inside the namespace. Rounds alternate the two
# servers so load from other processes on the machine falls on both; the ratio is Berth / dnsmasq.
# Env: SECONDS_RUN per measurement (5), ROUNDS (2), CLIENTS dnsperf clients (4), OUTSTANDING queries in flight (32).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${SECONDS_RUN:-5}; ROUNDS=${ROUNDS:-2}; CLIENTS=${CLIENTS:-4}; OUTSTANDING=${OUTSTANDING:-32}
for tool in dnsperf dnsmasq dig ip; do command -v $tool >/dev/null || { echo "bench/dns.sh needs $tool (deps/networking.apt)"; exit 1; }; done

work=$(mktemp -d /tmp/berth-bench-dns-XXXXXX)
ns=berth-bench-dns-$(printf '%04x' $RANDOM)
berth_pid=""; dnsmasq_pid=""
cleanup() {
  [ -n "$berth_pid" ] && kill "$berth_pid" 2>/dev/null || true
  [ -n "$dnsmasq_pid" ] && kill "$dnsmasq_pid" 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
  ip netns delete "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building bench/dns-server.cs ..."
dotnet build bench/dns-server.cs -c Release --nologo -v q >/dev/null

ip netns add "$ns"
# Berth's server: the namespace's lo is brought up by the server itself, as for a container.
mkfifo "$work/stdin"
dotnet run --no-build -c Release bench/dns-server.cs -- "/var/run/netns/$ns" <"$work/stdin" >"$work/berth.out" 2>&1 &
berth_pid=$!
exec 3>"$work/stdin"
for _ in $(seq 200); do grep -q ready "$work/berth.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/berth.out" || { echo "Berth's DNS server did not start:"; cat "$work/berth.out"; exit 1; }
ip netns exec "$ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= --no-resolv --no-hosts \
  --bind-interfaces --listen-address=127.0.0.12 --port=53 --host-record=web,10.0.0.3 2>"$work/dnsmasq.err" &
dnsmasq_pid=$!
for server in 127.0.0.11 127.0.0.12; do
  for _ in $(seq 50); do
    [ "$(ip netns exec "$ns" dig @$server +short +time=1 +tries=1 web 2>/dev/null)" = 10.0.0.3 ] && continue 2
    sleep 0.1
  done
  echo "server $server does not answer web"; exit 1
done

printf 'web A\n' >"$work/queries"
measure() { # server label round
  ip netns exec "$ns" dnsperf -s "$1" -d "$work/queries" -l "$SECONDS_RUN" -c "$CLIENTS" -q "$OUTSTANDING" -v \
    >"$work/$2.$3" 2>&1
  local qps lost
  qps=$(awk '/Queries per second:/{print $4}' "$work/$2.$3")
  lost=$(awk '/Queries lost:/{print $3}' "$work/$2.$3")
  awk '/^> NOERROR/{print $5}' "$work/$2.$3" >>"$work/$2.lat"
  echo "$qps" >>"$work/$2.qps"
  printf '  round %d %-8s %10.0f q/s  lost %s\n' "$3" "$2" "$qps" "$lost"
}
echo "dnsperf: $CLIENTS clients, $OUTSTANDING outstanding, ${SECONDS_RUN}s x $ROUNDS rounds each"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then measure 127.0.0.11 berth "$r"; measure 127.0.0.12 dnsmasq "$r"
  else measure 127.0.0.12 dnsmasq "$r"; measure 127.0.0.11 berth "$r"; fi
done

median() { sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
pct() { sort -g | awk -v p="$1" '{a[NR]=$1} END{i=int(NR*p/100); if(i<1)i=1; print a[i]}'; }
echo
printf '%-8s %12s %12s %12s\n' server "q/s(median)" "lat p50 ms" "lat p99 ms"
for s in berth dnsmasq; do
  q=$(median <"$work/$s.qps")
  p50=$(pct 50 <"$work/$s.lat"); p99=$(pct 99 <"$work/$s.lat")
  printf '%-8s %12.0f %12.3f %12.3f\n' "$s" "$q" "$(awk -v x="$p50" 'BEGIN{print x*1000}')" "$(awk -v x="$p99" 'BEGIN{print x*1000}')"
  eval "${s}_q=$q ${s}_p99=$p99"
done
printf 'ratio berth/dnsmasq: throughput %.2fx, p99 latency %.2fx\n' \
  "$(awk -v a="$berth_q" -v b="$dnsmasq_q" 'BEGIN{print a/b}')" "$(awk -v a="$berth_p99" -v b="$dnsmasq_p99" 'BEGIN{print a/b}')"
exec 3>&-
wait "$berth_pid" 2>/dev/null || true; berth_pid=""
grep -h queries "$work/berth.out" || true
