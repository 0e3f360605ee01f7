#!/usr/bin/env bash
# Single-node Ceph cluster (1 mon, 1 memstore OSD, no mgr) + RADOS Gateway on
# 127.0.0.1:$LIFEBOAT_RGW_PORT, for tests that need a realistic S3 server.
#
#   tests/servers/rgw.sh start    # idempotent; waits until RGW answers; prints env
#   tests/servers/rgw.sh env      # prints export lines (fails if not running)
#   tests/servers/rgw.sh status   # exit 0 if RGW answers HTTP on its port
#   tests/servers/rgw.sh stop     # kills the daemons, deletes the state folder
#   eval "$(tests/servers/rgw.sh env)"
#
# State (config, mon store, logs, pid files, admin sockets) lives in
# $LIFEBOAT_SERVERS_DIR/rgw (default <repo>/.test-servers/rgw, gitignored).
# Object data lives in the OSD's RAM (memstore): it is gone after stop.
# Ports come from ports.env. Needs the packages of install.sh.
#
# S3 user: access key "lifeboat", secret "lifeboat-secret" (a normal user,
# deliberately not --system: system users break CreateBucket responses).
# Region: RGW ignores the region in SigV4, any value (e.g. us-east-1) works.
#
# Bucket notifications (HTTP push), checked with the Debian AWS CLI v2
# (/usr/bin/aws 2.9.19, AWS_CA_BUNDLE unset, AWS_ACCESS_KEY_ID/SECRET from env):
#
#   aws --endpoint-url http://127.0.0.1:7480 sns create-topic --name lifeboat-events \
#       --attributes push-endpoint=http://127.0.0.1:18111/events
#   # -> {"TopicArn": "arn:aws:sns:default::lifeboat-events"}
#   aws --endpoint-url http://127.0.0.1:7480 s3api put-bucket-notification-configuration \
#       --bucket BUCKET --notification-configuration '{"TopicConfigurations":[{
#         "Id":"lifeboat","TopicArn":"arn:aws:sns:default::lifeboat-events",
#         "Events":["s3:ObjectCreated:*","s3:ObjectRemoved:*"]}]}'
#   aws --endpoint-url http://127.0.0.1:7480 s3api get-bucket-notification-configuration --bucket BUCKET
#   aws --endpoint-url http://127.0.0.1:7480 sns list-topics
#   aws --endpoint-url http://127.0.0.1:7480 sns delete-topic --topic-arn arn:aws:sns:default::lifeboat-events
#
# The same CreateTopic over plain HTTP (SigV4-signed, service "sns" or "s3"):
#   POST / HTTP/1.1   Content-Type: application/x-www-form-urlencoded; charset=utf-8
#   Action=CreateTopic&Version=2010-03-31&Name=lifeboat-events
#     &Attributes.entry.1.key=push-endpoint
#     &Attributes.entry.1.value=http%3A%2F%2F127.0.0.1%3A18111%2Fevents
#   -> 200 <CreateTopicResponse ...><CreateTopicResult>
#        <TopicArn>arn:aws:sns:default::lifeboat-events</TopicArn>...
# CreateTopic is idempotent (same name -> same ARN; a repeat replaces the push
# endpoint). In 16.2 topics belong to the tenant, not to a user (even an
# unsigned CreateTopic succeeds), and the ARN is
# arn:aws:sns:<zonegroup, "default">::<name>, whatever region was signed for.
# Removing a bucket's notifications: RGW rejects an empty
# <NotificationConfiguration/> PUT with 400 MalformedXML (the CLI then crashes
# with "argument of type 'NoneType' is not iterable"); use the RGW extension
#   DELETE /BUCKET?notification            (200, removes all of them)
# A push endpoint may carry the webhook's token as user-info,
#   push-endpoint=http://lifeboat:TOKEN@127.0.0.1:18111/events
# which RGW's HTTP client (libcurl) sends as "Authorization: Basic base64(lifeboat:TOKEN)". RGW stores such an
# endpoint only when CreateTopic came over a secure transport (else 400 InvalidInput, "endpoint validation error:
# sending password over insecure transport" in its log): the gateway below trusts "X-Forwarded-Proto: https"
# (rgw trust forwarded https), which the tests send with a signed CreateTopic (the AWS CLI cannot add headers).
# Events are POSTed (S3 event JSON, {"Records":[...]}, eventSource "ceph:s3")
# synchronously, before the object PUT/DELETE returns; if the endpoint is down
# the event is dropped (unless the topic has persistent=true: async, queued).
# Known crash: DeleteObjects (multi-object delete) on a bucket with a
# notification configuration aborts radosgw 16.2.15; use single deletes there.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/ports.env
. "$SCRIPT_DIR/ports.env"

SERVERS_DIR=${LIFEBOAT_SERVERS_DIR:-$REPO_DIR/.test-servers}
STATE=$SERVERS_DIR/rgw
CONF=$STATE/ceph.conf
RGW_NAME=client.rgw.lifeboat
PORT=$LIFEBOAT_RGW_PORT
ENDPOINT=http://127.0.0.1:$PORT
STS_NAME=client.rgw.sts
STS_PORT=$LIFEBOAT_RGW_STS_PORT
STS_ENDPOINT=http://127.0.0.1:$STS_PORT
ACCESS_KEY=lifeboat
SECRET_KEY=lifeboat-secret
READY_TIMEOUT=${LIFEBOAT_RGW_READY_TIMEOUT:-90}
# RAM the memstore OSD may use for object data (allocated only when written).
MEMSTORE_BYTES=${LIFEBOAT_RGW_MEMSTORE_BYTES:-$((8 * 1024 * 1024 * 1024))}

log() { printf 'rgw.sh: %s\n' "$*" >&2; }
# Seconds since $1 (an $EPOCHREALTIME value), with one decimal.
elapsed() { awk -v a="${1/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.1f", b - a }'; }
die() { printf 'rgw.sh: ERROR: %s\n' "$*" >&2; exit 1; }

show_logs() {
  local f
  for f in "$STATE"/log/{cluster,mon.a,osd.0,client.admin,setup,radosgw}.log; do
    [[ -s $f ]] || continue
    printf -- '--- last lines of %s ---\n' "$f" >&2
    tail -n 25 "$f" >&2
  done
}
fail() {
  printf 'rgw.sh: ERROR: %s\n' "$*" >&2
  show_logs
  printf 'rgw.sh: ERROR: %s (state and logs left in %s; "rgw.sh stop" cleans up)\n' "$*" "$STATE" >&2
  exit 1
}

need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' not found: run tests/servers/install.sh (as root) first"
  done
}

print_env() {
  printf 'export LIFEBOAT_S3_ENDPOINT=%s\n' "$ENDPOINT"
  printf 'export LIFEBOAT_S3_ACCESS_KEY=%s\n' "$ACCESS_KEY"
  printf 'export LIFEBOAT_S3_SECRET_KEY=%s\n' "$SECRET_KEY"
  printf 'export LIFEBOAT_S3_STS_ENDPOINT=%s\n' "$STS_ENDPOINT"
  printf 'export LIFEBOAT_S3_ROLE_ARN=%s\n' "arn:aws:iam:::role/lifeboat-dr"
  printf 'export LIFEBOAT_S3_READONLY_ROLE_ARN=%s\n' "arn:aws:iam:::role/lifeboat-readonly"
}

# Two roles the user 'lifeboat' may assume through RGW's STS (role_arn tests): lifeboat-dr may do anything in S3,
# lifeboat-readonly may only read.
ROLE_TRUST='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/lifeboat"]},"Action":["sts:AssumeRole"]}]}'
roles_ready() { admin role get --role-name=lifeboat-dr >/dev/null 2>&1 && admin role get --role-name=lifeboat-readonly >/dev/null 2>&1; }
make_roles() {
  local role
  for role in lifeboat-dr lifeboat-readonly; do
    admin role get --role-name=$role >/dev/null 2>&1 ||
      admin role create --role-name=$role --path=/ --assume-role-policy-doc="$ROLE_TRUST" >>"$STATE/log/setup.log" 2>&1 ||
      fail "radosgw-admin role create $role failed"
  done
  admin role-policy put --role-name=lifeboat-dr --policy-name=s3-all \
    --policy-doc='{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}}' \
    >>"$STATE/log/setup.log" 2>&1 || fail "radosgw-admin role-policy put failed"
  admin role-policy put --role-name=lifeboat-readonly --policy-name=s3-read \
    --policy-doc='{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectTagging","s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::*"]}}' \
    >>"$STATE/log/setup.log" 2>&1 || fail "radosgw-admin role-policy put failed"
}

# RGW answers an anonymous GET / with an (empty) ListAllMyBucketsResult.
rgw_answers() {
  local body
  body=$(curl -sS --noproxy '*' --max-time 3 "${1:-$ENDPOINT}/" 2>/dev/null) || return 1
  [[ $body == *ListAllMyBucketsResult* ]]
}
sts_answers() { rgw_answers "$STS_ENDPOINT"; }

ceph_cmd() { ceph -c "$CONF" --connect-timeout 5 "$@"; }
admin() { radosgw-admin -c "$CONF" "$@"; }

# Our S3 user exists with the fixed keys.
user_ready() {
  admin user info --uid=lifeboat 2>/dev/null | grep -q "\"secret_key\": \"$SECRET_KEY\""
}

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# Pids of our daemons: those named by the pid files (if the pid still belongs
# to a Ceph daemon: a stale file may name a reused pid) plus any Ceph daemon
# whose command line names our ceph.conf (pid files lost with a deleted folder).
our_pids() {
  local f pid comm cmdline
  {
    for f in "$STATE"/run/*.pid; do
      [[ -f $f ]] || continue
      pid=$(tr -dc '0-9' <"$f" || true)
      [[ -n $pid ]] || continue
      comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
      case $comm in ceph-mon|ceph-osd|radosgw) echo "$pid" ;; esac
    done
    for f in /proc/[0-9]*/comm; do
      comm=$(cat "$f" 2>/dev/null || true)
      case $comm in ceph-mon|ceph-osd|radosgw) ;; *) continue ;; esac
      pid=${f#/proc/}
      pid=${pid%/comm}
      cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
      [[ $cmdline == *"-c $CONF "* ]] && echo "$pid"
    done
  } | sort -un
}

# SIGKILL, on purpose: stop discards all state (memstore keeps objects in
# RAM, the folder is deleted), so a graceful shutdown saves nothing, and it is
# slow and order-dependent (SIGTERM: radosgw takes ~2 s, the OSD waits 5 s for
# a mon ack, and radosgw hangs 120 s if the OSD went first).
kill_daemons() {
  local pids pid deadline
  mapfile -t pids < <(our_pids)
  ((${#pids[@]} > 0)) || return 0
  kill -KILL "${pids[@]}" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  for pid in "${pids[@]}"; do
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    pid_alive "$pid" && die "could not kill pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null))"
  done
  return 0
}

# Fails if something that is not ours listens on a port we need.
check_port_free() {
  local port=$1 what=$2
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port ($what) on 127.0.0.1 is already in use by another process; set the variable in tests/servers/ports.env or the environment to another port"
  fi
}

do_stop() {
  kill_daemons
  if [[ -d $STATE ]]; then
    rm -rf -- "$STATE"
  fi
}

write_conf() {
  local fsid=$1
  cat >"$CONF" <<CONF
# Generated by tests/servers/rgw.sh; wiped by 'rgw.sh stop'.
[global]
fsid = $fsid
mon initial members = a
mon host = [v2:127.0.0.1:$LIFEBOAT_CEPH_MON_PORT,v1:127.0.0.1:$LIFEBOAT_CEPH_MON_V1_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind port min = $LIFEBOAT_CEPH_OSD_PORT_MIN
ms bind port max = $LIFEBOAT_CEPH_OSD_PORT_MAX

# no cephx
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
ms mon client mode = crc

# everything inside the state folder
run dir = $STATE/run
admin socket = $STATE/run/\$name.asok
pid file = $STATE/run/\$name.pid
log file = $STATE/log/\$name.log
mon cluster log file = $STATE/log/cluster.log
crash dir = $STATE/crash
keyring = /dev/null
log to stderr = false
err to stderr = true
log to syslog = false

# one OSD, no replication, few PGs
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000

[mon]
mon data = $STATE/mon/\$cluster-\$id
mon data avail warn = 2
mon data avail crit = 1
# commit map changes at once instead of batching them for 1 s: RGW creates
# its pools one after the other at first start (~8 s saved)
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $STATE/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd heartbeat addr = 127.0.0.1

[$RGW_NAME]
host = localhost
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $STATE/rgw
pid file = $STATE/run/radosgw.pid
log file = $STATE/log/radosgw.log
ms mon client mode = crc
auth client required = none
# A push endpoint with the webhook token as user-info (http://lifeboat:TOKEN@host/events) is accepted by CreateTopic
# only over a secure transport; over plain HTTP, RGW 16.2 counts a request as secure when it carries
# "X-Forwarded-Proto: https" and this is set (16.2 has no "rgw allow notification secrets in cleartext").
rgw trust forwarded https = true

# A second gateway with STS (AssumeRole), so role_arn is tested against a real server. Apart from the first: with
# STS on, RGW answers AccessDenied instead of InvalidAccessKeyId/SignatureDoesNotMatch for wrong credentials. The key
# encrypts session tokens (16 bytes); the roles are created by make_roles.
[$STS_NAME]
host = localhost
rgw frontends = beast endpoint=127.0.0.1:$STS_PORT
rgw data = $STATE/rgw-sts
pid file = $STATE/run/radosgw-sts.pid
log file = $STATE/log/radosgw-sts.log
ms mon client mode = crc
auth client required = none
rgw sts key = lifeboat0sts0key
rgw s3 auth use sts = true
CONF
}

# Polls "$@" until it succeeds or the deadline passes.
wait_for() {
  local what=$1 deadline=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what not ready after ${READY_TIMEOUT} s"
    sleep 0.25
  done
}

osd_up() { ceph_cmd osd dump --format=json 2>/dev/null | grep -q '"up":1'; }

do_start() {
  need ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool curl
  if rgw_answers && sts_answers && [[ -f $CONF ]] && user_ready && roles_ready; then
    log "already running on $ENDPOINT"
    print_env
    return 0
  fi

  # Unclean leftovers (stale pid files, half-started cluster, daemons whose
  # folder was deleted, a crashed radosgw): kill, wipe and recreate.
  if [[ -e $STATE ]]; then
    log "removing previous state in $STATE"
  fi
  do_stop
  check_port_free "$PORT" LIFEBOAT_RGW_PORT
  check_port_free "$STS_PORT" LIFEBOAT_RGW_STS_PORT
  check_port_free "$LIFEBOAT_CEPH_MON_PORT" LIFEBOAT_CEPH_MON_PORT
  check_port_free "$LIFEBOAT_CEPH_MON_V1_PORT" LIFEBOAT_CEPH_MON_V1_PORT

  local t0=$EPOCHREALTIME deadline=$((SECONDS + READY_TIMEOUT)) fsid osd_uuid osd_id
  mkdir -p "$STATE"/{run,log,mon,osd,rgw,crash}
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"

  log "starting ceph-mon (state: $STATE)"
  monmaptool --create --fsid "$fsid" \
    --addv a "[v2:127.0.0.1:$LIFEBOAT_CEPH_MON_PORT,v1:127.0.0.1:$LIFEBOAT_CEPH_MON_V1_PORT]" \
    "$STATE/monmap" >>"$STATE/log/setup.log" 2>&1 || fail "monmaptool failed (see $STATE/log/setup.log)"
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$STATE/monmap" >>"$STATE/log/setup.log" 2>&1 \
    || fail "ceph-mon --mkfs failed"
  ceph-mon -c "$CONF" -i a </dev/null >>"$STATE/log/setup.log" 2>&1 9>&- || fail "ceph-mon did not start"
  wait_for "ceph-mon" "$deadline" ceph_cmd mon stat

  log "starting ceph-osd (memstore)"
  osd_id=$(ceph_cmd osd new "$osd_uuid" 2>>"$STATE/log/setup.log") || fail "ceph osd new failed"
  [[ $osd_id == 0 ]] || fail "expected OSD id 0, got '$osd_id'"
  mkdir -p "$STATE/osd/ceph-0"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$STATE/log/setup.log" 2>&1 \
    || fail "ceph-osd --mkfs failed"
  ceph-osd -c "$CONF" -i 0 </dev/null >>"$STATE/log/setup.log" 2>&1 9>&- || fail "ceph-osd did not start"
  wait_for "ceph-osd" "$deadline" osd_up

  log "starting radosgw on 127.0.0.1:$PORT"
  radosgw -c "$CONF" -n "$RGW_NAME" </dev/null >>"$STATE/log/setup.log" 2>&1 9>&- || fail "radosgw did not start"
  wait_for "radosgw" "$deadline" rgw_answers
  log "starting the STS gateway on 127.0.0.1:$STS_PORT"
  mkdir -p "$STATE/rgw-sts"
  radosgw -c "$CONF" -n "$STS_NAME" </dev/null >>"$STATE/log/setup.log" 2>&1 9>&- || fail "radosgw (STS) did not start"
  wait_for "radosgw (STS)" "$deadline" sts_answers

  if ! user_ready; then
    admin user create --uid=lifeboat --display-name="Lifeboat tests" \
      --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$STATE/log/setup.log" 2>&1 \
      || fail "radosgw-admin user create failed"
  fi
  user_ready || fail "S3 user 'lifeboat' missing after creation"
  make_roles
  log "ready on $ENDPOINT in $(elapsed "$t0") s"
  print_env
}

do_status() {
  if rgw_answers; then
    log "running on $ENDPOINT"
    return 0
  fi
  log "not answering on $ENDPOINT"
  return 1
}

# start and stop hold a lock (outside the state folder, which stop deletes) so
# that concurrent callers, e.g. parallel test processes, do not race. Daemons
# are started with fd 9 closed, else they would hold the lock forever.
with_lock() {
  mkdir -p "$SERVERS_DIR"
  exec 9>"$SERVERS_DIR/.rgw.lock"
  flock -w 300 9 || die "timed out waiting for the lock $SERVERS_DIR/.rgw.lock"
}

case ${1:-} in
  start) with_lock; do_start ;;
  stop) with_lock; do_stop; log "stopped" ;;
  status) do_status ;;
  env)
    rgw_answers || die "RGW is not answering on $ENDPOINT: run 'tests/servers/rgw.sh start' first"
    print_env
    ;;
  *) printf 'usage: %s start|stop|status|env\n' "$0" >&2; exit 2 ;;
esac
