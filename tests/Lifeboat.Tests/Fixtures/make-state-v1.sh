#!/usr/bin/env bash
# How tests/Lifeboat.Tests/Fixtures/state-v1.db was made: a state file written by the last release without a schema
# version (schema version 1), kept so that every later Lifeboat is tested opening and upgrading it
# (StateFileTests.StateV1Fixture_*). Run from a checkout of that release (main at 45b494c), with DynamoDB Local at
# LIFEBOAT_DDB_ENDPOINT (default http://127.0.0.1:18000):
#   bash tests/Lifeboat.Tests/Fixtures/make-state-v1.sh OUT.db
# It replicates a folder-to-folder bucket (photos, with a delete held by `deletes: 1h`), a second bucket that a
# failover runbook stops (archive: its mode, stopped, is in the file), and a DynamoDB table (orders), then runs that
# runbook (an execution with its steps and timeline). The test recreates the data from the same recipe
# (StateFileTests.FixtureData); only the state file is kept.
set -euo pipefail
out=$(realpath -m "${1:?usage: make-state-v1.sh OUT.db}")
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
endpoint=${LIFEBOAT_DDB_ENDPOINT:-http://127.0.0.1:18000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export AWS_ACCESS_KEY_ID=lifeboat AWS_SECRET_ACCESS_KEY=lifeboat-secret AWS_DEFAULT_REGION=us-east-1
export LIFEBOAT_TEST_DDB_AK=lifeboat LIFEBOAT_TEST_DDB_SK=lifeboat-secret AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
suffix=$(date +%s)
src=fixture-orders-$suffix
aws dynamodb create-table --endpoint-url "$endpoint" --table-name "$src" --billing-mode PAY_PER_REQUEST \
  --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=N \
  --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
  --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES >/dev/null
for i in 1 2 3; do
  aws dynamodb put-item --endpoint-url "$endpoint" --table-name "$src" --item "{\"pk\":{\"S\":\"o$i\"},\"sk\":{\"N\":\"$i\"},\"v\":{\"S\":\"order $i\"}}"
done
mkdir -p primary/photos primary/archive recovery
for i in 1 2 3 4 5; do echo "photo $i" > "primary/photos/p$i.jpg"; done
echo "old log" > primary/archive/a1.log
cat > lifeboat.yaml <<EOF
state: state/state.db
stores:
  primary:  { type: file, path: primary }
  recovery: { type: file, path: recovery }
  ddb-primary:  { type: dynamodb, endpoint: $endpoint, region: us-east-1, access_key_env: LIFEBOAT_TEST_DDB_AK, secret_key_env: LIFEBOAT_TEST_DDB_SK }
  ddb-recovery: { type: dynamodb, endpoint: $endpoint, region: us-west-2, access_key_env: LIFEBOAT_TEST_DDB_AK, secret_key_env: LIFEBOAT_TEST_DDB_SK }
resources:
  - name: photos
    type: bucket
    source: { store: primary, bucket: photos }
    target: { store: recovery, bucket: photos-dr }
    deletes: 1h
  - name: archive
    type: bucket
    source: { store: primary, bucket: archive }
    target: { store: recovery, bucket: archive-dr }
  - name: orders
    type: table
    source: { store: ddb-primary, table: $src }
    target: { store: ddb-recovery, table: $src-dr }
    create_target: true
runbooks:
  failover:
    steps:
      - name: stop-archive
        replication: { resource: archive, action: stop }
      - name: note
        needs: [stop-archive]
        exec: echo failed over
EOF
"$root/lifeboat" replicate -c lifeboat.yaml --once
rm primary/photos/p5.jpg
"$root/lifeboat" replicate -c lifeboat.yaml --once --resource photos
"$root/lifeboat" failover -c lifeboat.yaml --yes
"$root/lifeboat" status -c lifeboat.yaml
aws dynamodb delete-table --endpoint-url "$endpoint" --table-name "$src" >/dev/null
aws dynamodb delete-table --endpoint-url "$endpoint" --table-name "$src-dr" >/dev/null
test ! -e state/state.db-wal # every command closed it cleanly: nothing left in a write-ahead log
cp state/state.db "$out"
sqlite3 "$out" 'PRAGMA user_version; SELECT name FROM sqlite_master WHERE type="table" ORDER BY name;'
