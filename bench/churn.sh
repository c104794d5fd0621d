#!/usr/bin/env bash
# Produces the README's "Changes while forwarding" table: `nvdp bench --churn` (lookup-record
# changes through the control API while the pipeline forwards, changes switched off and on in
# alternate 1 s windows) at full rate and at 110,000, 10,000 and 1,000 changes/s, each in its own
# process, one after the other. The issue's target: at least 100,000 changes/s applied with
# forwarding less than 10% slower, and a change seen by the forwarding thread within 1 ms of
# the call returning. Run it on an otherwise idle machine with at least 2 CPUs (the forwarding
# thread gets the last one to itself). Usage: bench/churn.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
dotnet build src/NvDataplane.Cli -c Release -v q -nologo >/dev/null
nvdp=src/NvDataplane.Cli/bin/Release/net10.0/nvdp
echo "| offered | changes/s applied | forwarding alone → under changes: mean (per-pair median) | visible after return: p99 (max) | GC pauses | allocated per change |"
echo "|---|---|---|---|---|---|"
run() {
  local label=$1; shift
  local result
  result=$("$nvdp" bench --churn --records 1000 --seconds "$seconds" --format json "$@")
  /usr/bin/python3 - "$label" "$seconds" "$result" <<'PY'
import json, sys
label, seconds, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"| {label} | {r['changesPerSecond']:,.0f} | {r['baselineMpps']:.2f} → {r['churnMpps']:.2f} Mpps: "
      f"{-r['throughputDropPercent']:+.1f}% ({-r['pairDropMedianPercent']:+.1f}%) "
      f"| {r['visibleP99Us'] / 1000:.1f} ms ({r['visibleMaxUs'] / 1000:.1f} ms) "
      f"| {r['gcPauseMs']:.0f} ms in {seconds} s | {r['allocatedBytesPerChange'] / 1000:.1f} KB |")
PY
}
run "as fast as taken, batches of 1,000, 4 in flight"
run "110,000/s, batches of 1,000, 4 in flight" --churn-rate 110000
run "10,000/s, batches of 1,000, 2 in flight" --churn-rate 10000 --churn-inflight 2
run "1,000/s, batches of 100, 1 in flight" --churn-rate 1000 --churn-batch 100 --churn-inflight 1
