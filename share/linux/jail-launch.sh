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
	[ -r "/proc/$1/stat" ] || return 1
	read -r stat_line <"/proc/$1/stat" || return 1
	rest=${stat_line##*) }
	[ "${rest%% *}" != "Z" ]
}

ticks=$((timeout * 50))
while [ ! -s "$state_file" ]; do
	if ! alive "$child"; then
		echo "the jail's init exited during start-up; last lines of $console_log:" >&2
		tail -n 15 "$console_log" >&2 || true
		exit 1
	fi
	ticks=$((ticks - 1))
	if [ "$ticks" -le 0 ]; then
		echo "the jail's init did not report ready within ${timeout}s (see $console_log)" >&2
		exit 1
	fi
	sleep 0.02
done

# Like jail(8)'s exec.start, return once the jail's /etc/rc has finished:
# /etc/rc.init marks it in the jail's own /run, seen here through /proc/PID/root.
init_pid=$(sed -n 's/^pid=//p' "$state_file")
while [ ! -e "/proc/$init_pid/root/run/qjail.rc-done" ]; do
	if ! alive "$init_pid"; then
		echo "the jail's init exited while /etc/rc ran; last lines of $console_log:" >&2
		tail -n 15 "$console_log" >&2 || true
		exit 1
	fi
	ticks=$((ticks - 1))
	if [ "$ticks" -le 0 ]; then
		echo "the jail's /etc/rc did not finish within ${timeout}s (see $console_log)" >&2
		exit 1
	fi
	sleep 0.02
done
