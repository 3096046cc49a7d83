#!/bin/sh
# Kill every process left in a jail's network namespace and wait until none
# remains, so the namespace, its interfaces and its mounts can go away.
#
# usage: jail-reap.sh NETNS_NAME [INIT_PID INIT_STARTTIME]
#
# INIT_PID is killed only when its start time still matches: a PID reused by
# an unrelated process after a crash is never signalled.
set -u
netns=$1
init_pid=${2:-}
init_start=${3:-}

start_time_of() {
	[ -r "/proc/$1/stat" ] || return 1
	read -r stat_line <"/proc/$1/stat" || return 1
	rest=${stat_line##*) }
	# shellcheck disable=SC2086
	set -- $rest
	shift 19
	echo "$1"
}

if [ -n "$init_pid" ] && [ "$(start_time_of "$init_pid" || true)" = "$init_start" ]; then
	kill -KILL "$init_pid" 2>/dev/null || true
fi

[ -e "/run/netns/$netns" ] || exit 0
tries=50
while :; do
	pids=$(ip netns pids "$netns" 2>/dev/null || true)
	[ -z "$pids" ] && exit 0
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	tries=$((tries - 1))
	if [ "$tries" -le 0 ]; then
		echo "processes still in network namespace $netns: $pids" >&2
		exit 1
	fi
	sleep 0.1
done
