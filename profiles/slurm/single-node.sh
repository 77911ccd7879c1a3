#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, to try profiles/slurm on a laptop and for the tests.
#
#   sudo profiles/slurm/single-node.sh          start it (installs slurm-wlm and munge when missing)
#   sudo profiles/slurm/single-node.sh stop     stop its daemons
#
# No accounting database: jobs are followed with squeue (the profile sets
# slurm-status-command: squeue), so finished jobs must stay visible long enough: MinJobAge=600.
# The config goes to /etc/slurm/slurm.conf, the one place a job's own srun looks for it; an
# existing config that this script did not write is left alone and the script stops.
set -euo pipefail
CONF=/etc/slurm/slurm.conf
STATE=/var/lib/edgeconv-slurm
MARK="# written by edgeconv profiles/slurm/single-node.sh"

say() { echo "[slurm-single-node] $*"; }

if [ "${1:-start}" = stop ]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    say "stopped slurmctld and slurmd"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "error: profiles/slurm/single-node.sh starts slurmctld and slurmd as root; run it with sudo" >&2
    exit 1
fi
missing=()
for cmd in slurmctld slurmd sbatch munged; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q slurm-wlm munge >/dev/null; }
    say "installed slurm-wlm and munge"
fi

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    echo "error: $CONF exists and was not written by this script; this machine already has a Slurm config" >&2
    exit 1
fi
mkdir -p /etc/slurm "$STATE"/{ctld,d,log}
cat >"$CONF" <<CONF
$MARK
ClusterName=edgeconv
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
ReturnToService=2
SchedulerParameters=sched_interval=1
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

# munge: a key of its own, the daemon as user munge.
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
pgrep -x munged >/dev/null || su -s /bin/sh munge -c "munged"

pkill -x slurmd || true
pkill -x slurmctld || true
sleep 1
slurmctld -f "$CONF"
slurmd -f "$CONF"
for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case "$state" in
        idle*|mixed*|allocated*) say "node $host is $state ($cpus CPUs, $mem MB); logs in $STATE/log"; exit 0 ;;
    esac
    sleep 1
done
echo "error: the Slurm node did not come up (state: ${state:-none}); see $STATE/log/slurmctld.log and slurmd.log" >&2
exit 1
