#!/usr/bin/env bash
# Start Redis and PostgreSQL on 127.0.0.1 if they are not already answering (fresh machines).
set -uo pipefail
if ! (redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG); then
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || echo "warning: could not start redis" >&2
  else
    echo "warning: redis-server is not installed; Redis tests will be skipped (failed under CI=1)" >&2
  fi
fi
if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start \
      || echo "warning: could not start PostgreSQL" >&2
  fi
fi
for _ in $(seq 1 20); do
  (redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG) && break
  sleep 0.5
done
exit 0
