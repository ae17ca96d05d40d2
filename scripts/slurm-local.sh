#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (munge + slurmctld + slurmd), for the
# sweep tests and for trying `usbench sweep --executor slurm` without a real cluster.
# Installs Debian's slurm-wlm and munge when absent (needs root). Idempotent: a cluster
# that already answers `sinfo` is left alone.
#   scripts/slurm-local.sh          start (or check) the cluster
#   scripts/slurm-local.sh stop     stop the daemons this script started
set -euo pipefail

conf_dir=/etc/slurm
state=/var/spool/slurm-local
host=$(hostname -s)

stop() {
  for daemon in slurmd slurmctld; do
    if [ -f "$state/$daemon.pid" ]; then
      kill "$(cat "$state/$daemon.pid")" 2>/dev/null || true
      rm -f "$state/$daemon.pid"
    fi
  done
}

if [ "${1:-start}" = "stop" ]; then stop; exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-local: needs root (it installs packages and starts daemons)" >&2; exit 1
fi

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  echo "slurm-local: installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurm-wlm munge >/dev/null
fi

# munge: the authentication daemon every SLURM command talks through
if ! pgrep -x munged >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || { mungekey --create --force 2>/dev/null \
    || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
fi

if sinfo -h >/dev/null 2>&1 && sinfo -h -o %T | grep -qE "idle|mix|alloc|comp"; then
  echo "slurm-local: cluster already up"; sinfo; exit 0
fi

cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p "$conf_dir" "$state/ctld" "$state/d" /var/log/slurm
cat >"$conf_dir/slurm.conf" <<CONF
# written by usbench scripts/slurm-local.sh: one node, every CPU of this machine
ClusterName=usbench-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
KillWait=5
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# some Debian builds read /etc/slurm-llnl
[ -e /etc/slurm-llnl ] || ln -s "$conf_dir" /etc/slurm-llnl 2>/dev/null || true

stop
slurmctld
slurmd
for _ in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix|alloc|comp"; then
    echo "slurm-local: up ($cpus CPUs, ${mem_mb} MB)"; sinfo; exit 0
  fi
  scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm-local: the node did not come up; see /var/log/slurm/*.log" >&2
exit 1
