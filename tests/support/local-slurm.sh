#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine (Debian's slurmctld/slurmd + munge), for tests of the SLURM launcher.
#   eval "$(../shared/slurm/local-slurm.sh start)"   # installs what is missing (root, apt), starts, prints exports
#   ../shared/slurm/local-slurm.sh stop              # stops what start started
# Exit 3 (and a one-line reason) where it cannot run here: not root, no apt, daemons that will not start.
# The tests' copy of ../shared/slurm/local-slurm.sh, with two changes: `start` first stops daemons an earlier `start`
# left running (so it can be called again), and AuthInfo=cred_expire=10, so a requeued job may start again after 10 s
# rather than SLURM's default 120 s (the requeue test waits for it).
set -u
STATE=${SLURM_LOCAL_STATE:-/tmp/scalegrid-slurm}
CONF=$STATE/slurm.conf
say() { echo "local-slurm: $*" >&2; }
start() {
  [ "$(id -u)" = 0 ] || { say "needs root"; exit 3; }
  stop
  if ! command -v slurmctld >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || { say "no apt-get to install slurm"; exit 3; }
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge) >/dev/null 2>&1 \
      || { say "apt-get install slurmctld slurmd slurm-client munge failed"; exit 3; }
  fi
  mkdir -p "$STATE"/{ctld,d,log} /run/munge
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chmod 400 /etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; }
    chown munge:munge /run/munge; su -s /bin/sh munge -c munged || { say "munged would not start"; exit 3; }
    sleep 1
  fi
  local host cpus mem
  host=$(hostname -s); cpus=$(nproc); mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  cat > "$CONF" <<CONFEOF
ClusterName=scalegrid-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONFEOF
  export SLURM_CONF=$CONF
  slurmctld -f "$CONF" || { say "slurmctld would not start (see $STATE/log)"; exit 3; }
  slurmd -f "$CONF" || { say "slurmd would not start (see $STATE/log)"; exit 3; }
  for _ in $(seq 1 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
  sinfo -h -o %T 2>/dev/null | grep -q idle || { say "the node did not come up (see $STATE/log)"; exit 3; }
  echo "export SLURM_CONF=$CONF"
}
stop() {
  local f pid
  for f in "$STATE/slurmd.pid" "$STATE/slurmctld.pid"; do
    [ -s "$f" ] || continue
    pid=$(cat "$f"); kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$f"
  done
  return 0
}
case "${1:-}" in start) start ;; stop) stop ;; *) echo "usage: $0 start|stop" >&2; exit 2 ;; esac
