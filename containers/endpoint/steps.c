/*
 * `tcplab run STEP...`: a scenario's server or client. Every step is checked
 * before the first runs, then each runs in order and logs its system calls
 * (log.c). The table of steps is `step_defs` below; lab/scenario/step_table.ts
 * is the lab's side of it, and a test checks that both name the same steps.
 * README.md beside this file lists the steps and the calls each makes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tcplab.h"

/* ------------------------------------------------------------------------ */
/* The steps and the program's state                                        */
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
	for (int i = 0; i < current_step - 1; i++) {
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
	const struct step_def *d = st->def;
	long long max = (d->level == IPPROTO_TCP && d->optname == TCP_NODELAY) ||
	                (d->level == SOL_SOCKET && d->optname == SO_KEEPALIVE) ? 1 : INT_MAX;
	long long v;

	if (!parse_num(arg, 0, max, &v))
		return max == 1 ? "not 0 or 1" : "bad number";
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
	{ .name = "keepalive", .usage = "keepalive=0|1", .parse = parse_intopt, .run = run_sockopt,
	  .level = SOL_SOCKET, .optname = SO_KEEPALIVE, .optlabel = "SO_KEEPALIVE" },
	{ .name = "keepidle", .usage = "keepidle=SECONDS", .parse = parse_intopt, .run = run_sockopt,
	  .level = IPPROTO_TCP, .optname = TCP_KEEPIDLE, .optlabel = "TCP_KEEPIDLE" },
	{ .name = "keepintvl", .usage = "keepintvl=SECONDS", .parse = parse_intopt, .run = run_sockopt,
	  .level = IPPROTO_TCP, .optname = TCP_KEEPINTVL, .optlabel = "TCP_KEEPINTVL" },
	{ .name = "keepcnt", .usage = "keepcnt=N", .parse = parse_intopt, .run = run_sockopt,
	  .level = IPPROTO_TCP, .optname = TCP_KEEPCNT, .optlabel = "TCP_KEEPCNT" },
	{ .name = "user-timeout", .usage = "user-timeout=MS", .parse = parse_intopt, .run = run_sockopt,
	  .level = IPPROTO_TCP, .optname = TCP_USER_TIMEOUT, .optlabel = "TCP_USER_TIMEOUT" },
	{ .name = "sleep", .usage = "sleep=MS", .parse = parse_count, .run = run_sleep },
	{ .name = "at", .usage = "at=REALTIME_NS", .parse = parse_ns, .run = run_at },
	{ .name = "close", .usage = "close", .run = run_close },
	{ .name = "close-listener", .usage = "close-listener", .run = run_close_listener },
	{ .name = "use", .usage = "use=N", .parse = parse_count, .run = run_use },
	{ .name = "wait-pending", .usage = "wait-pending", .run = run_wait_pending },
	{ .name = "exit", .usage = "exit", .run = run_exit },
};

void usage(void)
{
	fputs("usage: tcplab hold [--probe listen=PORT|connect=ADDR:PORT] [--capture PROGRAM ARG...] [--steps STEP...]\n       tcplab run [--hold-after N[,N...]] STEP...\n       tcplab queue N:delay=MS[,every=K,extra=MS]... | --wait N... | --stop\nsteps:\n", stderr);
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

/* `--hold-after N[,N...]`: the steps after which the lab has work to do
 * before the next one begins (a path rule, a restart). Marks them in `held`
 * (indexed by step, 1-based); false (after a message) if the list is wrong. */
static bool parse_holds(const char *list, bool *held, int nsteps)
{
	const char *p = list;

	for (;;) {
		char *end;
		long n = strtol(p, &end, 10);

		if (end == p || n < 1 || n >= nsteps || (*end != ',' && *end != '\0')) {
			fprintf(stderr, "tcplab: --hold-after '%s': expected steps from 1 to %d, e.g. 3 or 3,5\n",
				list, nsteps - 1);
			return false;
		}
		held[n] = true;
		if (*end == '\0')
			return true;
		p = end + 1;
	}
}

/* Wait until the lab says its work at this step is done: SIGUSR1 (blocked
 * since the start, so that it is never lost and never kills), taken by
 * sigwaitinfo, which the log shows as the step's last call. */
static void hold_for_lab(void)
{
	sigset_t set;
	struct call c;
	int r;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	call_init(&c, "sigwaitinfo", NO_FD, "SIGUSR1");
	call_enter(&c);
	while ((r = sigwaitinfo(&set, NULL)) < 0 && errno == EINTR)
		;
	call_done(&c, r);
}

int run(int argc, char **argv)
{
	const char *holds = NULL;
	int first = 1;

	if (argc >= 3 && strcmp(argv[1], "--hold-after") == 0) {
		holds = argv[2];
		first = 3;
	}
	int nsteps = argc - first;
	bool *held = calloc((size_t)nsteps + 1, sizeof *held);

	lab.steps = calloc((size_t)nsteps, sizeof *lab.steps);
	if (!lab.steps || !held)
		abort();
	/* Check every step before doing anything. */
	for (int i = 0; i < nsteps; i++)
		if (!parse_step(&lab.steps[i], i + 1, argv[first + i]))
			return 2;
	if (holds && !parse_holds(holds, held, nsteps))
		return 2;
	/* No --hold-after: SIGUSR1 stays unblocked, with the holder's empty handler (fork, no exec); a stray one may end a blocking call with EINTR. */
	if (holds) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
	}

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
		current_step = i + 1;
		lab.steps[i].def->run(&lab.steps[i]);
		if (held[i + 1])
			hold_for_lab();
	}
	log_end(0);
	free(lab.steps);
	free(held);
	line_free();
	return 0;
}
