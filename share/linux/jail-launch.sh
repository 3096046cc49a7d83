#!/bin/sh
# Start a jail's init in the background, detached from qjail, and wait until
# it has recorded itself as running (or has died trying).
#
# usage: jail-launch.sh CONSOLE_LOG STATE_FILE TIMEOUT_SECONDS -- PROGRAM [ARG...]
#
# The init's stdio goes to the console log so that nothing keeps qjail's
# pipes open once this script returns; the jail outlives the qjail process.
set -eu
console_log=$1
state_file=$2
timeout=$3
shift 3
[ "${1:-}" = "--" ] && shift

setsid "$@" >>"$console_log" 2>&1 </dev/null &
child=$!

alive() {
	# a zombie still answers kill -0, so look at the state letter instead
	[ -r "/proc/$child/stat" ] || return 1
	read -r stat_line <"/proc/$child/stat" || return 1
	rest=${stat_line##*) }
	[ "${rest%% *}" != "Z" ]
}

ticks=$((timeout * 10))
while [ ! -s "$state_file" ]; do
	if ! alive; then
		echo "the jail's init exited during start-up; last lines of $console_log:" >&2
		tail -n 15 "$console_log" >&2 || true
		exit 1
	fi
	ticks=$((ticks - 1))
	if [ "$ticks" -le 0 ]; then
		echo "the jail's init did not report ready within ${timeout}s (see $console_log)" >&2
		exit 1
	fi
	sleep 0.1
done
