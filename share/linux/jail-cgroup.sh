#!/bin/sh
# A jail's control groups (its resource limits), made before its init starts
# and removed after its last process ended. The paths and values come from
# qjail's plan (src/core/linux/limits.ts: cgroupPlan), v1 or v2 alike.
#
# usage: jail-cgroup.sh create [--device-of PATH] DIR... -- FILE VALUE [FILE VALUE]...
#        jail-cgroup.sh remove DIR...
#
# --device-of PATH: a VALUE may name @DEVICE@, replaced by MAJ:MIN of the
# whole disk holding PATH (the jail's tree, mounted by then: an image jail's
# loop device). The kernel throttles whole disks, not partitions.
set -eu
cmd=$1
shift

# MAJ:MIN of the whole block device holding $1, or a reason on stderr.
device_of() {
	majmin=$(stat -c '%Hd:%Ld' -- "$1") || return 1
	sys=/sys/dev/block/$majmin
	if [ ! -e "$sys/dev" ]; then
		echo "io limits: $1 is on no block device ($majmin: tmpfs, overlay, btrfs or a network filesystem); give the jail an image (qjail create -i) or lift them (qjail config --readbps unlimited ...)" >&2
		return 1
	fi
	if [ -e "$sys/partition" ]; then
		read -r majmin <"$sys/../dev"
	fi
	echo "$majmin"
}

case $cmd in
create)
	device=
	if [ "${1:-}" = "--device-of" ]; then
		device=$(device_of "$2")
		shift 2
	fi
	n=0
	for a; do
		[ "$a" = "--" ] && break
		n=$((n + 1))
	done
	# every hierarchy's directory with one mkdir (each process costs at every
	# start): POSIX sh cannot slice "$@", so the first n go to the back and the
	# rest is shifted away, in the subshell that becomes mkdir
	(
		total=$#
		i=0
		for a; do
			[ "$i" -lt "$n" ] && set -- "$@" "$a"
			i=$((i + 1))
		done
		shift "$total"
		exec mkdir -p -- "$@"
	)
	shift "$n"
	[ "${1:-}" = "--" ] && shift
	while [ $# -ge 2 ]; do
		value=$2
		case $value in
		*@DEVICE@*) value="${value%%@DEVICE@*}$device${value#*@DEVICE@}" ;;
		esac
		printf '%s\n' "$value" >"$1"
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
