/*
 * `tcplab hold`: keeps a network namespace alive as PID 1 of its container,
 * prints the namespace's TCP counters and socket tables (at start and on
 * every SIGUSR1), deletes the default route, starts the capture and a child
 * for the steps, and relays the steps' output. README.md beside this file
 * lists its signals and its output.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tcplab.h"

static const char *const snapshot_files[] = {
	"/proc/net/netstat",        /* TcpExt: TCPAbortOnClose, TCPAbortOnData... */
	"/proc/net/snmp",           /* Tcp: AttemptFails, EstabResets, OutRsts */
	"/proc/net/tcp",            /* sockets left (TIME_WAIT...) */
	"/proc/net/tcp6",
	"/proc/sys/kernel/osrelease",
	"/proc/net/route",
	"/proc/net/nf_conntrack",   /* the middlebox's NAT: its tracked connections */
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

/* `--route ADDR=GATEWAY`: route ADDR/32 through GATEWAY (the middlebox of a
 * scenario's `path:`), over rtnetlink, before the probe, so that the probe
 * and every packet to the peer cross the middlebox. Says what it did. */
static void add_route(const char *spec)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req;
	char answer[4096], addr[64];
	struct in_addr dst, gw;
	const char *eq = spec ? strchr(spec, '=') : NULL;

	if (!spec)
		return;
	if (!eq || (size_t)(eq - spec) >= sizeof addr) {
		printf("=== tcplab-hold: route: bad route %s\n", spec);
		return;
	}
	memcpy(addr, spec, (size_t)(eq - spec));
	addr[eq - spec] = '\0';
	if (inet_pton(AF_INET, addr, &dst) != 1 || inet_pton(AF_INET, eq + 1, &gw) != 1) {
		printf("=== tcplab-hold: route: bad route %s\n", spec);
		return;
	}
	memset(&req, 0, sizeof req);
	req.nh.nlmsg_type = RTM_NEWROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	req.nh.nlmsg_seq = 1;
	req.rt.rtm_family = AF_INET;
	req.rt.rtm_dst_len = 32;
	req.rt.rtm_table = RT_TABLE_MAIN;
	req.rt.rtm_protocol = RTPROT_STATIC;
	req.rt.rtm_scope = RT_SCOPE_UNIVERSE;
	req.rt.rtm_type = RTN_UNICAST;
	struct rtattr *a = (struct rtattr *)req.attrs;
	a->rta_type = RTA_DST;
	a->rta_len = RTA_LENGTH(sizeof dst);
	memcpy(RTA_DATA(a), &dst, sizeof dst);
	a = (struct rtattr *)(req.attrs + RTA_ALIGN(a->rta_len));
	a->rta_type = RTA_GATEWAY;
	a->rta_len = RTA_LENGTH(sizeof gw);
	memcpy(RTA_DATA(a), &gw, sizeof gw);
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.rt) + 2 * RTA_ALIGN(RTA_LENGTH(sizeof dst));

	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int error = -1;
	if (fd >= 0 && send(fd, &req, req.nh.nlmsg_len, 0) >= 0) {
		ssize_t n = recv(fd, answer, sizeof answer, 0);
		struct nlmsghdr *nh = (struct nlmsghdr *)answer;
		if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && nh->nlmsg_type == NLMSG_ERROR)
			error = -((struct nlmsgerr *)NLMSG_DATA(nh))->error;
	} else {
		error = errno;
	}
	if (fd >= 0)
		close(fd);
	if (error == 0)
		printf("=== tcplab-hold: route: %s/32 via %s\n", addr, eq + 1);
	else
		printf("=== tcplab-hold: route: could not route %s/32 via %s: %s\n", addr, eq + 1,
		       error > 0 ? errno_name(error) : "no answer");
	fflush(stdout);
}


/* How long the client's holder meets silence before it says "no answer", in
 * ms, on its own clock, counted once a neighbour answered ARP
 * (PROBE_WINDOW_MS in lab/run/path_probe.ts, held to this by a test). */
#define PROBE_LIMIT_MS 2500
/* How long the server's holder listens for the probe, in ms: as long as the
 * lab's start phase may take, since on a loaded machine the client's holder
 * can start seconds after it; it stops as soon as the probe arrives. */
#define PROBE_LISTEN_MS 30000
/* One SYN's wait before a new socket sends a fresh one, in ms: a SYN sent
 * before the server's namespace was on the bridge costs this, not the
 * kernel's 1 s retransmission. */
#define PROBE_ATTEMPT_MS 50

/* Forget what eth0 knows of `addr`'s link address (RTM_DELNEIGH). A SYN
 * sent before the server's namespace was on the bridge leaves the entry
 * INCOMPLETE, and the kernel asks again only after its retrans_time (1 s):
 * without the entry, the next attempt asks at once. Errors are ignored. */
static void forget_neighbour(const struct in_addr *addr)
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
		struct rtattr rta;
		struct in_addr dst;
	} req;
	char answer[256];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return;
	memset(&req, 0, sizeof req);
	req.nh.nlmsg_len = sizeof req;
	req.nh.nlmsg_type = RTM_DELNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.nd.ndm_family = AF_INET;
	req.nd.ndm_ifindex = (int)if_nametoindex("eth0");
	req.rta.rta_type = NDA_DST;
	req.rta.rta_len = RTA_LENGTH(sizeof req.dst);
	req.dst = *addr;
	if (send(fd, &req, sizeof req, 0) == (ssize_t)sizeof req)
		(void)!recv(fd, answer, sizeof answer, 0);
	close(fd);
}

/* Whether some neighbour on eth0 has answered ARP yet (/proc/net/arp, flag
 * ATF_COM): until one has, the server's namespace is not on the bridge yet
 * (a loaded machine can start it seconds late), and the silence of a SYN
 * says nothing of the path between them. */
static bool neighbour_answered(void)
{
	FILE *f = fopen("/proc/net/arp", "re");
	char line[256];
	bool answered = false;

	if (!f)
		return true; /* cannot tell: count the silence */
	if (fgets(line, sizeof line, f)) {
		while (fgets(line, sizeof line, f)) {
			unsigned flags;
			if (sscanf(line, "%*s 0x%*x 0x%x", &flags) == 1 && (flags & 0x2))
				answered = true;
		}
	}
	fclose(f);
	return answered;
}

static long long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `--probe listen=PORT`: accept one connection on PORT and wait for its
 * end (the client resets it), so that nothing of it is left in the
 * namespace, then close the listener. Before the capture starts and before
 * the first snapshot: the probe is in neither. */
static void probe_listen(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0) {
		printf("=== tcplab-hold: probe: cannot listen on port %d: %s\n", port, errno_name(errno));
		fflush(stdout);
		if (fd >= 0)
			close(fd);
		return;
	}
	printf("=== tcplab-hold: probe: listening on port %d\n", port);
	fflush(stdout);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, PROBE_LISTEN_MS) <= 0) {
		printf("=== tcplab-hold: probe: nothing arrived in %d ms\n", PROBE_LISTEN_MS);
	} else {
		struct sockaddr_in peer;
		socklen_t len = sizeof peer;
		int c = accept(fd, (struct sockaddr *)&peer, &len);
		if (c >= 0) {
			char text[INET_ADDRSTRLEN] = "?";
			char byte;
			struct pollfd q = { .fd = c, .events = POLLIN };

			inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
			poll(&q, 1, 1000); /* the client's reset, at once */
			/* never blocks: a reset lost on the way must not stop the holder */
			(void)!recv(c, &byte, 1, MSG_DONTWAIT);
			close(c);
			printf("=== tcplab-hold: probe: accepted %s:%d\n", text, ntohs(peer.sin_port));
		} else {
			printf("=== tcplab-hold: probe: accept: %s\n", errno_name(errno));
		}
	}
	fflush(stdout);
	close(fd);
}

/* `--probe connect=ADDR:PORT`: connect to the server's holder until it
 * answers, a fresh SYN (and a fresh ARP request) every PROBE_ATTEMPT_MS (a refusal means its listener
 * is not there yet: try again soon), then reset the connection (SO_LINGER
 * 0: no TIME_WAIT is left). Says "connected" or "no answer". */
static void probe_connect(const char *target)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char addr[INET_ADDRSTRLEN];
	const char *colon = strrchr(target, ':');
	long long start = ms_now();
	/* Since when SYNs to a neighbour that answers ARP have met silence; -1 while none has. */
	long long silent_since = -1;
	int attempts = 0, last = 0;

	if (!colon || (size_t)(colon - target) >= sizeof addr) {
		printf("=== tcplab-hold: probe: bad target %s\n", target);
		fflush(stdout);
		return;
	}
	memcpy(addr, target, (size_t)(colon - target));
	addr[colon - target] = 0;
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		printf("=== tcplab-hold: probe: bad address %s\n", addr);
		fflush(stdout);
		return;
	}
	/* "No answer" is PROBE_LIMIT_MS of silence after the neighbour answered ARP (a firewall that
	 * drops bridged IP lets ARP through); before that, only the listen time bounds the tries. */
	while ((silent_since < 0 || ms_now() - silent_since < PROBE_LIMIT_MS) && ms_now() - start < PROBE_LISTEN_MS) {
		long long tried = ms_now();
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last = errno;
			break;
		}
		attempts++;
		int err = 0;
		if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
			err = errno;
			if (err == EINPROGRESS) {
				struct pollfd p = { .fd = fd, .events = POLLOUT };
				socklen_t len = sizeof err;
				if (poll(&p, 1, PROBE_ATTEMPT_MS) == 1)
					getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
				else
					err = ETIMEDOUT;
			}
		}
		if (err == 0) {
			struct linger zero = { 1, 0 };
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &zero, sizeof zero);
			close(fd);
			printf("=== tcplab-hold: probe: connected to %s in %lld ms (%d attempt(s))\n", target,
			       ms_now() - start, attempts);
			fflush(stdout);
			return;
		}
		close(fd);
		last = err;
		if (err == ETIMEDOUT) {
			if (!neighbour_answered())
				silent_since = -1;
			else if (silent_since < 0)
				silent_since = tried;
			forget_neighbour(&a.sin_addr);
		} else {
			silent_since = -1; /* refused, unreachable: the server's side is not up yet */
			usleep(10000);
		}
	}
	printf("=== tcplab-hold: probe: no answer from %s in %lld ms (%d attempt(s), last %s)\n", target,
	       ms_now() - start, attempts, errno_name(last));
	fflush(stdout);
}

/* The probe a holder was asked for, if any: "listen=PORT" or "connect=ADDR:PORT". */
static void probe(const char *spec)
{
	if (!spec)
		return;
	if (strncmp(spec, "listen=", 7) == 0)
		probe_listen(atoi(spec + 7));
	else if (strncmp(spec, "connect=", 8) == 0)
		probe_connect(spec + 8);
	else {
		printf("=== tcplab-hold: probe: unknown probe %s\n", spec);
		fflush(stdout);
	}
}

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

/* Remove the default route, first of all: the namespace never has a route
 * out while anything in it sends (the probe, the route to a middlebox). */
static void forget_default_route(void)
{
	int deleted = delete_default_routes();
	if (deleted < 0)
		printf("=== tcplab-hold: could not delete the default route: %s\n", errno_name(errno));
	else
		printf("=== tcplab-hold: deleted %d default route(s)\n", deleted);
	fflush(stdout);
}

/* Started as root (with NET_ADMIN, NET_RAW, SETUID, SETGID, CHOWN, KILL):
 * start tcpdump (which opens its capture socket as root and then drops to
 * its own user) and the steps' process (nobody), then keep only CAP_KILL
 * while waiting. */
static void start_children(struct holder *h, char **capture, int nsteps, char **steps)
{
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

int hold(const char *route, const char *probe_spec, char **capture, int nsteps, char **steps)
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

	if (getuid() == 0)
		forget_default_route();
	add_route(route);
	probe(probe_spec);
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
		case SIGHUP: /* go: the steps begin; once begun, they go on after a hold (SIGUSR1) */
			if (h.go >= 0) {
				write_all(h.go, "g", 1);
				close(h.go);
				h.go = -1;
			} else if (h.steps > 0) {
				kill(h.steps, SIGUSR1);
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
