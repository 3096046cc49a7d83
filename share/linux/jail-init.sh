#!/bin/sh
# Becomes PID 1 of a jail on Linux. Started by jail-launch.sh through
#   qjail-helper launch --netns /run/netns/NETNS ... -- /bin/sh jail-init.sh ...
# so it already runs in the jail's own network, mount, UTS, IPC, PID and
# cgroup namespaces, with its output on the helper's console-log pipe. It
# builds the jail's filesystem view with the host's own programs, records
# itself as running, and hands over to `qjail-helper init`, which pivots into
# the jail's root, closes every other descriptor, installs the syscall filter,
# drops capabilities and only then execs the jail's /etc/rc.init (which runs
# /etc/rc and reaps orphans). Nothing from the jail's tree runs before that.
#
# usage: jail-init.sh ROOT FSTAB HOSTNAME STATE_FILE JID NETNS HOST_IF JAIL_IF CAPS PATH IP4 IP6 HELPER BRIDGE SHM_SIZE RLIMITS
#   SHM_SIZE: the size= of the jail's /dev/shm tmpfs (rctl shmsize); RLIMITS: "" or
#   comma-separated RES=N for the helper (openfiles: nofile=N)
#   ROOT, FSTAB, STATE_FILE, HELPER: physical host paths
#   FSTAB: the jail's mounts in order (the shared base read-only, /proc and its
#     read-only knobs, /sys, the /dev and /run tmpfs), written by qjail start
#   CAPS: the capability bounding set the jail keeps, comma-separated (setpriv names)
#   PATH, IP4, IP6: the jail's logical root and addresses, recorded for liveJails
set -eu
root=$1 fstab=$2 jail_hostname=$3 state_file=$4 jid=$5 netns=$6 host_if=$7 jail_if=$8 caps=$9
shift 9
logical_root=$1 ip4=$2 ip6=$3 helper=$4 bridge=$5 shm_size=$6 rlimits=$7

# Nothing mounted from here on may propagate back to the host.
mount --make-rprivate /

# pivot_root needs the new root to be a mount point.
mount --bind "$root" "$root"

# Every other mount, in the fstab's order, by one mount process (qjail.fstab's
# nullfs line and jail(8)'s mount.devfs on FreeBSD).
mount -a -T "$fstab"

# A minimal /dev (its tmpfs came from the fstab): devfs ruleset 4's devices and nothing of the host's.
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/zero" c 1 5
mknod -m 666 "$root/dev/full" c 1 7
mknod -m 666 "$root/dev/random" c 1 8
mknod -m 666 "$root/dev/urandom" c 1 9
mknod -m 666 "$root/dev/tty" c 5 0
mkdir -m 755 "$root/dev/pts"
mkdir -m 1777 "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5,nosuid,noexec devpts "$root/dev/pts"
mount -t tmpfs -o "mode=1777,nosuid,nodev,size=$shm_size" tmpfs "$root/dev/shm"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"


hostname "$jail_hostname"

# Record this init as the running jail. The PID and start time are read
# through the host's /proc (still mounted at /proc here), so they are the
# host's view: a PID reused after a crash never matches the start time.
read -r stat_line </proc/self/stat
host_pid=${stat_line%% *}
rest=${stat_line##*) }
# shellcheck disable=SC2086
set -- $rest
shift 19
start_time=$1
printf 'jid=%s\npid=%s\nstarttime=%s\nnetns=%s\nhostif=%s\njailif=%s\nbridge=%s\npath=%s\nip4=%s\nip6=%s\n' \
	"$jid" "$host_pid" "$start_time" "$netns" "$host_if" "$jail_if" "$bridge" "$logical_root" "$ip4" "$ip6" >"$state_file.tmp"
mv -f "$state_file.tmp" "$state_file"

# Into the jail's root (the host's tree detached, not just hidden), confined
# before the first program of the jail's runs.
set -- "$helper" init --root "$root" --caps "$caps"
old_ifs=$IFS
IFS=,
for r in $rlimits; do
	set -- "$@" --rlimit "$r"
done
IFS=$old_ifs
exec "$@" -- /bin/sh /etc/rc.init
