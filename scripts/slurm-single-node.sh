#!/usr/bin/env bash
# A private single-node Slurm (Debian's slurm-wlm and munge) for the Slurm test and for trying the sbatch scripts
# of docs/cluster.md on one machine. Everything lives in DIR: its own munge key and socket, slurm.conf with unused
# ports, state, spool, pid and log files, so it cannot disturb another Slurm or munge on the machine.
#
#   slurm-single-node.sh start DIR   starts munged, slurmctld and slurmd; exits 0 once the node is idle, else stops
#                                    what it started and exits 1 (2 when slurm-wlm or munge is not installed)
#   slurm-single-node.sh stop DIR    stops the daemons started in DIR and removes DIR
#
# Clients find it through SLURM_CONF=DIR/slurm.conf (sbatch, srun, squeue, sinfo). VKDIFF_SLURM_STARTUP_SECONDS
# changes the 60 s the node has to become idle.
# The node declares the machine's CPU count and memory and 2 GPUs whose device files are /dev/null and /dev/zero
# (Slurm wants a file per GPU): enough for scripts that ask for --gpus to be scheduled; the jobs use whichever
# Vulkan devices the machine has.
set -uo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$2
startup_seconds=${VKDIFF_SLURM_STARTUP_SECONDS:-60}

stop() {
  # Jobs first, while slurmctld and slurmd are there to end them.
  [ -s "$dir/slurmctld.pid" ] && SLURM_CONF=$dir/slurm.conf scancel --user="$(id -un)" 2>/dev/null && sleep 1
  for daemon in slurmd slurmctld munged; do
    [ -s "$dir/$daemon.pid" ] || continue
    pid=$(cat "$dir/$daemon.pid")
    # A pid file outlives its daemon: signal the pid only while it is still that daemon.
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$daemon" ] || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

# Two TCP ports nothing listens on, from a range Slurm's defaults (6817-6818) and common services stay out of.
free_ports() {
  local used port found=()
  used=$(ss -Htln | awk '{print $4}' | sed 's/.*://')
  for port in $(shuf -i 20000-39999 -n 200); do
    grep -qx "$port" <<<"$used" || found+=("$port")
    [ ${#found[@]} -eq 2 ] && break
  done
  echo "${found[@]}"
}

start() {
  for command in munged slurmctld slurmd sinfo; do
    command -v "$command" >/dev/null || { echo "slurm-single-node: $command is missing (install slurm-wlm and munge)" >&2; exit 2; }
  done
  mkdir -p "$dir" && chmod 700 "$dir" && mkdir -p "$dir/state" "$dir/spool" || exit 1
  dir=$(cd "$dir" && pwd)
  trap 'stop' EXIT

  dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none && chmod 400 "$dir/munge.key"
  munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" --pid-file="$dir/munged.pid" \
    --log-file="$dir/munged.log" --seed-file="$dir/munged.seed" || { echo "slurm-single-node: munged did not start (see $dir/munged.log)" >&2; exit 1; }

  read -r controller_port node_port < <(free_ports)
  local host cpus memory_mib
  host=$(hostname -s)
  cpus=$(nproc --all)
  memory_mib=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
  cat >"$dir/slurm.conf" <<EOF
ClusterName=vkdiff-single-node
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$(id -un)
SlurmdUser=root
SlurmctldPort=$controller_port
SlurmdPort=$node_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mib Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  echo "NodeName=$host Name=gpu File=/dev/null,/dev/zero" >"$dir/gres.conf"
  export SLURM_CONF=$dir/slurm.conf

  slurmctld -i || { echo "slurm-single-node: slurmctld did not start (see $dir/slurmctld.log)" >&2; exit 1; }
  slurmd || { echo "slurm-single-node: slurmd did not start (see $dir/slurmd.log)" >&2; exit 1; }
  for _ in $(seq "$startup_seconds"); do
    if [ "$(sinfo -h -n "$host" -o %t 2>/dev/null)" = idle ]; then
      trap - EXIT
      echo "slurm-single-node: node $host idle ($cpus CPUs, $memory_mib MiB); use SLURM_CONF=$dir/slurm.conf"
      exit 0
    fi
    sleep 1
  done
  echo "slurm-single-node: the node was not idle within $startup_seconds s (see $dir/slurmctld.log and $dir/slurmd.log)" >&2
  exit 1
}

case $action in
  start) start ;;
  stop) stop; rm -rf "$dir" ;;
  *) usage ;;
esac
