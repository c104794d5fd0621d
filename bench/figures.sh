#!/usr/bin/env bash
# Produces the README's figures table: `nvdp bench` for every scenario at 1,000 and 1,000,000
# records with 64-byte inner frames, each in its own process, one after the other, best of five
# runs: on this 2-vCPU VM runs of the same binary are bimodal (e.g. ~20 or ~14 Mpps), which we
# put down to memory layout, since it persists with tiered compilation off. Run it on an
# otherwise idle machine. Usage: bench/figures.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
dotnet build src/NvDataplane.Cli -c Release -v q -nologo >/dev/null
nvdp=src/NvDataplane.Cli/bin/Release/net10.0/nvdp
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) vCPU"
echo "| scenario | records | frame size | Mpps | ns/packet | allocated bytes/packet | GC collections | machine |"
echo "|---|---|---|---|---|---|---|---|"
for scenario in encap decap rewrite; do
  for records in 1000 1000000; do
    runs=()
    for attempt in 1 2 3 4 5; do
      runs+=("$("$nvdp" bench --scenario "$scenario" --records "$records" --frame-size 64 --seconds "$seconds" --format json)")
    done
    /usr/bin/python3 - "$machine" "${runs[@]}" <<'PY'
import json, sys
r = max((json.loads(a) for a in sys.argv[2:]), key=lambda x: x["mpps"])
print(f"| {r['scenario']} | {r['records']:,} | {r['frameSize']} | {r['mpps']:.2f} | {r['nsPerPacket']:.1f} | {r['allocatedBytesPerPacket']:.4f} | {r['gcCollections']} | {sys.argv[1]} |")
PY
  done
done
