#!/usr/bin/env bash
# Make sure a Docker engine answers on /var/run/docker.sock (or $DOCKER_HOST): install Debian's
# docker.io if needed and start dockerd in the background if nothing answers.
set -euo pipefail
here="$(dirname "$0")"
if docker info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null || "$here/apt-install.sh" docker.io
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
  echo "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine first" >&2; exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "starting dockerd (log: /var/log/stowage-dockerd.log)" >&2
$sudo sh -c 'nohup dockerd >/var/log/stowage-dockerd.log 2>&1 &'
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not come up; see /var/log/stowage-dockerd.log" >&2
tail -20 /var/log/stowage-dockerd.log >&2 || true
exit 1
