/*
 * tcplab: the endpoint program of the TCP teardown lab.
 *
 *   tcplab hold [--capture PROGRAM ARG...] [--steps STEP...]
 *                        Keeps a network namespace alive (PID 1 of its
 *                        container, like a pod's pause container) and prints
 *                        the namespace's TCP counters and socket tables: once
 *                        at start, again on every SIGUSR1. Started as root, it
 *                        deletes the default route, starts PROGRAM (the lab's
 *                        tcpdump) and a child for the STEPs (as nobody, waiting
 *                        for SIGHUP; their output relayed), then keeps only
 *                        CAP_KILL. SIGQUIT kills the steps; SIGUSR2 takes a
 *                        last snapshot and stops PROGRAM; SIGTERM/SIGINT: exit.
 *   tcplab run STEP...   A scenario's server or client: performs the steps in
 *                        order and logs every system call as JSON lines.
 *
 * Build: gcc -static -O2 -Wall -Wextra -Werror -o tcplab tcplab.c
 *
 * It runs in a FROM-scratch image (the steps as uid 65534 with no
 * capabilities), so it uses libc only and no name service (static glibc
 * cannot load NSS modules):
 * addresses are numeric and parsed with inet_pton. See README.md beside this
 * file for the step list and the log format.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

/* Both clocks, in ns: real time to line up with pcaps, monotonic time to
 * line up with tracefs. */
struct stamp {
	unsigned long long real, mono;
};

static unsigned long long clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static struct stamp stamp_now(void)
{
	struct stamp s;

	s.real = clock_ns(CLOCK_REALTIME);
	s.mono = clock_ns(CLOCK_MONOTONIC);
	return s;
}

/* Unbuffered output: every line or chunk goes straight to the kernel, so a
 * program killed in a blocking call has already told everything before it. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nobody is listening any more: nothing to tell */
		}
		p += w;
		n -= (size_t)w;
	}
}

static void out_str(const char *s)
{
	write_all(STDOUT_FILENO, s, strlen(s));
}

struct errname {
	int num;
	const char *name;
};

#define E(x) { x, #x }
static const struct errname errnames[] = {
	E(ECONNRESET), E(EPIPE), E(ECONNREFUSED), E(ECONNABORTED), E(ETIMEDOUT),
	E(ENOTCONN), E(EISCONN), E(EALREADY), E(EINPROGRESS), E(EAGAIN),
	E(EINTR), E(EBADF), E(EINVAL), E(ENOTSOCK), E(EADDRINUSE),
	E(EADDRNOTAVAIL), E(EAFNOSUPPORT), E(EHOSTUNREACH), E(EHOSTDOWN),
	E(ENETUNREACH), E(ENETDOWN), E(ENETRESET), E(ESHUTDOWN), E(ENOBUFS),
	E(ENOMEM), E(ENOPROTOOPT), E(EOPNOTSUPP), E(EPROTONOSUPPORT),
	E(EPROTOTYPE), E(EDESTADDRREQ), E(EMSGSIZE), E(EACCES), E(EPERM),
	E(EFAULT), E(EMFILE), E(ENFILE), E(ENOENT), E(ENOTTY), E(ENOSYS),
	E(EIO), E(EEXIST), E(ENODEV), E(ENXIO), E(ESRCH), E(EBUSY), E(EROFS),
	E(ENOSPC), E(ERANGE), E(ELOOP), E(ENAMETOOLONG), E(EPROTO),
};
#undef E

/* Symbolic errno name ("ECONNRESET"), "E<number>" for the rare others. */
static const char *errno_name(int e)
{
	static char other[24];

	for (size_t i = 0; i < sizeof errnames / sizeof errnames[0]; i++)
		if (errnames[i].num == e)
			return errnames[i].name;
	snprintf(other, sizeof other, "E%d", e);
	return other;
}

/* ------------------------------------------------------------------------ */
/* JSON lines                                                               */
/* ------------------------------------------------------------------------ */

/* One line being built: {"key":value,...}\n, then written at once. */
static struct {
	char *p;
	size_t len, cap;
	bool first;
} line;

static void line_put(const char *s, size_t n)
{
	if (line.len + n > line.cap) {
		size_t cap = line.cap ? line.cap * 2 : 512;

		while (cap < line.len + n)
			cap *= 2;
		line.p = realloc(line.p, cap);
		if (!line.p)
			abort();
		line.cap = cap;
	}
	memcpy(line.p + line.len, s, n);
	line.len += n;
}

static void line_putc(char ch)
{
	line_put(&ch, 1);
}

static void json_string(const char *s)
{
	static const char hex[] = "0123456789abcdef";

	line_putc('"');
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			line_putc('\\');
			line_putc((char)*c);
		} else if (*c < 0x20 || *c >= 0x7f) {
			/* Control bytes, and bytes that might not be UTF-8: \u00XX
			 * keeps the line valid JSON whatever argv held. */
			char u[6] = { '\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15] };

			line_put(u, sizeof u);
		} else {
			line_putc((char)*c);
		}
	}
	line_putc('"');
}

static void line_key(const char *key)
{
	if (!line.first)
		line_putc(',');
	line.first = false;
	json_string(key);
	line_putc(':');
}

static void key_str(const char *key, const char *value)
{
	line_key(key);
	if (value)
		json_string(value);
	else
		line_put("null", 4);
}

static void key_int(const char *key, long long value)
{
	char buf[24];

	line_key(key);
	line_put(buf, (size_t)snprintf(buf, sizeof buf, "%lld", value));
}

/* Times are strings: a JSON number (a double in JavaScript) cannot hold a
 * nanosecond timestamp exactly. */
static void key_ns(const char *key, unsigned long long ns)
{
	char buf[24];

	line_key(key);
	line_put(buf, (size_t)snprintf(buf, sizeof buf, "\"%llu\"", ns));
}

static void key_stamp(struct stamp t)
{
	key_ns("real", t.real);
	key_ns("mono", t.mono);
}

static void line_begin(const char *ph)
{
	line.len = 0;
	line.first = true;
	line_putc('{');
	key_str("ph", ph);
}

static void line_end(void)
{
	line_put("}\n", 2);
	write_all(STDOUT_FILENO, line.p, line.len);
}

/* ------------------------------------------------------------------------ */
/* Mode 1: hold                                                             */
/* ------------------------------------------------------------------------ */

static const char *const snapshot_files[] = {
	"/proc/net/netstat",        /* TcpExt: TCPAbortOnClose, TCPAbortOnData... */
	"/proc/net/snmp",           /* Tcp: AttemptFails, EstabResets, OutRsts */
	"/proc/net/tcp",            /* sockets left (TIME_WAIT...) */
	"/proc/net/tcp6",
	"/proc/sys/kernel/osrelease",
	"/proc/net/route",
};

static void dump_unreadable(int e)
{
	out_str("(unreadable: ");
	out_str(errno_name(e));
	out_str(")\n");
}

/* "--- PATH" and the file verbatim, ending in a newline. A missing file is
 * reported in place so that the snapshot is still complete. */
static void dump_file(const char *path)
{
	static char buf[65536];
	char last = '\n';
	ssize_t r;
	int fd;

	out_str("--- ");
	out_str(path);
	out_str("\n");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		dump_unreadable(errno);
		return;
	}
	while ((r = read(fd, buf, sizeof buf)) != 0) {
		if (r < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			if (last != '\n')
				out_str("\n");
			dump_unreadable(e);
			close(fd);
			return;
		}
		write_all(STDOUT_FILENO, buf, (size_t)r);
		last = buf[r - 1];
	}
	close(fd);
	if (last != '\n')
		out_str("\n");
}

static void snapshot(unsigned n)
{
	struct stamp t = stamp_now();
	char head[96];

	snprintf(head, sizeof head, "=== tcplab-snapshot BEGIN %u real=%llu mono=%llu\n", n, t.real, t.mono);
	out_str(head);
	for (size_t i = 0; i < sizeof snapshot_files / sizeof snapshot_files[0]; i++)
		dump_file(snapshot_files[i]);
	snprintf(head, sizeof head, "=== tcplab-snapshot END %u\n", n);
	out_str(head);
}

static void on_signal(int sig)
{
	(void)sig; /* never runs: the signals stay blocked and sigwaitinfo takes them */
}

/* Delete every IPv4 default route of this namespace, over rtnetlink.
 * Docker before 25 gives a container on an Internal network a default route
 * via the network's gateway address; with inhibit_ipv4 nobody holds that
 * address, but the lab's containers should have no route out at all.
 * Returns the number of routes deleted, or -1 with errno set. */
static int delete_default_routes(void)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
	} req;
	char answer[4096];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int deleted = 0;

	if (fd < 0)
		return -1;
	for (int seq = 1; seq < 16; seq++) {
		memset(&req, 0, sizeof req);
		req.nh.nlmsg_len = sizeof req;
		req.nh.nlmsg_type = RTM_DELROUTE;
		req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		req.nh.nlmsg_seq = (unsigned)seq;
		req.rt.rtm_family = AF_INET;
		req.rt.rtm_dst_len = 0; /* 0.0.0.0/0: the default route */
		req.rt.rtm_table = RT_TABLE_MAIN;
		req.rt.rtm_scope = RT_SCOPE_NOWHERE; /* any scope, any type */
		if (send(fd, &req, sizeof req, 0) < 0)
			break;
		ssize_t n = recv(fd, answer, sizeof answer, 0);
		struct nlmsghdr *nh = (struct nlmsghdr *)answer;
		if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || nh->nlmsg_type != NLMSG_ERROR)
			break;
		int error = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
		if (error == 0) {
			deleted++;
			continue;
		}
		errno = -error;
		if (errno == ESRCH) /* no default route left */
			break;
		close(fd);
		return -1;
	}
	close(fd);
	return deleted;
}

static int run(int argc, char **argv);

/* What a holder looks after: the capture (tcpdump) it started, and the
 * scenario's steps, run by a child of its own whose output it relays. */
struct holder {
	pid_t capture;      /* tcpdump, or 0 */
	pid_t steps;        /* the steps' process, or 0 (not started, or reaped) */
	int steps_status;   /* its wait status, once reaped */
	int go;             /* write end of the pipe the steps wait on, or -1 */
	int out[2];         /* read ends of the steps' stdout and stderr, or -1 */
	char pending[2][8192];
	size_t pending_len[2];
	unsigned snapshots;
};

/* Become `uid`, with no supplementary groups: setuid() away from root clears
 * every capability. */
static void become(uid_t uid)
{
	if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
		fprintf(stderr, "tcplab hold: could not become uid %u: %s\n", (unsigned)uid, errno_name(errno));
		_exit(3);
	}
}

/* Keep only CAP_KILL: root with no other capability may still stop its
 * children, tcpdump (uid 101) and the steps (uid 65534), and nothing more. */
static void keep_only_cap_kill(void)
{
	struct { uint32_t version; int pid; } hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
	struct { uint32_t effective, permitted, inheritable; } data[2];

	memset(data, 0, sizeof data);
	data[0].effective = data[0].permitted = 1u << 5; /* CAP_KILL */
	if (syscall(SYS_capset, &hdr, data) != 0) {
		printf("=== tcplab-hold: could not drop capabilities: %s\n", errno_name(errno));
		fflush(stdout);
		_exit(3);
	}
}

/* The steps' process: nobody, no capabilities, killed with its holder. It
 * waits until the holder says go (a byte on `go`), then runs the steps with
 * its stdout and stderr on pipes the holder relays. */
static pid_t start_steps(struct holder *h, int nsteps, char **steps)
{
	int go[2], out[2], err[2];

	if (pipe2(go, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		char byte;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		become(65534);
		/* after become(): a change of uid clears the parent-death signal */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0UL, 0UL, 0UL);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		close(go[1]);
		while (read(go[0], &byte, 1) < 0 && errno == EINTR)
			;
		close(go[0]); /* the steps' first socket is fd 3, as in a program of its own */
		steps[-1] = "run";
		_exit(run(nsteps + 1, steps - 1));
	}
	close(go[0]);
	close(out[1]);
	close(err[1]);
	if (pid < 0) {
		close(go[1]);
		close(out[0]);
		close(err[0]);
		return -1;
	}
	h->go = go[1];
	h->out[0] = out[0];
	h->out[1] = err[0];
	return pid;
}

/* Started as root (with NET_ADMIN, NET_RAW, SETUID, SETGID, CHOWN, KILL):
 * remove the default route, start tcpdump (which opens its capture socket as
 * root and then drops to its own user) and the steps' process (nobody), then
 * keep only CAP_KILL while waiting. */
static void start_children(struct holder *h, char **capture, int nsteps, char **steps)
{
	int deleted = delete_default_routes();
	if (deleted < 0)
		printf("=== tcplab-hold: could not delete the default route: %s\n", errno_name(errno));
	else
		printf("=== tcplab-hold: deleted %d default route(s)\n", deleted);
	fflush(stdout);
	if (capture) {
		pid_t pid = fork();
		if (pid == 0) {
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			signal(SIGPIPE, SIG_DFL);
			execv(capture[0], capture);
			fprintf(stderr, "tcplab hold: cannot start %s: %s\n", capture[0], errno_name(errno));
			_exit(127);
		}
		if (pid < 0)
			printf("=== tcplab-hold: could not start %s: %s\n", capture[0], errno_name(errno));
		else
			h->capture = pid;
	}
	if (nsteps > 0) {
		h->steps = start_steps(h, nsteps, steps);
		if (h->steps < 0) {
			printf("=== tcplab-hold: could not start the steps: %s\n", errno_name(errno));
			h->steps = 0;
		}
	}
	fflush(stdout);
	if (h->capture || h->steps)
		keep_only_cap_kill();
}

/* Copy what a steps pipe has to our stdout (steps' stdout) or stderr (with
 * "[steps] " before each line), whole lines only, so that a line never mixes
 * with a snapshot. At EOF, the rest, and the pipe is closed. */
static void relay(struct holder *h, int which)
{
	char *buf = h->pending[which];
	size_t *len = &h->pending_len[which];
	int fd = which == 0 ? STDOUT_FILENO : STDERR_FILENO;
	ssize_t n = read(h->out[which], buf + *len, sizeof h->pending[which] - *len - 1);

	if (n < 0 && errno == EINTR)
		return;
	if (n > 0)
		*len += (size_t)n;
	bool eof = n <= 0;
	size_t start = 0;
	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n' && !(eof && i + 1 == *len) && !(start == 0 && i + 1 == sizeof h->pending[which] - 1))
			continue;
		if (which == 1)
			write_all(fd, "[steps] ", 8);
		write_all(fd, buf + start, i + 1 - start);
		if (buf[i] != '\n')
			write_all(fd, "\n", 1);
		start = i + 1;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
	if (eof) {
		close(h->out[which]);
		h->out[which] = -1;
	}
}

/* "=== tcplab-hold: WHAT exited with status N", N as a shell gives it. */
static void say_exited(const char *what, int status)
{
	printf("=== tcplab-hold: %s exited with status %d\n", what,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	fflush(stdout);
}

/* Reap every child that has exited. The steps' end is told by the loop,
 * once their output is all relayed (h->steps -1 until then). */
static void reap(struct holder *h)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == h->capture) {
			h->capture = 0;
			say_exited("capture", status);
		} else if (pid == h->steps) {
			h->steps = -1;
			h->steps_status = status;
		}
	}
}

/* Stop tcpdump with SIGINT (it then writes its statistics) and wait for it. */
static void stop_capture(struct holder *h)
{
	if (h->capture <= 0)
		return;
	kill(h->capture, SIGINT);
	while (h->capture > 0) {
		int status;
		pid_t pid = waitpid(h->capture, &status, 0);
		if (pid < 0 && errno != EINTR)
			break;
		if (pid == h->capture)
			say_exited("capture", status);
	}
	h->capture = 0;
}

static int hold(char **capture, int nsteps, char **steps)
{
	static const int sigs[] = { SIGUSR1, SIGUSR2, SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGCHLD };
	struct holder h = { .go = -1, .out = { -1, -1 } };
	struct sigaction sa;
	sigset_t set;

	/* PID 1 of a PID namespace never gets a signal whose action is the
	 * default one, so each gets a handler. They are blocked and read from a
	 * signalfd: a signal sent before the loop waits for it. SIGCHLD too:
	 * children (tcpdump, the steps, orphans of a `docker exec`) are reaped
	 * in the loop. A closed stdout must not kill the holder. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&set, sigs[i]);
	}
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (getuid() == 0) {
		start_children(&h, capture, nsteps, steps);
		if (h.steps == 0 && h.capture == 0)
			become(65534);
	}
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		printf("=== tcplab-hold: signalfd: %s\n", errno_name(errno));
		return 3;
	}
	snapshot(++h.snapshots);
	for (;;) {
		/* The steps exited and all their output is relayed: say so, once. */
		if (h.steps < 0 && h.out[0] < 0 && h.out[1] < 0) {
			say_exited("steps", h.steps_status);
			h.steps = 0;
		}
		struct pollfd fds[3] = {
			{ .fd = h.out[0], .events = POLLIN },
			{ .fd = h.out[1], .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		if (poll(fds, 3, -1) < 0)
			continue; /* EINTR after a stop and continue */
		/* The steps' output first: a signal read in the same round (the
		 * end of the run) must come after every line they wrote. */
		for (int i = 0; i < 2; i++)
			if (fds[i].revents)
				relay(&h, i);
		if (!(fds[2].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof si) != sizeof si)
			continue;
		switch (si.ssi_signo) {
		case SIGUSR1: /* one more snapshot */
			snapshot(++h.snapshots);
			break;
		case SIGHUP: /* go: the steps begin */
			if (h.go >= 0) {
				write_all(h.go, "g", 1);
				close(h.go);
				h.go = -1;
			}
			break;
		case SIGQUIT: /* the run took too long: stop the steps */
			if (h.steps > 0)
				kill(h.steps, SIGKILL);
			break;
		case SIGCHLD:
			reap(&h);
			break;
		case SIGUSR2:
			/* The end of a run: the last snapshot first (the programs are
			 * done, and stopping the capture sends no packet), then tcpdump
			 * is stopped and waited for; the namespace stays until SIGTERM,
			 * so the pcap can still be read. */
			snapshot(++h.snapshots);
			stop_capture(&h);
			printf("=== tcplab-hold: done\n");
			fflush(stdout);
			break;
		case SIGTERM:
		case SIGINT:
			if (h.steps > 0)
				kill(h.steps, SIGKILL);
			stop_capture(&h);
			return 0;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Mode 2: run — state and call logging                                     */
/* ------------------------------------------------------------------------ */

struct step;

/* One kind of step: its name, how to parse its argument, how to run it. */
struct step_def {
	const char *name;
	const char *usage;  /* shown when the argument is wrong */
	/* NULL: the step takes no argument. Otherwise returns NULL when `arg`
	 * is good, else what is wrong with it. */
	const char *(*parse)(struct step *st, const char *arg);
	void (*run)(struct step *st);
	int level, optname; /* socket-option steps only */
	const char *optlabel;
};

/* One step of the command line, parsed. Each kind uses a few fields. */
struct step {
	const struct step_def *def;
	const char *token;             /* the argv word, for messages */
	char text[96];                 /* address or option, as logged in "args" */
	struct sockaddr_storage addr;  /* listen, connect */
	socklen_t addrlen;
	int backlog;                   /* listen */
	uint32_t mask, until;          /* epoll, poll */
	long long n;                   /* byte counts, milliseconds, ns */
	int how;                       /* shutdown */
	int ival;                      /* nodelay, rcvbuf, sndbuf */
	struct linger linger;          /* linger */
	bool deferred;                 /* socket option waiting for a socket */
};

static struct {
	struct step *steps;
	int cur;          /* 1-based index of the running step */
	int conn;         /* current connection socket, -1 if none */
	bool conn_seen;   /* a connection socket existed (now maybe closed) */
	int lsn;          /* listening socket, -1 if none */
	bool lsn_seen;
	int ep;           /* epoll instance, -1 until the first epoll step */
	int ep_fd;        /* the socket registered in it, -1 if none */
	int conns[64];    /* every connection socket, in the order made; -1 once closed */
	int nconns;
} lab = { .conn = -1, .lsn = -1, .ep = -1, .ep_fd = -1 };

/* A new connection socket (connect, accept) becomes the current one, and
 * number nconns for `use`. */
static void new_conn(int fd)
{
	lab.conn = fd;
	lab.conn_seen = true;
	if (lab.nconns < (int)(sizeof lab.conns / sizeof lab.conns[0]))
		lab.conns[lab.nconns++] = fd;
}

#define NO_FD INT_MIN /* the call takes no descriptor: no "fd" key */

/* One system call: what goes into its "enter" and "return" lines. */
struct call {
	const char *name;
	int fd;
	char args[160];
	/* The enter line is normally written just before the call. A held call
	 * writes it only with its return line, or never if the return is not
	 * worth logging: wait loops use this to keep repeated, identical,
	 * instant results out of the log. */
	bool held;
	struct stamp t0, t1;
	long long ret;
	int err;                /* errno after a failed call, 0 on success */
	/* optional keys, written when set */
	char events[96];
	bool has_value, has_bytes;
	long long value;
	long long iterations;   /* 0: no key */
	char local[64], peer[64];
};

static void call_init(struct call *c, const char *name, int fd, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void call_init(struct call *c, const char *name, int fd, const char *fmt, ...)
{
	va_list ap;

	memset(c, 0, sizeof *c);
	c->name = name;
	c->fd = fd;
	va_start(ap, fmt);
	vsnprintf(c->args, sizeof c->args, fmt, ap);
	va_end(ap);
}

static void call_head(const struct call *c, const char *ph)
{
	line_begin(ph);
	key_int("step", lab.cur);
	key_str("call", c->name);
	if (c->fd != NO_FD)
		key_int("fd", c->fd);
	key_str("args", c->args);
}

static void write_enter(const struct call *c)
{
	call_head(c, "enter");
	key_stamp(c->t0);
	line_end();
}

/* Right before the system call. */
static void call_enter(struct call *c)
{
	c->t0 = stamp_now();
	if (!c->held)
		write_enter(c);
}

/* Right after the system call: errno first, before anything can change it. */
static void call_leave(struct call *c, long long ret)
{
	int e = errno;

	c->t1 = stamp_now();
	c->ret = ret;
	c->err = ret < 0 ? e : 0;
}

static void call_log(const struct call *c)
{
	if (c->held)
		write_enter(c);
	call_head(c, "return");
	key_int("ret", c->ret);
	key_str("errno", c->err ? errno_name(c->err) : NULL);
	if (c->events[0])
		key_str("events", c->events);
	if (c->has_value)
		key_int("value", c->value);
	if (c->has_bytes)
		key_int("bytes", c->ret);
	if (c->iterations)
		key_int("iterations", c->iterations);
	key_stamp(c->t1);
	if (c->local[0])
		key_str("local", c->local);
	if (c->peer[0])
		key_str("peer", c->peer);
	line_end();
}

static long long call_done(struct call *c, long long ret)
{
	call_leave(c, ret);
	call_log(c);
	return ret;
}

/* Something the program did or skipped that is not a system call. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	line_begin("note");
	key_int("step", lab.cur);
	key_str("text", text);
	key_stamp(stamp_now());
	line_end();
}

/* ------------------------------------------------------------------------ */
/* Addresses and event words                                                */
/* ------------------------------------------------------------------------ */

/* "10.0.0.1:9999" or "[::1]:9999". */
static void addr_format(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(out, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, len, "family-%d", ss->ss_family);
	}
}

static unsigned addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/* The socket's own address (when it has a port) and its peer's, for the
 * return line: the pcap shows ports, the log must name the same ones. */
static void call_names(struct call *c, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (fd < 0)
		return;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && addr_port(&ss) != 0)
		addr_format(&ss, c->local, sizeof c->local);
	len = sizeof ss;
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		addr_format(&ss, c->peer, sizeof c->peer);
}

struct bitname {
	uint32_t bit;
	const char *name;
};

/* The order in which the log names the bits. */
static const struct bitname epoll_bits[] = {
	{ EPOLLIN, "EPOLLIN" }, { EPOLLOUT, "EPOLLOUT" }, { EPOLLRDHUP, "EPOLLRDHUP" },
	{ EPOLLHUP, "EPOLLHUP" }, { EPOLLERR, "EPOLLERR" }, { EPOLLPRI, "EPOLLPRI" },
};
static const struct bitname poll_bits[] = {
	{ POLLIN, "POLLIN" }, { POLLOUT, "POLLOUT" }, { POLLRDHUP, "POLLRDHUP" },
	{ POLLHUP, "POLLHUP" }, { POLLERR, "POLLERR" }, { POLLNVAL, "POLLNVAL" },
	{ POLLPRI, "POLLPRI" },
};
#define NBITS(t) (sizeof(t) / sizeof((t)[0]))

/* "EPOLLIN|EPOLLRDHUP"; bits without a name as 0x... at the end. */
static void bits_format(uint32_t mask, const struct bitname *t, size_t n, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!(mask & t[i].bit))
			continue;
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "|" : "", t[i].name);
		mask &= ~t[i].bit;
		if (used >= len)
			return;
	}
	if (mask)
		snprintf(out + used, len - used, "%s0x%x", used ? "|" : "", (unsigned)mask);
}

static void epoll_words(uint32_t mask, char *out, size_t len)
{
	bits_format(mask, epoll_bits, NBITS(epoll_bits), out, len);
}

static void poll_words(uint32_t mask, char *out, size_t len)
{
	bits_format(mask, poll_bits, NBITS(poll_bits), out, len);
}

/* ------------------------------------------------------------------------ */
/* Socket options (linger, nodelay, rcvbuf, sndbuf)                         */
/* ------------------------------------------------------------------------ */

static void set_option(const struct step *st, int fd)
{
	const struct step_def *d = st->def;
	const void *val = &st->ival;
	socklen_t len = sizeof st->ival;
	struct call c;

	if (d->level == SOL_SOCKET && d->optname == SO_LINGER) {
		val = &st->linger;
		len = sizeof st->linger;
	}
	call_init(&c, "setsockopt", fd, "%s", st->text);
	call_enter(&c);
	call_done(&c, setsockopt(fd, d->level, d->optname, val, len));
}

/* Options given before any socket exists wait for the socket of the next
 * connect or listen, and are set before connect()/bind(): SO_RCVBUF only
 * shapes the window scale if it is set before the handshake. */
static void apply_deferred(int fd)
{
	for (int i = 0; i < lab.cur - 1; i++) {
		struct step *st = &lab.steps[i];

		if (st->deferred) {
			set_option(st, fd);
			st->deferred = false;
		}
	}
}

/* Which socket an option step acts on: the connection; before any
 * connection, the listening socket (accepted sockets inherit its options);
 * before any socket, none (-> deferred). A closed one stays the target, as
 * -1, so that the call fails with EBADF as a real program's would. */
static void run_sockopt(struct step *st)
{
	int fd;

	if (lab.conn_seen)
		fd = lab.conn;
	else if (lab.lsn_seen)
		fd = lab.lsn;
	else {
		st->deferred = true;
		note("%s deferred: no socket yet; set on the socket of the next connect or listen", st->text);
		return;
	}
	set_option(st, fd);
}

/* ------------------------------------------------------------------------ */
/* Steps: connection set-up                                                 */
/* ------------------------------------------------------------------------ */

static int open_socket(const struct step *st)
{
	int family = st->addr.ss_family;
	struct call c;
	int fd;

	call_init(&c, "socket", NO_FD, "%s SOCK_STREAM", family == AF_INET6 ? "AF_INET6" : "AF_INET");
	call_enter(&c);
	fd = (int)call_done(&c, socket(family, SOCK_STREAM, 0));
	if (fd >= 0)
		apply_deferred(fd);
	return fd;
}

static void run_listen(struct step *st)
{
	static const int one = 1;
	struct call c;
	int fd = open_socket(st);

	lab.lsn = fd;
	lab.lsn_seen = true;

	call_init(&c, "setsockopt", fd, "SO_REUSEADDR=1");
	call_enter(&c);
	call_done(&c, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));

	call_init(&c, "bind", fd, "%s", st->text);
	call_enter(&c);
	call_leave(&c, bind(fd, (const struct sockaddr *)&st->addr, st->addrlen));
	call_names(&c, fd); /* the port, if it was 0 */
	call_log(&c);

	call_init(&c, "listen", fd, "backlog=%d", st->backlog);
	call_enter(&c);
	call_leave(&c, listen(fd, st->backlog));
	call_names(&c, fd);
	call_log(&c);
}

static void run_accept(struct step *st)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof peer;
	struct call c;
	int fd;

	(void)st;
	call_init(&c, "accept", lab.lsn, "%s", "");
	call_enter(&c);
	fd = accept(lab.lsn, (struct sockaddr *)&peer, &len);
	call_leave(&c, fd);
	if (fd >= 0) {
		call_names(&c, fd);
		/* accept's own answer: getpeername fails if a RST came first */
		addr_format(&peer, c.peer, sizeof c.peer);
		new_conn(fd);
	}
	call_log(&c);
}

static void run_connect(struct step *st)
{
	struct call c;
	int fd = open_socket(st);

	new_conn(fd);
	call_init(&c, "connect", fd, "%s", st->text);
	call_enter(&c);
	call_leave(&c, connect(fd, (const struct sockaddr *)&st->addr, st->addrlen));
	/* also after a failure: the local port names the refused SYN in the pcap */
	call_names(&c, fd);
	call_log(&c);
}

/* ------------------------------------------------------------------------ */
/* Steps: waiting                                                           */
/* ------------------------------------------------------------------------ */

/* Creates the epoll instance once, adds (or modifies) fd; true if fd is
 * now registered with the step's mask. */
static bool epoll_register(const struct step *st, int fd)
{
	struct epoll_event ev;
	char words[96];
	struct call c;
	int op;

	if (lab.ep < 0) {
		call_init(&c, "epoll_create1", NO_FD, "0");
		call_enter(&c);
		lab.ep = (int)call_done(&c, epoll_create1(0));
	}
	/* A second connect left the first socket open and registered: remove it,
	 * so that the events we see are the current socket's. */
	if (lab.ep_fd >= 0 && lab.ep_fd != fd) {
		call_init(&c, "epoll_ctl", lab.ep, "EPOLL_CTL_DEL fd=%d", lab.ep_fd);
		call_enter(&c);
		call_done(&c, epoll_ctl(lab.ep, EPOLL_CTL_DEL, lab.ep_fd, NULL));
		lab.ep_fd = -1;
	}
	op = (fd >= 0 && fd == lab.ep_fd) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	memset(&ev, 0, sizeof ev);
	ev.events = st->mask; /* level-triggered */
	ev.data.fd = fd;
	epoll_words(st->mask, words, sizeof words);
	call_init(&c, "epoll_ctl", lab.ep, "%s fd=%d %s",
		  op == EPOLL_CTL_ADD ? "EPOLL_CTL_ADD" : "EPOLL_CTL_MOD", fd, words);
	call_enter(&c);
	if (call_done(&c, epoll_ctl(lab.ep, op, fd, &ev)) < 0)
		return false;
	lab.ep_fd = fd;
	return true;
}

/* epoll=MASK[:UNTIL]: epoll_wait until an event has a bit of UNTIL. */
static void run_epoll(struct step *st)
{
	uint32_t logged = 0;
	bool ready = false;

	if (!epoll_register(st, lab.conn)) {
		note("epoll_wait skipped: epoll_ctl failed, epoll_wait would block forever");
		return;
	}
	for (long long iter = 1;; iter++) {
		struct epoll_event evs[8];
		uint32_t mask = 0;
		struct call c;
		bool done;
		int n;

		call_init(&c, "epoll_wait", lab.ep, "maxevents=8 timeout=-1");
		/* Level-triggered: what the last call reported is still there, so
		 * this call returns at once. Log it only if it shows news. */
		c.held = ready;
		call_enter(&c);
		n = epoll_wait(lab.ep, evs, 8, -1);
		call_leave(&c, n);
		for (int i = 0; i < n; i++)
			mask |= evs[i].events;
		epoll_words(mask, c.events, sizeof c.events);
		c.iterations = iter;
		done = (n < 0 && c.err != EINTR) || (mask & st->until);
		if (!c.held || done || n < 0 || mask != logged) {
			call_log(&c);
			logged = mask;
		}
		if (done)
			break;
		ready = n > 0;
	}
}

/* poll=MASK: one poll(-1) (again after EINTR). */
static void run_poll(struct step *st)
{
	int fd = lab.conn;

	if (fd < 0) {
		/* poll() ignores a negative fd and would never return */
		note("poll skipped: no connection socket, it would block forever");
		return;
	}
	for (long long iter = 1;; iter++) {
		struct pollfd pfd = { .fd = fd, .events = (short)st->mask, .revents = 0 };
		char words[96];
		struct call c;
		int n;

		poll_words(st->mask, words, sizeof words);
		call_init(&c, "poll", fd, "%s timeout=-1", words);
		call_enter(&c);
		n = poll(&pfd, 1, -1);
		call_leave(&c, n);
		if (n > 0)
			poll_words((uint16_t)pfd.revents, c.events, sizeof c.events);
		c.iterations = iter;
		call_log(&c);
		if (n >= 0 || c.err != EINTR)
			break;
	}
}

/* wait-pending: poll the listening socket until a connection waits in its
 * accept queue (POLLIN), without accepting it. */
static void run_wait_pending(struct step *st)
{
	struct pollfd pfd = { .fd = lab.lsn, .events = POLLIN, .revents = 0 };
	struct call c;
	int n;

	(void)st;
	if (lab.lsn < 0) {
		note("wait-pending skipped: no listening socket, it would block forever");
		return;
	}
	do {
		call_init(&c, "poll", lab.lsn, "POLLIN timeout=-1");
		call_enter(&c);
		n = poll(&pfd, 1, -1);
		call_leave(&c, n);
	} while (n < 0 && c.err == EINTR);
	if (n > 0)
		poll_words((uint16_t)pfd.revents, c.events, sizeof c.events);
	call_log(&c);
}

/* wait-unread=N: wait, without reading, until N bytes are in the receive
 * queue (how the founding case's client knows the server's byte arrived).
 * POLLRDHUP is asked too: after the peer's FIN no more bytes can come. */
static void run_wait_unread(struct step *st)
{
	const short ends = POLLRDHUP | POLLHUP | POLLERR | POLLNVAL;
	short logged_rev = 0;
	int logged_val = -1;
	bool ready = false;
	int fd = lab.conn;

	if (fd < 0) {
		note("wait-unread skipped: no connection socket, poll would block forever");
		return;
	}
	for (long long iter = 1;; iter++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0 };
		struct call p, q;
		bool done, news;
		int n, r, v = 0;

		call_init(&p, "poll", fd, "POLLIN|POLLRDHUP timeout=-1");
		p.held = ready; /* see run_epoll */
		call_enter(&p);
		n = poll(&pfd, 1, -1);
		call_leave(&p, n);
		if (n > 0)
			poll_words((uint16_t)pfd.revents, p.events, sizeof p.events);
		p.iterations = iter;
		if (!p.held)
			call_log(&p);

		call_init(&q, "ioctl", fd, "FIONREAD");
		q.held = p.held;
		call_enter(&q);
		r = ioctl(fd, FIONREAD, &v);
		call_leave(&q, r);
		q.has_value = r == 0;
		q.value = v;
		q.iterations = iter;

		done = r < 0 || v >= st->n || (n < 0 && p.err != EINTR) || (n > 0 && (pfd.revents & ends));
		news = n < 0 || r < 0 || pfd.revents != logged_rev || v != logged_val;
		if (!p.held || done || news) {
			if (p.held)
				call_log(&p);
			call_log(&q);
			logged_rev = pfd.revents;
			logged_val = v;
		}
		if (done)
			break;
		ready = n > 0;
	}
}

/* wait-unsent-below=N: SIOCOUTQ (bytes not yet acknowledged) every 1 ms
 * until it is below N. Only the first and the last ioctl are logged; the
 * 1 ms sleeps between them are not. */
static void run_wait_unsent(struct step *st)
{
	static const struct timespec ms = { 0, 1000000 };
	int fd = lab.conn;

	for (long long iter = 1;; iter++) {
		struct call c;
		bool done;
		int r, v = 0;

		call_init(&c, "ioctl", fd, "SIOCOUTQ");
		c.held = iter > 1;
		call_enter(&c);
		r = ioctl(fd, SIOCOUTQ, &v);
		call_leave(&c, r);
		c.has_value = r == 0;
		c.value = v;
		c.iterations = iter;
		done = r < 0 || v < st->n;
		if (!c.held || done)
			call_log(&c);
		if (done)
			break;
		nanosleep(&ms, NULL);
	}
}

/* fionread, siocoutq: one ioctl. */
static void ioctl_value(unsigned long req, const char *label)
{
	struct call c;
	int r, v = 0;

	call_init(&c, "ioctl", lab.conn, "%s", label);
	call_enter(&c);
	r = ioctl(lab.conn, req, &v);
	call_leave(&c, r);
	c.has_value = r == 0;
	c.value = v;
	call_log(&c);
}

static void run_fionread(struct step *st)
{
	(void)st;
	ioctl_value(FIONREAD, "FIONREAD");
}

static void run_siocoutq(struct step *st)
{
	(void)st;
	ioctl_value(SIOCOUTQ, "SIOCOUTQ");
}

/* ------------------------------------------------------------------------ */
/* Steps: data and teardown                                                 */
/* ------------------------------------------------------------------------ */

#define WRITE_CHUNK (1 << 20)
#define READ_CHUNK 65536

/* write=N: "1" for one byte (the founding case's server), else the
 * repeating 0123456789, so that byte k of the stream is '0' + k % 10. */
static void run_write(struct step *st)
{
	size_t chunk = st->n < WRITE_CHUNK ? (size_t)st->n : WRITE_CHUNK;
	char *buf = malloc(chunk + 10);
	long long total = 0;

	if (!buf)
		abort();
	for (size_t i = 0; i < chunk + 10; i++)
		buf[i] = (char)('0' + i % 10);
	if (st->n == 1)
		buf[0] = '1';
	do {
		size_t want = (size_t)(st->n - total) < chunk ? (size_t)(st->n - total) : chunk;
		struct call c;
		ssize_t w;

		call_init(&c, "write", lab.conn, "len=%zu", want);
		call_enter(&c);
		w = write(lab.conn, buf + total % 10, want);
		call_leave(&c, w);
		c.has_bytes = w >= 0;
		call_log(&c);
		if (w <= 0)
			break;
		total += w;
	} while (total < st->n);
	free(buf);
}

/* One logged read; returns its result. */
static ssize_t read_once(size_t want)
{
	static char buf[READ_CHUNK];
	struct call c;
	ssize_t r;

	call_init(&c, "read", lab.conn, "len=%zu", want);
	call_enter(&c);
	r = read(lab.conn, buf, want);
	call_leave(&c, r);
	c.has_bytes = r >= 0;
	call_log(&c);
	return r;
}

/* read=N: until N bytes, EOF or an error. */
static void run_read(struct step *st)
{
	long long total = 0;

	do {
		long long left = st->n - total;
		ssize_t r = read_once(left < READ_CHUNK ? (size_t)left : READ_CHUNK);

		if (r <= 0)
			break;
		total += r;
	} while (total < st->n);
}

static void run_read_eof(struct step *st)
{
	(void)st;
	while (read_once(READ_CHUNK) > 0)
		;
}

static void run_shutdown(struct step *st)
{
	static const char *const names[] = { "SHUT_RD", "SHUT_WR", "SHUT_RDWR" };
	struct call c;

	call_init(&c, "shutdown", lab.conn, "%s", names[st->how]);
	call_enter(&c);
	call_done(&c, shutdown(lab.conn, st->how));
}

/* close the socket in *fdp; it is gone after close(), even when close()
 * fails, so later steps get EBADF. */
static void close_fd(int *fdp)
{
	int fd = *fdp;
	struct call c;

	call_init(&c, "close", fd, "%s", "");
	call_enter(&c);
	call_done(&c, close(fd));
	*fdp = -1;
	if (fd >= 0 && lab.ep_fd == fd)
		lab.ep_fd = -1; /* closing removed it from the epoll set */
}

static void run_close(struct step *st)
{
	(void)st;
	for (int i = 0; i < lab.nconns; i++)
		if (lab.conns[i] == lab.conn && lab.conn >= 0)
			lab.conns[i] = -1;
	close_fd(&lab.conn);
}

/* use=N: the N-th connection this program made (connect or accept, from 1)
 * becomes the current one. No system call; a note in the log. One that is
 * closed or was never made leaves no current socket: later calls get EBADF. */
static void run_use(struct step *st)
{
	int fd = st->n >= 1 && st->n <= lab.nconns ? lab.conns[st->n - 1] : -1;

	lab.conn = fd;
	if (fd >= 0)
		note("connection %lld (fd %d) is the current one", st->n, fd);
	else
		note("connection %lld is closed or was never made: no current socket", st->n);
}

static void run_close_listener(struct step *st)
{
	(void)st;
	close_fd(&lab.lsn);
}

static void run_sleep(struct step *st)
{
	struct timespec ts = { st->n / 1000, st->n % 1000 * 1000000 };
	struct call c;

	call_init(&c, "nanosleep", NO_FD, "ms=%lld", st->n);
	call_enter(&c);
	call_done(&c, nanosleep(&ts, NULL));
}

/* at=REAL_NS: sleep until an absolute real time, to line up two programs. */
static void run_at(struct step *st)
{
	/* Sleep until 20 ms before the moment, then spin on the clock: a wakeup
	 * from sleep can come 100 us or more late on a busy machine, more than
	 * the round trip that two "simultaneous" close() calls must beat. */
	const long long spin_ns = 20000000;
	long long early = st->n > spin_ns ? st->n - spin_ns : 0;
	struct timespec ts = { early / 1000000000, early % 1000000000 };
	struct timespec now;
	struct call c;
	int r;

	call_init(&c, "clock_nanosleep", NO_FD, "CLOCK_REALTIME TIMER_ABSTIME %lld", st->n);
	call_enter(&c);
	r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
	while (r == 0) {
		clock_gettime(CLOCK_REALTIME, &now);
		if ((long long)now.tv_sec * 1000000000LL + now.tv_nsec >= st->n)
			break;
	}
	/* it returns the error number instead of setting errno: log it the
	 * way the other calls are logged, ret -1 and errno */
	errno = r;
	call_done(&c, r ? -1 : 0);
}

static void log_end(int status)
{
	line_begin("end");
	key_int("status", status);
	key_stamp(stamp_now());
	line_end();
}

/* exit: end the process without closing anything; the kernel closes the
 * sockets as part of exit. The enter line has no return line, by nature. */
static void run_exit(struct step *st)
{
	struct call c;

	(void)st;
	call_init(&c, "_exit", NO_FD, "0");
	call_enter(&c);
	log_end(0);
	_exit(0);
}

/* ------------------------------------------------------------------------ */
/* Argument parsing                                                         */
/* ------------------------------------------------------------------------ */

static char why[160]; /* what was wrong, for the message */

/* Strict decimal: digits only (a leading '-' if min < 0), within range. */
static bool parse_num(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!(*s >= '0' && *s <= '9') && !(min < 0 && *s == '-'))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ADDR:PORT, [IPV6]:PORT or IPV6:PORT (split at the last colon). */
static const char *parse_addr(struct step *st, const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *end, *port;
	long long p;
	size_t n;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return "no ']:' after the IPv6 address";
		s++;
		port = end + 2;
	} else {
		end = strrchr(s, ':');
		if (!end)
			return "no ':PORT'";
		port = end + 1;
	}
	n = (size_t)(end - s);
	if (n == 0 || n >= sizeof host)
		return "bad address length";
	memcpy(host, s, n);
	host[n] = '\0';
	if (!parse_num(port, 0, 65535, &p))
		return "bad port (0-65535)";

	memset(&st->addr, 0, sizeof st->addr);
	struct sockaddr_in *in = (struct sockaddr_in *)&st->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&st->addr;

	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
		st->addrlen = sizeof *in;
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		st->addrlen = sizeof *in6;
	} else {
		snprintf(why, sizeof why, "'%s' is not a numeric IPv4 or IPv6 address", host);
		return why;
	}
	addr_format(&st->addr, st->text, sizeof st->text);
	return NULL;
}

static const char *parse_listen(struct step *st, const char *arg)
{
	const char *comma = strchr(arg, ',');
	long long backlog = 16;
	char addr[96];
	const char *err;

	if (comma) {
		if (!parse_num(comma + 1, 0, INT_MAX, &backlog))
			return "bad backlog";
		if ((size_t)(comma - arg) >= sizeof addr)
			return "address too long";
		memcpy(addr, arg, (size_t)(comma - arg));
		addr[comma - arg] = '\0';
		arg = addr;
	}
	err = parse_addr(st, arg);
	st->backlog = (int)backlog;
	return err;
}

static const struct {
	const char *word;
	uint32_t bit; /* EPOLL* and POLL* bits are equal on Linux */
} event_words[] = {
	{ "in", EPOLLIN }, { "out", EPOLLOUT }, { "rdhup", EPOLLRDHUP },
	{ "hup", EPOLLHUP }, { "err", EPOLLERR }, { "pri", EPOLLPRI },
};

/* "in|out|rdhup" up to `stop` (or the end) into a bit mask. */
static const char *parse_words(const char *s, const char *stop, uint32_t *mask)
{
	*mask = 0;
	if (s == stop)
		return "empty event list";
	while (s < stop) {
		const char *bar = memchr(s, '|', (size_t)(stop - s));
		size_t n = (size_t)((bar ? bar : stop) - s);
		size_t i;

		for (i = 0; i < NBITS(event_words); i++)
			if (strlen(event_words[i].word) == n && memcmp(event_words[i].word, s, n) == 0)
				break;
		if (i == NBITS(event_words)) {
			snprintf(why, sizeof why, "unknown event word '%.*s'", (int)n, s);
			return why;
		}
		*mask |= event_words[i].bit;
		s += n + (bar ? 1 : 0);
	}
	return NULL;
}

static const char *parse_epoll(struct step *st, const char *arg)
{
	const char *colon = strchr(arg, ':');
	const char *err;

	err = parse_words(arg, colon ? colon : arg + strlen(arg), &st->mask);
	if (err)
		return err;
	if (!colon) {
		st->until = ~0u; /* any event */
		return NULL;
	}
	return parse_words(colon + 1, colon + 1 + strlen(colon + 1), &st->until);
}

static const char *parse_poll(struct step *st, const char *arg)
{
	const char *err = parse_words(arg, arg + strlen(arg), &st->mask);

	if (!err && (st->mask & (EPOLLHUP | EPOLLERR)))
		return "hup and err are always reported, not asked for";
	return err;
}

static const char *parse_count(struct step *st, const char *arg)
{
	/* 1 TiB: more than any test sends, less than any overflow */
	return parse_num(arg, 0, 1LL << 40, &st->n) ? NULL : "bad count";
}

static const char *parse_ns(struct step *st, const char *arg)
{
	return parse_num(arg, 0, LLONG_MAX, &st->n) ? NULL : "bad time in ns";
}

static const char *parse_shutdown(struct step *st, const char *arg)
{
	if (strcmp(arg, "rd") == 0)
		st->how = SHUT_RD;
	else if (strcmp(arg, "wr") == 0)
		st->how = SHUT_WR;
	else if (strcmp(arg, "rdwr") == 0)
		st->how = SHUT_RDWR;
	else
		return "unknown direction";
	return NULL;
}

static const char *parse_linger(struct step *st, const char *arg)
{
	const char *comma = strchr(arg, ',');
	long long secs;

	if (!comma || comma - arg != 1 || (arg[0] != '0' && arg[0] != '1'))
		return "ON must be 0 or 1, then a comma";
	if (!parse_num(comma + 1, 0, INT_MAX, &secs))
		return "bad seconds";
	st->linger.l_onoff = arg[0] - '0';
	st->linger.l_linger = (int)secs;
	snprintf(st->text, sizeof st->text, "SO_LINGER=%d,%d", st->linger.l_onoff, st->linger.l_linger);
	return NULL;
}

/* nodelay, rcvbuf, sndbuf: one int. */
static const char *parse_intopt(struct step *st, const char *arg)
{
	long long max = st->def->optname == TCP_NODELAY && st->def->level == IPPROTO_TCP ? 1 : INT_MAX;
	long long v;

	if (!parse_num(arg, 0, max, &v))
		return max == 1 ? "not 0 or 1" : "bad size";
	st->ival = (int)v;
	snprintf(st->text, sizeof st->text, "%s=%d", st->def->optlabel, st->ival);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The steps                                                                */
/* ------------------------------------------------------------------------ */

static const struct step_def step_defs[] = {
	{ .name = "listen", .usage = "listen=ADDR:PORT[,BACKLOG]", .parse = parse_listen, .run = run_listen },
	{ .name = "accept", .usage = "accept", .run = run_accept },
	{ .name = "connect", .usage = "connect=ADDR:PORT", .parse = parse_addr, .run = run_connect },
	{ .name = "epoll", .usage = "epoll=MASK[:UNTIL], words in|out|rdhup|hup|err|pri", .parse = parse_epoll, .run = run_epoll },
	{ .name = "poll", .usage = "poll=MASK, words in|out|rdhup|pri", .parse = parse_poll, .run = run_poll },
	{ .name = "wait-unread", .usage = "wait-unread=BYTES", .parse = parse_count, .run = run_wait_unread },
	{ .name = "wait-unsent-below", .usage = "wait-unsent-below=BYTES", .parse = parse_count, .run = run_wait_unsent },
	{ .name = "fionread", .usage = "fionread", .run = run_fionread },
	{ .name = "siocoutq", .usage = "siocoutq", .run = run_siocoutq },
	{ .name = "write", .usage = "write=BYTES", .parse = parse_count, .run = run_write },
	{ .name = "read", .usage = "read=BYTES", .parse = parse_count, .run = run_read },
	{ .name = "read-eof", .usage = "read-eof", .run = run_read_eof },
	{ .name = "shutdown", .usage = "shutdown=wr|rd|rdwr", .parse = parse_shutdown, .run = run_shutdown },
	{ .name = "linger", .usage = "linger=0|1,SECONDS", .parse = parse_linger, .run = run_sockopt,
	  .level = SOL_SOCKET, .optname = SO_LINGER, .optlabel = "SO_LINGER" },
	{ .name = "nodelay", .usage = "nodelay=0|1", .parse = parse_intopt, .run = run_sockopt,
	  .level = IPPROTO_TCP, .optname = TCP_NODELAY, .optlabel = "TCP_NODELAY" },
	{ .name = "rcvbuf", .usage = "rcvbuf=BYTES", .parse = parse_intopt, .run = run_sockopt,
	  .level = SOL_SOCKET, .optname = SO_RCVBUF, .optlabel = "SO_RCVBUF" },
	{ .name = "sndbuf", .usage = "sndbuf=BYTES", .parse = parse_intopt, .run = run_sockopt,
	  .level = SOL_SOCKET, .optname = SO_SNDBUF, .optlabel = "SO_SNDBUF" },
	{ .name = "sleep", .usage = "sleep=MS", .parse = parse_count, .run = run_sleep },
	{ .name = "at", .usage = "at=REALTIME_NS", .parse = parse_ns, .run = run_at },
	{ .name = "close", .usage = "close", .run = run_close },
	{ .name = "close-listener", .usage = "close-listener", .run = run_close_listener },
	{ .name = "use", .usage = "use=N", .parse = parse_count, .run = run_use },
	{ .name = "wait-pending", .usage = "wait-pending", .run = run_wait_pending },
	{ .name = "exit", .usage = "exit", .run = run_exit },
};

static void usage(void)
{
	fputs("usage: tcplab hold [--capture PROGRAM ARG...] [--steps STEP...]\n       tcplab run STEP...\nsteps:\n", stderr);
	for (size_t i = 0; i < NBITS(step_defs); i++)
		fprintf(stderr, "  %s\n", step_defs[i].usage);
}

/* Parse one argv word into *st; false (after a message) if it is wrong. */
static bool parse_step(struct step *st, int index, const char *token)
{
	const char *eq = strchr(token, '=');
	size_t n = eq ? (size_t)(eq - token) : strlen(token);
	const char *err = NULL;

	st->token = token;
	for (size_t i = 0; i < NBITS(step_defs) && !st->def; i++)
		if (strlen(step_defs[i].name) == n && memcmp(step_defs[i].name, token, n) == 0)
			st->def = &step_defs[i];
	if (!st->def) {
		fprintf(stderr, "tcplab: step %d '%s': unknown step\n", index, token);
		usage();
		return false;
	}
	if (!st->def->parse && eq)
		err = "takes no argument";
	else if (st->def->parse && !eq)
		err = "needs an argument";
	else if (st->def->parse)
		err = st->def->parse(st, eq + 1);
	if (err) {
		fprintf(stderr, "tcplab: step %d '%s': %s; expected %s\n", index, token, err, st->def->usage);
		return false;
	}
	return true;
}

static int run(int argc, char **argv)
{
	int nsteps = argc - 1;

	lab.steps = calloc((size_t)nsteps, sizeof *lab.steps);
	if (!lab.steps)
		abort();
	/* Check every step before doing anything. */
	for (int i = 0; i < nsteps; i++)
		if (!parse_step(&lab.steps[i], i + 1, argv[i + 1]))
			return 2;

	/* A write to a reset connection then fails with EPIPE, in the log,
	 * instead of killing the program. */
	signal(SIGPIPE, SIG_IGN);
	/* Wake from at= and sleep= on time, not up to 50 us late: two programs
	 * that close "at the same moment" must be closer than a round trip. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

	line_begin("start");
	key_int("pid", getpid());
	line_key("argv");
	line_putc('[');
	for (int i = 0; i < argc; i++) {
		if (i)
			line_putc(',');
		json_string(argv[i]);
	}
	line_putc(']');
	key_stamp(stamp_now());
	line_end();

	for (int i = 0; i < nsteps; i++) {
		lab.cur = i + 1;
		lab.steps[i].def->run(&lab.steps[i]);
	}
	log_end(0);
	free(lab.steps);
	free(line.p);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "hold") == 0) {
		char **capture = NULL, **steps = NULL;
		int i = 2, nsteps = 0;
		/* tcpdump's arguments end where the steps begin */
		if (i + 1 < argc && strcmp(argv[i], "--capture") == 0) {
			capture = argv + i + 1;
			while (i < argc && strcmp(argv[i], "--steps") != 0)
				i++;
		}
		if (i < argc && strcmp(argv[i], "--steps") == 0) {
			argv[i] = NULL; /* ends tcpdump's argv */
			steps = argv + i + 1;
			nsteps = argc - i - 1;
			i = argc;
		}
		if (i != argc) {
			usage();
			return 2;
		}
		return hold(capture, nsteps, steps);
	}
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return run(argc - 1, argv + 1);
	usage();
	return 2;
}
