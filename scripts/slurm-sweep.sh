#!/usr/bin/env bash
# A sharded sweep on a real, one-node Slurm on this machine, checked against an unsharded one.
#
# Installs Debian's slurm-wlm and munge when missing, writes a one-node slurm.conf (slurmctld
# and slurmd on this host), starts munged, slurmctld and slurmd, submits
# deploy/slurm/sweep.sbatch as a 4-task array over a small sweep, waits for it, runs
# `faultline merge` over the 4 shards, runs the same sweep unsharded, and compares the two
# summary.json files with cmp. Stops the daemons it started when it ends. Opt-in: not part of
# .ci/run (it installs system packages and runs daemons as root).
#
#   scripts/slurm-sweep.sh [BINARY]
#
# BINARY defaults to target/release/faultline, else target/debug/faultline. Exit 0 when the
# merged summary equals the unsharded one byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

binary="${1:-}"
if [ -z "$binary" ]; then
  for candidate in target/release/faultline target/debug/faultline; do
    [ -x "$candidate" ] && { binary="$candidate"; break; }
  done
fi
[ -n "$binary" ] && [ -x "$binary" ] || { echo "slurm-sweep: no faultline binary (cargo build first)" >&2; exit 2; }
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
paths="scenarios/echo.toml scenarios/lost-replies.toml scenarios/partition.toml"
seeds=4

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "slurm-sweep: installing slurm-wlm and munge" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

work="$(mktemp -d /tmp/faultline-slurm.XXXXXX)"
echo "slurm-sweep: working in $work"
pids=()
stop() {
  scontrol shutdown >/dev/null 2>&1 || true
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap stop EXIT

# munge: a key, its run directory, the daemon (as the munge user Debian made).
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- munged --foreground >"$work/munged.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge | grep -m1 STATUS

# One node: this host runs the controller and the compute daemon.
host="$(hostname -s)"
cpus="$(nproc)"
memory_mb="$(awk '/MemTotal/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)"
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=faultline
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$work/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# slurmd loads a cgroup plugin at start even with the non-cgroup plugins above (22.05 has no
# "disabled"); this machine mounts the v1 hierarchy.
cat >/etc/slurm/cgroup.conf <<CONF
CgroupPlugin=cgroup/v1
CONF

slurmctld -D -i >"$work/slurmctld.out" 2>&1 &
pids+=("$!")
slurmd -D >"$work/slurmd.out" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
  sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
  sleep 0.2
done
echo "slurm-sweep: sinfo"
sinfo
sinfo -h -o '%T' | grep -qE '^(idle|mixed|allocated)' || {
  echo "slurm-sweep: the node did not come up; see $work/slurmctld.log and $work/slurmd.log" >&2
  tail -n 20 "$work/slurmctld.log" "$work/slurmd.log" "$work/slurmctld.out" "$work/slurmd.out" >&2 || true
  exit 1
}

# The array: 4 tasks, each one shard of (3 scenarios x 4 seeds), results under $work/results.
job="$(sbatch --parsable --chdir="$repo" --output="$work/slurm-%A_%a.out" \
  --export=ALL,FAULTLINE="$binary",SWEEP_PATHS="$paths",SWEEP_SEEDS="$seeds",SWEEP_RESULTS="$work/results" \
  deploy/slurm/sweep.sbatch)"
echo "slurm-sweep: submitted job array $job"
for _ in $(seq 600); do
  squeue -h -j "$job" -r -o '%i %T %R' >"$work/squeue.now" 2>/dev/null || true
  if [ -s "$work/squeue.now" ]; then
    cat "$work/squeue.now" >>"$work/squeue.log"
    echo "--" >>"$work/squeue.log"
  else
    break
  fi
  sleep 1
done
echo "slurm-sweep: squeue while it ran (each change of state)"
awk 'BEGIN { RS = "--\n" } $0 != last { printf "%s--\n", $0; last = $0 }' "$work/squeue.log" 2>/dev/null || true
echo "slurm-sweep: the tasks as they ended (jobcomp/filetxt)"
for field in ArrayJobId ArrayTaskId JobState ExitCode StartTime EndTime; do printf '%s ' "$field"; done
echo
awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
       print f["ArrayJobId"], f["ArrayTaskId"], f["JobState"], f["ExitCode"], f["StartTime"], f["EndTime"] }' \
  "$work/jobcomp.log" | sort -k2n || true
echo "slurm-sweep: sacct"
sacct -j "$job" -o JobID,State,ExitCode 2>&1 | head -10 || true
echo "slurm-sweep: what each task printed about its shard"
grep -h '^shard ' "$work"/slurm-*.out || true

cd "$repo"
echo "slurm-sweep: merge"
"$binary" merge "$work"/results/shard-{0,1,2,3} --out "$work/merged" --junit "$work/merged.xml" || echo "(merge exit $?)"
echo "slurm-sweep: the same sweep, unsharded"
# shellcheck disable=SC2086
"$binary" sweep $paths --seeds "$seeds" --out "$work/whole" --junit "$work/whole.xml" >/dev/null 2>&1 || true
for shard in 0 1 2 3; do
  printf 'shard %s ran %s runs\n' "$shard" "$(find "$work/results/shard-$shard/runs" -name '*.json' | wc -l)"
done
cmp "$work/merged/summary.json" "$work/whole/summary.json"
cmp "$work/merged.xml" "$work/whole.xml"
echo "slurm-sweep: merged summary.json and JUnit equal the unsharded sweep's, byte for byte"
