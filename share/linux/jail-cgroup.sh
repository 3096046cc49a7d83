#!/bin/sh
# A jail's control groups (its resource limits), made before its init starts
# and removed after its last process ended. The paths and values come from
# qjail's plan (src/core/linux/limits.ts: cgroupPlan), v1 or v2 alike.
#
# usage: jail-cgroup.sh create DIR... -- FILE VALUE [FILE VALUE]...
#        jail-cgroup.sh remove DIR...
set -eu
cmd=$1
shift
case $cmd in
create)
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		mkdir -p "$1"
		shift
	done
	[ "${1:-}" = "--" ] && shift
	while [ $# -ge 2 ]; do
		printf '%s\n' "$2" >"$1"
		shift 2
	done
	;;
remove)
	status=0
	for dir; do
		[ -d "$dir" ] || continue
		# the last processes may still be leaving (a zombie counts until it is reaped)
		tries=50
		until rmdir "$dir" 2>/dev/null; do
			tries=$((tries - 1))
			if [ "$tries" -le 0 ]; then
				echo "cannot remove $dir: processes still in it" >&2
				status=1
				break
			fi
			sleep 0.1
		done
	done
	exit $status
	;;
*)
	echo "usage: jail-cgroup.sh create DIR... -- FILE VALUE... | remove DIR..." >&2
	exit 64
	;;
esac
