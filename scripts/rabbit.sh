#!/usr/bin/env bash
# rabbit.sh — start and break RabbitMQ nodes for development, CI and fault tests, without systemd.
#
# Targets Debian's rabbitmq-server (3.10) run as root. Every node listens on 127.0.0.1 only.
#
#   scripts/rabbit.sh ensure                    main broker on 127.0.0.1:5672 (install + start if needed)
#   scripts/rabbit.sh fault-start [mgmt]        disposable node fault@localhost on 5673 (mgmt on 15673)
#   scripts/rabbit.sh fault-close-all [reason]  force-close every client connection on the fault node
#   scripts/rabbit.sh fault-bounce [secs]       stop_app, wait (default 3 s), start_app on the fault node
#   scripts/rabbit.sh fault-kill9 [secs]        SIGKILL the fault node, wait, restart it and wait until ready
#   scripts/rabbit.sh fault-stop                stop the fault node (idempotent)
#   scripts/rabbit.sh cluster-start             fresh 3-node cluster cluster1..3@localhost on 5674-5676
#   scripts/rabbit.sh cluster-stop-node N       stop cluster node N (1..3)
#   scripts/rabbit.sh cluster-start-node N      start cluster node N again and wait until ready
#   scripts/rabbit.sh cluster-stop              stop all cluster nodes and delete their data (idempotent)
#   scripts/rabbit.sh cluster-queues [N]        print name, type, leader, members, online of every queue (asking node N, default 2)
#   scripts/rabbit.sh tls-start PORT CA CERT KEY [NAME [DIST_PORT]]
#                                               node NAME@localhost (default tls) with only a TLS listener
#                                               on PORT, distribution on DIST_PORT (default PORT + 20000)
#   scripts/rabbit.sh tls-stop [NAME]           stop TLS node NAME (default tls) and delete its data (idempotent)
#
# Concurrent runs (several checkouts on one machine) each give their TLS node a name and ports of
# their own; tls-start first stops TLS nodes whose starting process has exited (interrupted runs).
#
# The disposable nodes keep their data under ${TMPDIR:-/tmp}/postage-rabbit/<node>. They run as the
# 'rabbitmq' user like the main broker, so they share its Erlang cookie (/var/lib/rabbitmq/.erlang.cookie),
# which is what lets `rabbitmqctl` (run as root, it switches to 'rabbitmq') and `join_cluster` work.
# Nothing here stops or reconfigures the main broker: every command names its node with -n, and the
# fallback kill only uses pid files this script wrote.
set -euo pipefail

BASE_DIR=${POSTAGE_RABBIT_DIR:-${TMPDIR:-/tmp}/postage-rabbit}
CLUSTER_SIZE=3
CLUSTER_FIRST_PORT=5674

log() { printf 'rabbit.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# ctl ARGS...: rabbitmqctl, quiet on success; its (verbose) output is shown only when it fails.
ctl() { local out; out=$(rabbitmqctl -q "$@" 2>&1) || { log "rabbitmqctl $* failed:"; printf '%s\n' "$out" >&2; return 1; }; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready PORT NODE TIMEOUT_S: the port accepting TCP comes first (cheap to poll); a CLI call then
# confirms the rabbit app itself booted (the listener opens a moment before boot completes).
wait_ready() {
  local port=$1 node=$2 timeout=${3:-90} t0=$SECONDS
  until port_open "$port"; do
    (( SECONDS - t0 >= timeout )) && die "$node: port $port not open after ${timeout}s"
    sleep 0.2
  done
  rabbitmqctl -q -n "$node" await_startup --timeout "$timeout" >/dev/null 2>&1 \
    || die "$node: port $port is open but the node did not finish booting"
  log "$node ready on 127.0.0.1:$port after $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- main broker (5672)

main_running() { port_open 5672 && rabbitmq-diagnostics -q check_running >/dev/null 2>&1; }

install_rabbitmq() {
  log "installing Debian's rabbitmq-server"
  # Keep the package's postinst from starting a broker with the default (all-interfaces) listener
  # before our loopback config exists; only add the policy file if nobody else provided one.
  local own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  local rc=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server; } || rc=$?
  (( own_policy )) && rm -f /usr/sbin/policy-rc.d
  (( rc == 0 )) || die "apt-get install rabbitmq-server failed (exit $rc)"
  mkdir -p /etc/rabbitmq
  [ -s /etc/rabbitmq/rabbitmq.conf ] || echo 'listeners.tcp.local = 127.0.0.1:5672' > /etc/rabbitmq/rabbitmq.conf
  if [ ! -s /etc/rabbitmq/rabbitmq-env.conf ]; then
    # A fixed node name survives hostname changes (containers); the kernel flag keeps distribution on loopback.
    cat > /etc/rabbitmq/rabbitmq-env.conf <<'EOF'
NODENAME=rabbit@localhost
ERL_EPMD_ADDRESS=127.0.0.1
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  fi
}

cmd_ensure() {
  if main_running; then log "main broker already running on 127.0.0.1:5672"; return 0; fi
  command -v rabbitmq-server >/dev/null 2>&1 || install_rabbitmq
  # Debian's init script needs no systemd (start-stop-daemon, then `rabbitmqctl wait`); -detached is the fallback.
  /etc/init.d/rabbitmq-server start >/dev/null 2>&1 || rabbitmq-server -detached
  local node
  node=$(sed -n 's/^NODENAME=//p' /etc/rabbitmq/rabbitmq-env.conf 2>/dev/null | tail -1)
  wait_ready 5672 "${node:-rabbit@$(hostname -s)}" 120
}

# ---------------------------------------------------------------- disposable nodes

# node_env NAME PORT: exports the variables that give node NAME@localhost its own port, distribution
# port, data, logs, config and plugin list. The rabbitmq-server wrapper su's to 'rabbitmq' and keeps them.
node_env() {
  local name=$1 port=$2 dir=$BASE_DIR/$1
  export RABBITMQ_NODENAME=$name@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$port \
    RABBITMQ_DIST_PORT=$((port + 20000)) RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log \
    RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins \
    RABBITMQ_PID_FILE=$dir/$name.pid
}

# node_prepare NAME CONFIG [PLUGINS]: creates the node's directory, writes its config and its own
# enabled-plugins file (an Erlang list; never /etc/rabbitmq/enabled_plugins, which is the main node's).
node_prepare() {
  local name=$1 config=$2 plugins=${3:-} dir=$BASE_DIR/$1
  mkdir -p "$dir/mnesia" "$dir/log"
  chmod 755 "$BASE_DIR" "$dir"
  printf '%s\n' "$config" > "$dir/rabbitmq.conf"
  echo "[$plugins]." > "$dir/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$dir"
}

# node_launch NAME PORT: starts the node in the background (no wait), in a subshell so its env stays local.
node_launch() {
  ( node_env "$1" "$2"; rabbitmq-server -detached >/dev/null 2>&1 )
}

node_pid() { local f=$BASE_DIR/$1/$1.pid; [ -s "$f" ] && cat "$f"; }

# node_stop NAME: graceful stop by node name; if the node does not answer, SIGTERM then SIGKILL the pid
# this script recorded for it. Returns once the OS process is gone. Idempotent.
node_stop() {
  local name=$1 pid=""
  pid=$(node_pid "$name" || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    # no live pid on record: still ask by name, in case the pid file was lost
    rabbitmqctl -q -n "$name@localhost" stop >/dev/null 2>&1 || true
    return 0
  fi
  rabbitmqctl -q -n "$name@localhost" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in 30s, killing $pid"; kill -9 "$pid" 2>/dev/null || true; fi
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  wait_epmd_gone "$name"
}

# After a hard kill epmd keeps the name registered until it notices the closed socket; a restart
# before that fails with "node name already in use".
wait_epmd_gone() {
  local i
  for i in $(seq 1 100); do epmd -names 2>/dev/null | grep -q "^name $1 " || return 0; sleep 0.1; done
}

# ---------------------------------------------------------------- fault node (5673)

FAULT=fault FAULT_PORT=5673

cmd_fault_start() {
  local mgmt=${1:-}
  if port_open $FAULT_PORT; then log "fault node already running"; return 0; fi
  node_prepare $FAULT "listeners.tcp.default = 127.0.0.1:$FAULT_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = 15673
disk_free_limit.absolute = 50MB" "$([ "$mgmt" = mgmt ] && echo rabbitmq_management)"
  node_launch $FAULT $FAULT_PORT
  wait_ready $FAULT_PORT $FAULT@localhost 90
}

cmd_fault_close_all() {
  ctl -n $FAULT@localhost close_all_connections "${1:-postage fault test}"
  log "closed all connections on $FAULT@localhost"
}

cmd_fault_bounce() {
  ctl -n $FAULT@localhost stop_app
  sleep "${1:-3}"
  ctl -n $FAULT@localhost start_app
  wait_ready $FAULT_PORT $FAULT@localhost 60
}

cmd_fault_kill9() {
  local pid
  pid=$(node_pid $FAULT) || die "fault node has no pid file: is it running?"
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  wait_epmd_gone $FAULT
  sleep "${1:-0}"
  node_launch $FAULT $FAULT_PORT
  wait_ready $FAULT_PORT $FAULT@localhost 90
}

cmd_fault_stop() { node_stop $FAULT; log "fault node stopped"; }

# ---------------------------------------------------------------- cluster (5674-5676)

cluster_port() { echo $((CLUSTER_FIRST_PORT + $1 - 1)); }
check_n() { [[ ${1:-} =~ ^[1-3]$ ]] || die "cluster node number must be 1..$CLUSTER_SIZE"; }

cmd_cluster_start() {
  local n
  for n in 1 2 3; do port_open "$(cluster_port $n)" && die "port $(cluster_port $n) busy: run cluster-stop first"; done
  for n in 1 2 3; do
    rm -rf "${BASE_DIR:?}/cluster$n"
    node_prepare "cluster$n" "listeners.tcp.default = 127.0.0.1:$(cluster_port $n)
disk_free_limit.absolute = 50MB
cluster_name = postage-test"
    node_launch "cluster$n" "$(cluster_port $n)"   # all three boot in parallel
  done
  for n in 1 2 3; do wait_ready "$(cluster_port $n)" "cluster$n@localhost" 120; done
  for n in 2 3; do
    ctl -n "cluster$n@localhost" stop_app
    ctl -n "cluster$n@localhost" reset
    ctl -n "cluster$n@localhost" join_cluster cluster1@localhost
    ctl -n "cluster$n@localhost" start_app
    wait_ready "$(cluster_port $n)" "cluster$n@localhost" 60
  done
  local running
  running=$(rabbitmqctl -q -n cluster1@localhost eval 'length(rabbit_nodes:all_running()).' 2>/dev/null || echo '?')
  [ "$running" = 3 ] || die "cluster formed with $running running nodes, expected 3"
  log "cluster up: cluster1..3@localhost on 127.0.0.1:$(cluster_port 1)-$(cluster_port 3)"
}

cmd_cluster_stop_node() { check_n "${1:-}"; node_stop "cluster$1"; log "cluster$1 stopped"; }

cmd_cluster_start_node() {
  check_n "${1:-}"
  port_open "$(cluster_port "$1")" && { log "cluster$1 already running"; return 0; }
  [ -d "$BASE_DIR/cluster$1/mnesia" ] || die "cluster$1 has no data: run cluster-start first"
  node_launch "cluster$1" "$(cluster_port "$1")"
  wait_ready "$(cluster_port "$1")" "cluster$1@localhost" 120
}

cmd_cluster_stop() {
  local n
  # in parallel: the data is deleted afterwards, so the stop order (which matters for a restart) does not
  for n in 1 2 3; do node_stop "cluster$n" & done
  wait
  for n in 1 2 3; do rm -rf "${BASE_DIR:?}/cluster$n"; done
  log "cluster stopped"
}

cmd_cluster_queues() {
  local n=${1:-2}
  check_n "$n"
  rabbitmqctl -q -n "cluster$n@localhost" list_queues --no-table-headers name type leader members online
}

# ---------------------------------------------------------------- TLS node

TLS=tls

# node_env's distribution port is PORT + 20000; a TLS node may be given its own (a free port the
# caller picked can be above 45535), so it launches with RABBITMQ_DIST_PORT set.
check_node_name() { [[ $1 =~ ^[A-Za-z0-9_-]+$ ]] || die "bad node name: $1"; }
check_port() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 < 65536 )) || die "bad port: $1"; }

# The process that ran tls-start (the test, or a shell) owns the node: once it is gone and did not
# stop its node (killed, interrupted), the next tls-start stops the node so it does not live on.
stop_stale_tls_nodes() {
  local dir name owner
  for dir in "$BASE_DIR"/*/; do
    [ -s "$dir/tls-owner" ] || continue
    name=$(basename "$dir") owner=$(cat "$dir/tls-owner")
    kill -0 "$owner" 2>/dev/null && continue
    log "stopping TLS node $name left by exited process $owner"
    cmd_tls_stop "$name"
  done
}

cmd_tls_start() {
  [ $# -ge 4 ] && [ $# -le 6 ] || die "usage: tls-start PORT CA_CERT CERT KEY [NAME [DIST_PORT]]"
  local port=$1 ca=$2 cert=$3 key=$4 name=${5:-$TLS}
  check_port "$port"; check_node_name "$name"
  local dist=${6:-$((port + 20000))} dir=$BASE_DIR/$name
  check_port "$dist"
  local f; for f in "$ca" "$cert" "$key"; do [ -r "$f" ] || die "cannot read $f"; done
  stop_stale_tls_nodes
  port_open "$port" && die "port $port busy"
  port_open "$dist" && die "distribution port $dist busy"
  epmd -names 2>/dev/null | grep -q "^name $name " && die "node $name@localhost already running"
  mkdir -p "$dir/certs"
  # the broker runs as 'rabbitmq' and may not be able to read the caller's files: copy them
  cp "$ca" "$dir/certs/ca.pem"; cp "$cert" "$dir/certs/cert.pem"; cp "$key" "$dir/certs/key.pem"
  chmod 600 "$dir/certs/key.pem"
  # No plain TCP listener, so only TLS clients get in.
  node_prepare "$name" "listeners.tcp = none
listeners.ssl.default = 127.0.0.1:$port
ssl_options.cacertfile = $dir/certs/ca.pem
ssl_options.certfile = $dir/certs/cert.pem
ssl_options.keyfile = $dir/certs/key.pem
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
disk_free_limit.absolute = 50MB"
  echo "$PPID" > "$dir/tls-owner"
  ( node_env "$name" "$port"; export RABBITMQ_DIST_PORT=$dist; rabbitmq-server -detached >/dev/null 2>&1 )
  wait_ready "$port" "$name@localhost" 90
}

cmd_tls_stop() {
  local name=${1:-$TLS}
  check_node_name "$name"
  node_stop "$name"; rm -rf "${BASE_DIR:?}/$name"; log "TLS node $name stopped"
}

# ---------------------------------------------------------------- dispatch

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

sub=${1:-}; shift || true
case $sub in
  ensure)             cmd_ensure ;;
  fault-start)        cmd_fault_start "$@" ;;
  fault-stop)         cmd_fault_stop ;;
  fault-close-all)    cmd_fault_close_all "$@" ;;
  fault-bounce)       cmd_fault_bounce "$@" ;;
  fault-kill9)        cmd_fault_kill9 "$@" ;;
  cluster-start)      cmd_cluster_start ;;
  cluster-stop-node)  cmd_cluster_stop_node "$@" ;;
  cluster-start-node) cmd_cluster_start_node "$@" ;;
  cluster-stop)       cmd_cluster_stop ;;
  cluster-queues)     cmd_cluster_queues "$@" ;;
  tls-start)          cmd_tls_start "$@" ;;
  tls-stop)           cmd_tls_stop "$@" ;;
  -h|--help|help|"")  usage ;;
  *)                  usage >&2; die "unknown subcommand: $sub" ;;
esac
