#!/usr/bin/env bash
# Throughput over real devices (issue "Live hosts", item 5): trafgen (Debian netsniff-ng) offers
# 64-byte frames from a VM at its full rate into one VM port; the provider side counts what
# arrives. The same veths carry, one after the other, nvdp (`afpacket:` ports) and Open vSwitch's
# userspace datapath (datapath_type=netdev, a GRE port with options:key = VSID << 8 | FlowID)
# doing the same NVGRE encapsulation. Prints a markdown table for the README.
#
#   nvb-gen  [gen0] ==veth== [vm0]  nvb-hv  [pa0] ==veth== [sink0]  nvb-sink
#            trafgen             nvdp or ovs-vswitchd             rx_packets counted
#
# Offered = frames gen0 handed to the veth (tx_packets + tx_dropped); delivered = frames that
# reached sink0 (rx_packets). Each round times the generator with nothing reading vm0 (what it
# offers then is the most any datapath here can be offered, so it bounds what one can deliver),
# then a reader that only counts what the TPACKET_V3 ring hands it (bench/null-reader.py: the
# most a datapath reading vm0 through AF_PACKET can be offered), then nvdp, then Open vSwitch,
# back to back: the machine's speed drifts from minute to minute, and a round's figures share one. Before each datapath is timed a 1,000-frame sample at
# 20,000 frames/s is captured on sink0 and decoded by tshark: every frame must be NVGRE with
# VSID 5001, or the datapath is not timed (the sample also warms up Open vSwitch's flow caches).
# Everything lives in namespaces this script creates and deletes, even when it fails.
# Usage: bench/wire-throughput.sh [seconds-per-run] [rounds]   (root; installs what it needs)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
runs=${2:-3}
vsid=5001

need=()
command -v trafgen >/dev/null 2>&1 || need+=(netsniff-ng)
command -v ovs-vswitchd >/dev/null 2>&1 || need+=(openvswitch-switch)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
if [ ${#need[@]} -gt 0 ]; then
  echo "wire-throughput: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

dotnet build src/NvDataplane.Cli -c Release -v q -nologo >/dev/null
nvdp=$PWD/src/NvDataplane.Cli/bin/Release/net10.0/nvdp
work=$(mktemp -d /tmp/nvb.XXXXXX)
gen=nvb-gen hv=nvb-hv sink=nvb-sink

cleanup() {
  local code=$?
  if [ $code -ne 0 ]; then
    for log in "$work"/*.log; do [ -f "$log" ] && { echo "== $log" >&2; tail -n 20 "$log" >&2; }; done
  fi
  for pidfile in "$work"/*.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  pkill -f "$work" 2>/dev/null || true
  for ns in $gen $hv $sink; do ip netns del $ns 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cleanup_ns() { for ns in $gen $hv $sink; do ip netns del $ns 2>/dev/null || true; done; }
cleanup_ns

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
stat() { in_ns "$1" cat "/sys/class/net/$2/statistics/$3"; }

for ns in $gen $hv $sink; do
  ip netns add $ns
  in_ns $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $ns link set lo up
done
ip link add gen0 netns $gen address 00:15:5d:00:00:01 type veth peer name vm0 netns $hv address 02:00:00:00:00:f1
ip link add pa0 netns $hv address 02:00:00:00:01:0a type veth peer name sink0 netns $sink address 02:00:00:00:01:0b
ip -n $gen link set gen0 up
ip -n $hv link set vm0 up
ip -n $hv link set pa0 up
ip -n $sink link set sink0 up

# The VM's frame: 64 bytes (no FCS), UDP 10.1.1.7 -> 10.1.1.8, 256 source ports so flows differ.
cat >"$work/udp64.cfg" <<'EOF'
{
  0x00, 0x15, 0x5d, 0x00, 0x00, 0x02,
  0x00, 0x15, 0x5d, 0x00, 0x00, 0x01,
  c16(0x0800),
  0x45, 0x00, c16(50), c16(0), 0x40, 0x00, 64, 17, csumip(14, 33),
  10, 1, 1, 7,
  10, 1, 1, 8,
  0x30, dinc(0, 255, 1), c16(4789), c16(30), c16(0),
  fill(0x5a, 22),
}
EOF

cat >"$work/nvdp.json" <<EOF
{
  "host": { "name": "bench" },
  "ports": [
    { "name": "pnic0", "role": "provider", "device": "afpacket:pa0", "macAddress": "02-00-00-00-01-0A", "mtu": 1500 },
    { "name": "red1", "role": "vm", "device": "afpacket:vm0", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": $vsid }
  ],
  "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
  "providerNeighbors": [ { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0C" } ],
  "lookupRecords": [
    { "customerAddress": "10.1.1.7", "virtualSubnetId": $vsid, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10", "rule": "TranslationMethodEncap" },
    { "customerAddress": "10.1.1.8", "virtualSubnetId": $vsid, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11", "rule": "TranslationMethodEncap" }
  ],
  "customerRoutes": [
    { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": $vsid, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
  ]
}
EOF

# Checks a sample of what reaches sink0: every frame NVGRE, VSID 5001, inner 10.1.1.7 -> 10.1.1.8.
verify_sample() {
  local name=$1
  rm -f "$work/sample.pcap"
  in_ns $sink tshark -q -i sink0 -c 1000 -a duration:20 -w "$work/sample.pcap" >/dev/null 2>&1 &
  local cap=$!
  sleep 2
  in_ns $gen trafgen --dev gen0 --conf "$work/udp64.cfg" -P 1 -n 1000 -b 20000pps -C -Q >/dev/null 2>&1 || true
  wait $cap || true
  local keys
  keys=$(tshark -r "$work/sample.pcap" -Y 'gre && ip.src == 10.1.1.7 && ip.dst == 10.1.1.8' -T fields -e gre.key 2>/dev/null | sort | uniq -c | wc -l)
  local good bad
  good=$(tshark -r "$work/sample.pcap" -Y "gre.key >= $((vsid << 8)) && gre.key < $(((vsid + 1) << 8)) && ip.dst == 10.1.1.8 && udp" 2>/dev/null | wc -l)
  bad=$(tshark -r "$work/sample.pcap" -Y "not (gre.key >= $((vsid << 8)) && gre.key < $(((vsid + 1) << 8)))" 2>/dev/null | wc -l)
  echo "$name sample: of 1000 frames at 20,000/s, $good arrived as NVGRE VSID $vsid ($keys distinct GRE keys), $bad other frames" >&2
  if [ "$good" -eq 0 ] || [ "$bad" -ne 0 ]; then
    echo "wire-throughput: $name does not deliver NVGRE VSID $vsid; refusing to time it" >&2
    exit 1
  fi
}

# One timed run: trafgen at full rate for $seconds; writes "offered delivered received_by_dut" to
# $work/run.out (run in this shell, so that a generator that stopped early ends the script).
timed_run() {
  local tx0 txd0 rx0 vmrx0 tx1 txd1 rx1 vmrx1
  tx0=$(stat $gen gen0 tx_packets); txd0=$(stat $gen gen0 tx_dropped)
  rx0=$(stat $sink sink0 rx_packets); vmrx0=$(stat $hv vm0 rx_packets)
  local began=$SECONDS
  in_ns $gen timeout -s INT "$seconds" taskset -c 0 trafgen --dev gen0 --conf "$work/udp64.cfg" -P 1 -C -Q >"$work/trafgen.log" 2>&1 || true
  if [ $((SECONDS - began)) -lt $((seconds - 1)) ]; then
    # trafgen gives up on its first failed send (EAGAIN when the socket's send memory is full)
    echo "wire-throughput: trafgen stopped after $((SECONDS - began)) of $seconds s:" >&2
    grep -v 'Cannot set system socket memory' "$work/trafgen.log" >&2 || true
    exit 1
  fi
  sleep 0.5
  tx1=$(stat $gen gen0 tx_packets); txd1=$(stat $gen gen0 tx_dropped)
  rx1=$(stat $sink sink0 rx_packets); vmrx1=$(stat $hv vm0 rx_packets)
  echo "$(((tx1 - tx0) + (txd1 - txd0))) $((rx1 - rx0)) $((vmrx1 - vmrx0))" >"$work/run.out"
}

report() { # name offered delivered
  /usr/bin/python3 - "$@" "$seconds" <<'PY'
import sys
name, offered, delivered, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print(f"{name}: offered {offered/secs/1e6:.3f} Mpps, delivered {delivered/secs/1e6:.3f} Mpps ({100*delivered/max(offered,1):.1f}%)", file=sys.stderr)
PY
}

declare -A best_offered best_delivered
ratios=()
ceilings=()

# --- Open vSwitch, userspace datapath, in the same namespace: its bridges and tunnel stay up
# for the whole run, and the two veths join them only for its own timed runs ---
export OVS_RUNDIR=$work OVS_LOGDIR=$work OVS_DBDIR=$work
ovsdb-tool create "$work/conf.db" /usr/share/openvswitch/vswitch.ovsschema
in_ns $hv ovsdb-server "$work/conf.db" --remote="punix:$work/db.sock" --pidfile="$work/ovsdb.pid" --detach --log-file="$work/ovsdb.log" 2>>"$work/ovs-start.log"
vsctl() { ovs-vsctl --db="unix:$work/db.sock" "$@"; }
vsctl --no-wait init
in_ns $hv taskset -c 1 ovs-vswitchd "unix:$work/db.sock" --pidfile="$work/vswitchd.pid" --detach --log-file="$work/vswitchd.log" 2>>"$work/ovs-start.log"
appctl() { ovs-appctl --target="$work/ovs-vswitchd.$(cat "$work/vswitchd.pid").ctl" "$@"; }
vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev other_config:hwaddr=02:00:00:00:01:0a
vsctl add-br br-int -- set bridge br-int datapath_type=netdev \
  -- add-port br-int gre0 -- set interface gre0 type=gre ofport_request=2 \
       options:remote_ip=192.168.1.11 options:local_ip=192.168.1.10 options:key=$((vsid << 8))
in_ns $hv ip addr add 192.168.1.10/24 dev br-phy
in_ns $hv ip link set br-phy up
appctl ovs/route/add 192.168.1.11/24 br-phy >/dev/null
ovs_attach() {
  vsctl add-port br-phy pa0 -- add-port br-int vm0 -- set interface vm0 ofport_request=1
  appctl tnl/arp/set br-phy 192.168.1.11 02:00:00:00:01:0c >/dev/null
  ovs-ofctl del-flows br-int
  ovs-ofctl add-flow br-int "in_port=1,actions=output:2"
  sleep 1
}
ovs_detach() { vsctl del-port br-int vm0 -- del-port br-phy pa0; sleep 0.5; }

nvdp_start() {
  # As the systemd unit runs it (src/NvDataplane.Cli/nvdp.service): no tiered recompilation.
  DOTNET_TieredCompilation=0 ip netns exec $hv taskset -c 1 "$nvdp" run --config "$work/nvdp.json" --log-format json 2>"$work/nvdp.log" &
  echo $! >"$work/nvdp.pid"
  for _ in $(seq 100); do grep -q '"started"' "$work/nvdp.log" && break; sleep 0.1; done
  grep -q '"started"' "$work/nvdp.log" || { cat "$work/nvdp.log" >&2; exit 1; }
}
nvdp_stop() { # prints the worker's ns/packet split from the stop line
  local pid
  pid=$(cat "$work/nvdp.pid")
  kill -TERM "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$work/nvdp.pid"
  local split
  split=$(sed -n 's/.*"stopped".*; \(ns\/packet: [^"]*\)".*/\1/p' "$work/nvdp.log")
  [ -n "$split" ] || { echo "nvdp did not stop cleanly:" >&2; cat "$work/nvdp.log" >&2; exit 1; }
  echo "$split"
}

# Rounds: the generator alone, the reader that only counts, nvdp, then Open vSwitch, back to
# back, so that each round's figures come from the same minute of a machine whose speed
# drifts. Every round starts each datapath afresh and checks its sample (which also warms
# OVS's caches).
for r in $(seq "$runs"); do
  timed_run; read -r offered _ atport <"$work/run.out"
  report "round $r: generator alone" "$offered" "$atport"
  if [ "${offered}" -gt "${best_offered[alone]:-0}" ]; then best_offered[alone]=$offered; fi

  # The ceiling of any datapath reading vm0 through AF_PACKET: a reader that only counts.
  ip netns exec $hv taskset -c 1 /usr/bin/python3 bench/null-reader.py vm0 >"$work/null.out" 2>&1 &
  echo $! >"$work/null.pid"
  for _ in $(seq 100); do grep -q ready "$work/null.out" && break; sleep 0.1; done
  timed_run; read -r offered _ _ <"$work/run.out"
  kill -TERM "$(cat "$work/null.pid")"; wait "$(cat "$work/null.pid")" || true; rm -f "$work/null.pid"
  read_null=$(tail -n 1 "$work/null.out")
  report "round $r: a reader that only counts" "$offered" "$read_null"
  if [ "${read_null}" -gt "${best_delivered[null]:-0}" ]; then best_offered[null]=$offered; best_delivered[null]=$read_null; fi

  nvdp_start
  verify_sample nvdp
  timed_run; read -r offered delivered atport <"$work/run.out"
  report "round $r: nvdp" "$offered" "$delivered"
  echo "  (the kernel handed vm0 $atport frames)" >&2
  if [ "${delivered}" -gt "${best_delivered[nvdp]:-0}" ]; then best_offered[nvdp]=$offered; best_delivered[nvdp]=$delivered; fi
  nvdp_delivered=$delivered
  split=$(nvdp_stop)
  echo "  nvdp worker: $split" >&2

  ovs_attach
  verify_sample ovs
  timed_run; read -r offered delivered _ <"$work/run.out"
  report "round $r: ovs" "$offered" "$delivered"
  if [ "${delivered}" -gt "${best_delivered[ovs]:-0}" ]; then best_offered[ovs]=$offered; best_delivered[ovs]=$delivered; fi
  ovs_detach
  ratios+=("$(/usr/bin/python3 -c "print(f'{$nvdp_delivered / max($delivered, 1):.2f}')")")
  ceilings+=("$(/usr/bin/python3 -c "print(f'{$read_null / max($delivered, 1):.2f}')")")
  echo "  round $r: nvdp delivered ${ratios[-1]}x what Open vSwitch delivered; the reader that only counts read ${ceilings[-1]}x" >&2
done

machine="$(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) vCPU, Linux $(uname -r)"
/usr/bin/python3 - "$seconds" "$machine" "${best_offered[nvdp]}" "${best_delivered[nvdp]}" "${best_offered[ovs]}" "${best_delivered[ovs]}" "${best_offered[alone]}" "${best_offered[null]}" "${best_delivered[null]}" <<'PY'
import sys
secs, machine = float(sys.argv[1]), sys.argv[2]
no, nd, oo, od, alone, zo, zd = (int(x) for x in sys.argv[3:10])
print("| datapath | offered Mpps | delivered Mpps | delivered / offered | machine |")
print("|---|---|---|---|---|")
print(f"| none: the generator alone | {alone/secs/1e6:.3f} | | | {machine} |")
print(f"| a reader that only counts (`bench/null-reader.py`) | {zo/secs/1e6:.3f} | {zd/secs/1e6:.3f} (read) | {100*zd/max(zo,1):.1f}% | {machine} |")
print(f"| nvdp (afpacket: ports) | {no/secs/1e6:.3f} | {nd/secs/1e6:.3f} | {100*nd/max(no,1):.1f}% | {machine} |")
print(f"| Open vSwitch 3.1 userspace (netdev) | {oo/secs/1e6:.3f} | {od/secs/1e6:.3f} | {100*od/max(oo,1):.1f}% | {machine} |")
print(f"\nBest runs: nvdp delivers {nd/max(od,1):.2f}x what Open vSwitch delivers; a datapath delivering all the generator makes alone would deliver {alone/max(od,1):.2f}x.")
PY
echo "Round by round, nvdp delivered / Open vSwitch delivered: ${ratios[*]}"
echo "Round by round, read by the reader that only counts / Open vSwitch delivered: ${ceilings[*]}"
/usr/bin/python3 - "${ratios[*]}" "${ceilings[*]}" <<'PY'
import statistics, sys
for name, text in (("nvdp", sys.argv[1]), ("the reader that only counts", sys.argv[2])):
    r = [float(x) for x in text.split()]
    print(f"{name}: median {statistics.median(r):.2f}x over {len(r)} rounds, {sum(x >= 3 for x in r)} of {len(r)} at 3x or more, lowest {min(r):.2f}x")
PY
echo "nvdp worker, last round: $split"
