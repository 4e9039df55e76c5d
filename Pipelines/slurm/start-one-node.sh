#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for trying the pipelines' LAUNCH= and for the test
# that runs a pipeline through it (Tests/KDTests/SlurmTests.swift). Needs root.
#
#   Pipelines/slurm/start-one-node.sh start    install if needed, (re)start, wait until idle
#   Pipelines/slurm/start-one-node.sh stop     stop the daemons this script started
#   Pipelines/slurm/start-one-node.sh status   sinfo
#
# Then, in the shell that runs make or srun:  export SLURM_CONF=<dir>/slurm.conf  (start prints it)
#
# Everything it writes lives in one folder, KD_SLURM_DIR (default /tmp/kd-slurm): the config,
# the controller's state, slurmd's spool, logs and pid files. It uses its own ports and never
# touches /etc/slurm, so a machine that is already part of a real cluster keeps its setup. It
# shares the system's munged (authentication) when one is running, and starts one otherwise.
set -euo pipefail

# A caller may start this script with most signals blocked (a Swift test's worker thread does).
# Everything started here would inherit that mask: a slurmd that never sees SIGTERM can only be
# killed, and neither could this script be. Bash cannot change its signal mask, so the script
# runs itself again through perl (perl-base, always on Debian) with none blocked.
if [[ -z ${KD_SLURM_SIGNALS_UNBLOCKED:-} ]] && command -v perl >/dev/null; then
  export KD_SLURM_SIGNALS_UNBLOCKED=1
  exec perl -MPOSIX -e 'sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!\n";
                        exec { $ARGV[0] } @ARGV or die "$ARGV[0]: $!\n"' -- bash "$0" "$@"
fi

DIR=${KD_SLURM_DIR:-/tmp/kd-slurm}
CONF=$DIR/slurm.conf
# Not SLURM's default ports (6817/6818), so a real slurmctld or slurmd here is not in the way.
CTLD_PORT=${KD_SLURM_CTLD_PORT:-16817}
SLURMD_PORT=${KD_SLURM_SLURMD_PORT:-16818}
MUNGE_SOCKET=/run/munge/munge.socket.2

say() { echo "start-one-node: $*" >&2; }
die() { say "$*"; exit 1; }

# Whether process $1 runs: a zombie does not (in some containers nobody reaps the daemons once
# they have exited, and kill -0 still finds them).
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $state && $state != Z* ]]
}

# The pid recorded in $1, if that process is still alive.
live_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ -n $pid ]] && alive "$pid" && echo "$pid"
}

# Stops the process whose pid file is $1 (only that process, never by name), waiting for it
# to go so that a restart can bind the same ports.
stop_pidfile() {
  local pid
  pid=$(live_pid "$1") || { rm -f "$1"; return 0; }
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; sleep 0.2; fi
  rm -f "$1"
}

stop() {
  # The reverse of starting: slurmd, then the controller it reports to, then munged, which
  # both use to authenticate their messages.
  stop_pidfile "$DIR/slurmd.pid"
  stop_pidfile "$DIR/slurmctld.pid"
  # munged only if this script started it: a system munged serves others too.
  stop_pidfile "$DIR/munged.pid"
}

install_if_needed() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
  command -v apt-get >/dev/null || die "slurm is not installed and there is no apt-get to install it"
  say "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet: update once, only if the first try fails.
  apt-get install -y -qq slurm-wlm munge >"$DIR/apt.log" 2>&1 \
    || { apt-get update -qq >>"$DIR/apt.log" 2>&1 && apt-get install -y -qq slurm-wlm munge >>"$DIR/apt.log" 2>&1; } \
    || die "apt-get install slurm-wlm munge failed (see $DIR/apt.log)"
}

munge_answers() {
  munge --no-input --socket="$MUNGE_SOCKET" 2>/dev/null | unmunge --socket="$MUNGE_SOCKET" >/dev/null 2>&1
}

start_munge() {
  # A munged that answers already (the system's, or ours from before) is all SLURM needs.
  if munge_answers; then
    return 0
  fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
  fi
  # munged refuses to start when its folders are not owned by the user it runs as.
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 755 /run/munge
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
  if id munge >/dev/null 2>&1; then
    # Its pid file goes where the munge user may write; stop finds it through the link.
    mkdir -p "$DIR/munge"
    chown munge:munge "$DIR/munge"
    ln -sfn munge/munged.pid "$DIR/munged.pid"
    runuser -u munge -- munged --pid-file="$DIR/munge/munged.pid" </dev/null >>"$DIR/munged.log" 2>&1 \
      || die "munged did not start (see $DIR/munged.log)"
  else
    munged --force --pid-file="$DIR/munged.pid" </dev/null >>"$DIR/munged.log" 2>&1 \
      || die "munged did not start (see $DIR/munged.log)"
  fi
  for _ in $(seq 50); do
    munge_answers && return 0
    sleep 0.1
  done
  die "munged does not answer on $MUNGE_SOCKET (see $DIR/munged.log)"
}

write_config() {
  local node cpus memory
  node=$(hostname -s)
  # What slurmd itself measures, so the node's declared size is never more than it has (a node
  # that claims more CPUs or memory than it has is drained).
  cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
  memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  [[ -n $cpus && -n $memory ]] || die "slurmd -C did not report CPUs and RealMemory"
  cat >"$CONF" <<EOF
# Written by Pipelines/slurm/start-one-node.sh: one node, everything under $DIR.
ClusterName=kd-one-node
# The node and the controller are this machine, reached on the loopback address so no name
# service is needed.
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
# No cgroups needed (containers, CI): processes are tracked through /proc and not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
# Cores and memory are what jobs ask for (--cpus-per-task, --mem); a job that names no memory
# gets its share per core instead of the whole node, so several jobs fit side by side.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( memory / cpus ))
# Short timeouts: a test cluster should come up and let go within seconds.
SlurmctldTimeout=10
SlurmdTimeout=10
MessageTimeout=10
InactiveLimit=0
KillWait=5
MinJobAge=10
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=kd Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

# Closes every descriptor this script inherited beyond standard input, output and error (and
# 255, from which bash reads the script). The daemons started below would inherit them and hold
# them open for their lifetime — among them whatever the caller watches to learn that this
# script has exited (Foundation's Process does so, and would wait forever).
close_inherited_descriptors() {
  local path fd
  for path in "/proc/$$"/fd/*; do
    fd=${path##*/}
    # (closing one that is already gone, such as the listing's own, is no error)
    if (( fd > 2 && fd != 255 )); then exec {fd}>&-; fi
  done
}

start() {
  [[ $(id -u) == 0 ]] || die "needs root (it installs packages and runs the SLURM daemons as root)"
  close_inherited_descriptors
  mkdir -p "$DIR"
  install_if_needed
  # Leftovers from an earlier start (a killed test, say) would hold the ports.
  stop
  rm -rf "$DIR/state" "$DIR/spool"
  mkdir -p "$DIR/state" "$DIR/spool"
  start_munge
  write_config
  export SLURM_CONF=$CONF
  local began=$SECONDS
  # -c: a clean start, forgetting jobs of an earlier cluster in this folder.
  # The daemons get none of this script's standard streams: a caller reading our output to
  # its end (a test, $(…)) would otherwise wait for them to exit.
  slurmctld -c -f "$CONF" </dev/null >>"$DIR/slurmctld.out" 2>&1 \
    || die "slurmctld did not start (see $DIR/slurmctld.log, $DIR/slurmctld.out)"
  slurmd -f "$CONF" -N "$(hostname -s)" </dev/null >>"$DIR/slurmd.out" 2>&1 \
    || die "slurmd did not start (see $DIR/slurmd.log, $DIR/slurmd.out)"
  # The node registers within a second or two; idle means jobs can start on it. A daemon that
  # died (a port in use, a bad config) ends the wait at once: sinfo would only time out.
  local state="" daemon
  while (( SECONDS - began < 30 )); do
    state=$(timeout 5 sinfo -h -N -o '%t' 2>/dev/null || true)
    if [[ $state == idle ]]; then
      say "node $(hostname -s) idle after $(( SECONDS - began )) s"
      echo "export SLURM_CONF=$CONF"
      return 0
    fi
    for daemon in slurmctld slurmd; do
      # (no pid file yet: the daemon is still starting)
      if [[ -s $DIR/$daemon.pid ]] && ! live_pid "$DIR/$daemon.pid" >/dev/null; then
        tail -n 5 "$DIR/$daemon.log" >&2 || true
        stop
        die "$daemon exited (see $DIR/$daemon.log)"
      fi
    done
    sleep 0.1
  done
  tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 || true
  stop
  die "the node did not become idle within 30 s (state: ${state:-unknown})"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) SLURM_CONF=$CONF sinfo -N -l ;;
  *) echo "usage: $0 start|stop|status   (KD_SLURM_DIR=$DIR)" >&2; exit 64 ;;
esac
