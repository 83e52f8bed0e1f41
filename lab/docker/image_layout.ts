/**
 * Where things are inside the lab's images (users, paths), apart from the
 * Docker code so that the pure run plan can name them.
 *
 * @module
 */

/** The user tcpdump, and the holder that starts it, drop their privileges to inside the image. */
export const CAPTURE_UID = 101;

/** Where a host program's image holds strace, which runs the program traced. */
export const STRACE_IN_IMAGE = "/usr/bin/strace";

/**
 * The folder of a host program's image where a volume is mounted for strace's log (`-o`): a
 * volume, not a tmpfs, because a tmpfs's files are gone once the container exits.
 */
export const STRACE_LOG_DIR = "/tcplab-strace";

/** strace's log of a traced program, in STRACE_LOG_DIR. */
export const STRACE_LOG = `${STRACE_LOG_DIR}/calls.strace`;

/** Where the middlebox's image has this host's iptables. */
export const IPTABLES_IN_IMAGE = "/usr/sbin/iptables";

/** Where the middlebox's image has this host's tc (iproute2), for a path's rates. */
export const TC_IN_IMAGE = "/usr/sbin/tc";

/** The lab's own program in its images (the entry point of the endpoint image; `tcplab queue` in the middlebox). */
export const TCPLAB_IN_IMAGE = "/tcplab";
