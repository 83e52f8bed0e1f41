/*
 * tcplab queue: the middlebox's delay and reordering, for a kernel without
 * netem. iptables sends the packets of a path rule to an NFQUEUE queue
 * (`-j NFQUEUE --queue-num N`); this program binds the queues over raw
 * netlink (NETLINK_NETFILTER, nfnetlink_queue's NFQNL_MSG_CONFIG and
 * NFQNL_MSG_VERDICT: no libnetfilter_queue), holds each packet for its
 * queue's delay, then gives it back with an ACCEPT verdict. Verdicts need not
 * follow the packets' order: a packet held longer than the next one is
 * overtaken by it, which is how the path reorders.
 *
 *   tcplab queue N:delay=MS[,every=K,extra=MS]...
 *       queue N holds every packet MS ms, and every K-th TCP segment that
 *       carries new data (the K-th, the 2K-th...; a retransmission is not
 *       counted) MS ms more. Prints one JSON line when all queues are bound
 *       ({"ph":"bound"}), one per packet given back ({"ph":"held",...}), a
 *       note for a verdict the kernel refused ({"ph":"note"}), and on SIGTERM
 *       or SIGINT gives back what it still holds and ends ({"ph":"end"}).
 *   tcplab queue --wait N...
 *       waits until /proc/net/netfilter/nfnetlink_queue lists every queue N
 *       (a program is bound to it); exit 1 if that takes over 10 s, or at once
 *       when the queue program it saw running has ended.
 *   tcplab queue --stop
 *       sends SIGTERM to every other `tcplab queue` of this PID namespace and
 *       waits for them to end (it prints "stopped N"); one still running 5 s
 *       later gets SIGKILL, and the exit status is 1.
 *
 * It needs CAP_NET_ADMIN (nfnetlink_queue's config and verdicts), which the
 * middlebox keeps.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcplab.h"

#define MAX_QUEUES 8
#define MAX_HELD 4096

/* One queue's rule: how long it holds a packet, and which packets longer. */
struct queue_rule {
	unsigned num;
	long long delay_ms, extra_ms;
	unsigned long long every, seen;
	bool any_data;     /* a segment with data has come: next_seq is set */
	unsigned next_seq; /* the end of the newest data seen (TCP sequence space) */
};

/* A packet the program holds until `due`. */
struct held {
	unsigned queue;
	unsigned id;
	unsigned length;
	bool extra;
	unsigned long long since, due; /* monotonic ns */
};

static struct queue_rule rules[MAX_QUEUES];
static int nrules;
static struct held held[MAX_HELD];
static int nheld;
static volatile sig_atomic_t stopping;

#define PACKET_MSG ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)
#define VERDICT_MSG ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT)

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "tcplab queue: %s: %s\n", what, errno_name(errno));
	exit(2);
}

/* "N:delay=MS[,every=K,extra=MS]" */
static bool parse_rule(const char *spec, struct queue_rule *r)
{
	char *end;
	unsigned long num = strtoul(spec, &end, 10);

	memset(r, 0, sizeof *r);
	if (end == spec || *end != ':' || num > 65535)
		return false;
	r->num = (unsigned)num;
	for (const char *p = end + 1; *p;) {
		const char *eq = strchr(p, '=');
		if (!eq)
			return false;
		size_t klen = (size_t)(eq - p);
		long long v = strtoll(eq + 1, &end, 10);
		if (end == eq + 1 || v < 0 || v > 600000 || (*end && *end != ','))
			return false;
		if (klen == 5 && strncmp(p, "delay", 5) == 0)
			r->delay_ms = v;
		else if (klen == 5 && strncmp(p, "extra", 5) == 0)
			r->extra_ms = v;
		else if (klen == 5 && strncmp(p, "every", 5) == 0 && v > 0)
			r->every = (unsigned long long)v;
		else
			return false;
		p = *end ? end + 1 : end;
	}
	return true;
}

/* One nfnetlink_queue request: header, nfgenmsg for `queue`, one attribute. */
static void send_msg(int fd, int type, unsigned queue, unsigned short attr, const void *data, size_t len, bool ack)
{
	char buf[NLMSG_SPACE(sizeof(struct nfgenmsg)) + NLA_HDRLEN + 64] __attribute__((aligned(4)));
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct nfgenmsg *g = NLMSG_DATA(nh);
	struct nlattr *a = (struct nlattr *)(buf + NLMSG_SPACE(sizeof *g));

	memset(buf, 0, sizeof buf);
	nh->nlmsg_len = (unsigned)(NLMSG_SPACE(sizeof *g) + NLA_ALIGN(NLA_HDRLEN + len));
	nh->nlmsg_type = (unsigned short)((NFNL_SUBSYS_QUEUE << 8) | type);
	nh->nlmsg_flags = (unsigned short)(NLM_F_REQUEST | (ack ? NLM_F_ACK : 0));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons((unsigned short)queue);
	a->nla_type = attr;
	a->nla_len = (unsigned short)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	if (send(fd, buf, nh->nlmsg_len, 0) < 0)
		die("cannot send to nfnetlink_queue");
}

static void take(int fd, struct nlmsghdr *nh);

/* The kernel refused a verdict (sent without NLM_F_ACK, so only a refusal is answered): a note with the
 * queue and the packet's id, quoted from the refused request when the answer carries it. */
static void note_refused(struct nlmsghdr *nh, struct nlmsgerr *e)
{
	size_t quoted = nh->nlmsg_len - NLMSG_LENGTH(sizeof *e);
	size_t need = sizeof(struct nfgenmsg) + NLA_HDRLEN + sizeof(struct nfqnl_msg_verdict_hdr);

	if (e->msg.nlmsg_len >= NLMSG_LENGTH(need) && quoted >= need) {
		struct nfgenmsg *g = (struct nfgenmsg *)(e + 1);
		struct nfqnl_msg_verdict_hdr v;
		memcpy(&v, (char *)g + NLMSG_ALIGN(sizeof *g) + NLA_HDRLEN, sizeof v);
		note("nfnetlink_queue refused the verdict for packet %u of queue %u: %s", ntohl(v.id),
		     ntohs(g->res_id), errno_name(-e->error));
	} else {
		note("nfnetlink_queue refused a verdict: %s", errno_name(-e->error));
	}
}

/*
 * One message from nfnetlink_queue: a packet is taken (held), a refused
 * verdict noted. Any other NLMSG_ERROR is the answer to a request sent with
 * NLM_F_ACK: true, with its errno (0: done) in *answer.
 */
static bool dispatch(int fd, struct nlmsghdr *nh, int *answer)
{
	if (nh->nlmsg_type == PACKET_MSG) {
		take(fd, nh);
		return false;
	}
	if (nh->nlmsg_type != NLMSG_ERROR || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
		return false;
	struct nlmsgerr *e = NLMSG_DATA(nh);
	if (e->msg.nlmsg_type == VERDICT_MSG) {
		if (e->error)
			note_refused(nh, e);
		return false;
	}
	*answer = -e->error;
	return true;
}

/*
 * Read one datagram of nfnetlink_queue's and dispatch its messages; `flags`
 * MSG_DONTWAIT in the loop. True when it held the answer to a request (its
 * errno in *answer).
 */
static bool receive(int fd, int flags, int *answer)
{
	static char buf[65536] __attribute__((aligned(4)));
	ssize_t n = recv(fd, buf, sizeof buf, flags);
	bool answered = false;

	if (n < 0 && errno == ENOBUFS)
		note("nfnetlink_queue dropped messages: ENOBUFS");
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		die("cannot read from nfnetlink_queue");
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; n > 0 && NLMSG_OK(nh, (unsigned)n); nh = NLMSG_NEXT(nh, n))
		answered |= dispatch(fd, nh, answer);
	return answered;
}

/*
 * The kernel's answer to a request sent with NLM_F_ACK: 0, or its errno. A
 * packet of a queue bound before can come first: it is held like any other.
 */
static int read_ack(int fd)
{
	int answer = 0;

	while (!receive(fd, 0, &answer))
		;
	return answer;
}

static void config(int fd, unsigned queue, unsigned short attr, const void *data, size_t len, const char *what)
{
	send_msg(fd, NFQNL_MSG_CONFIG, queue, attr, data, len, true);
	int e = read_ack(fd);
	if (e) {
		errno = e;
		fprintf(stderr, "tcplab queue: cannot %s queue %u: %s\n", what, queue, errno_name(e));
		exit(2);
	}
}

static unsigned long long mono_ns(void)
{
	return stamp_now().mono;
}

/* Give a held packet back to the kernel (ACCEPT), and log it. */
static void release(int fd, int i)
{
	struct held *h = &held[i];
	struct nfqnl_msg_verdict_hdr v = { htonl(NF_ACCEPT), htonl(h->id) };

	send_msg(fd, NFQNL_MSG_VERDICT, h->queue, NFQA_VERDICT_HDR, &v, sizeof v, false);
	line_begin("held");
	key_int("queue", h->queue);
	key_int("id", h->id);
	key_int("length", h->length);
	key_int("held_ms", (long long)((mono_ns() - h->since) / 1000000ULL));
	if (h->extra)
		key_str("extra", "reorder");
	key_stamp(stamp_now());
	line_end();
	held[i] = held[--nheld];
}

static struct queue_rule *rule_of(unsigned queue)
{
	for (int i = 0; i < nrules; i++)
		if (rules[i].num == queue)
			return &rules[i];
	return NULL;
}

/* The held packet whose time is up first, by `now`; -1 if none is due. */
static int next_due(unsigned long long now)
{
	int first = -1;

	for (int i = 0; i < nheld; i++)
		if (held[i].due <= now && (first < 0 || held[i].due < held[first].due ||
					   (held[i].due == held[first].due && held[i].since < held[first].since)))
			first = i;
	return first;
}

/* A packet the kernel queued: hold it until its queue's delay is over. */
static void take(int fd, struct nlmsghdr *nh)
{
	struct nfgenmsg *g = NLMSG_DATA(nh);
	unsigned queue = ntohs(g->res_id);
	int len = (int)nh->nlmsg_len - (int)NLMSG_SPACE(sizeof *g);
	struct nlattr *a = (struct nlattr *)((char *)g + NLMSG_ALIGN(sizeof *g));
	bool has_id = false, new_data = false;
	unsigned id = 0, length = 0;
	struct queue_rule *r = rule_of(queue);

	while (len >= (int)NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len) {
		void *data = (char *)a + NLA_HDRLEN;
		unsigned type = a->nla_type & NLA_TYPE_MASK;
		if (type == NFQA_PACKET_HDR && a->nla_len >= NLA_HDRLEN + 4) {
			__be32 pid;
			memcpy(&pid, data, 4);
			id = ntohl(pid);
			has_id = true;
		} else if (type == NFQA_PAYLOAD && a->nla_len >= NLA_HDRLEN + 20) {
			unsigned char *ip = data;
			unsigned got = a->nla_len - NLA_HDRLEN, ihl = (ip[0] & 15u) * 4;
			length = (unsigned)(ip[2] << 8 | ip[3]); /* the IPv4 total length */
			if (ip[9] == IPPROTO_TCP && got >= ihl + 20) {
				unsigned char *tcp = ip + ihl;
				unsigned doff = (tcp[12] >> 4) * 4u;
				unsigned seq = (unsigned)tcp[4] << 24 | (unsigned)tcp[5] << 16 | (unsigned)tcp[6] << 8 | tcp[7];
				unsigned end = seq + (length > ihl + doff ? length - ihl - doff : 0);
				/* new data: it ends beyond every segment seen before (not a retransmission) */
				if (r && end != seq && (!r->any_data || (int)(end - r->next_seq) > 0)) {
					new_data = true;
					r->any_data = true;
					r->next_seq = end;
				}
			}
		}
		len -= NLA_ALIGN(a->nla_len);
		a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
	}
	if (!has_id)
		return;
	struct held h = { .queue = queue, .id = id, .length = length, .since = mono_ns() };
	long long ms = r ? r->delay_ms : 0;
	if (r && r->every && new_data && ++r->seen % r->every == 0) {
		ms += r->extra_ms;
		h.extra = true;
	}
	h.due = h.since + (unsigned long long)ms * 1000000ULL;
	held[nheld++] = h;
	if (nheld == MAX_HELD) /* full: the first due goes now */
		release(fd, next_due(ULLONG_MAX));
}

/*
 * Send `sig` to every other `tcplab queue` of this PID namespace (0: send
 * nothing, count them); with `holding`, only those that hold packets (not
 * --wait or --stop). Returns how many there are. Each call reads /proc
 * afresh: a process that ended is not counted (nor is a zombie: its exe
 * cannot be read), whatever its pid became.
 */
static int signal_queues(int sig, bool holding)
{
	int n = 0;
	DIR *d = opendir("/proc");

	if (!d)
		die("cannot read /proc");
	char self[256];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl < 0)
		die("cannot read /proc/self/exe");
	self[sl] = '\0';
	for (struct dirent *e; (e = readdir(d));) {
		pid_t pid = (pid_t)atoi(e->d_name);
		char path[64], exe[256], cmd[64];
		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof path, "/proc/%d/exe", pid);
		ssize_t el = readlink(path, exe, sizeof exe - 1);
		if (el < 0)
			continue;
		exe[el] = '\0';
		snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t got = fread(cmd, 1, sizeof cmd - 1, f);
		fclose(f);
		cmd[got] = '\0';
		/* this program, with "queue" as argv[1] (and, holding, an argv[2] that is no option) */
		size_t a0 = strlen(cmd), a2 = a0 + 7;
		if (strcmp(exe, self) != 0 || a0 + 6 > got || strcmp(cmd + a0 + 1, "queue") != 0)
			continue;
		if (holding && (a2 >= got || strncmp(cmd + a2, "--", 2) == 0))
			continue;
		if (kill(pid, sig) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Stop every other `tcplab queue`: SIGTERM, then SIGKILL to those still running 5 s later (exit 1). */
static int stop_others(void)
{
	int n = signal_queues(SIGTERM, false);
	unsigned long long deadline = mono_ns() + 5000000000ULL;

	while (signal_queues(0, false) > 0) {
		if (mono_ns() >= deadline) {
			int left = signal_queues(SIGKILL, false);
			fprintf(stderr, "tcplab queue: %d of %d still running 5 s after SIGTERM: sent SIGKILL\n", left, n);
			printf("stopped %d\n", n);
			return 1;
		}
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	printf("stopped %d\n", n);
	return 0;
}

/* Whether /proc/net/netfilter/nfnetlink_queue lists queue `num`: its lines begin with the queue's number. */
static bool is_bound(unsigned num)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "r");
	char text[256];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(text, sizeof text, f))
		found = strtoul(text, NULL, 10) == num;
	fclose(f);
	return found;
}

/*
 * Wait until every queue of argv is bound, checking every 5 ms, for at most
 * 10 s; once a queue program was seen running, its end ends the wait (it did
 * not bind them all, or it would have been seen bound). One that ended before
 * this wait began cannot be told from one not yet started: that waits 10 s.
 */
static int wait_bound(int argc, char **argv)
{
	bool seen = false;

	for (int tries = 0; tries < 2000; tries++) {
		int bound = 0;
		bool running = signal_queues(0, true) > 0;
		for (int i = 0; i < argc; i++)
			bound += is_bound((unsigned)strtoul(argv[i], NULL, 10));
		if (bound == argc) {
			printf("bound %d\n", argc);
			return 0;
		}
		if (seen && !running) {
			fprintf(stderr, "tcplab queue: the queue program ended before it bound the queues\n");
			return 1;
		}
		seen |= running;
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "tcplab queue: no program bound the queues within 10 s\n");
	return 1;
}

int queue(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--stop") == 0)
		return stop_others();
	if (argc >= 3 && strcmp(argv[1], "--wait") == 0)
		return wait_bound(argc - 2, argv + 2);
	if (argc < 2 || argc - 1 > MAX_QUEUES) {
		usage();
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (!parse_rule(argv[i], &rules[nrules++])) {
			fprintf(stderr, "tcplab queue: bad rule \"%s\"; expected N:delay=MS[,every=K,extra=MS]\n", argv[i]);
			return 2;
		}

	/* SIGTERM and SIGINT are blocked except while ppoll() waits: one that
	 * comes after the loop's check of `stopping` stays pending until then,
	 * and ends that wait at once (poll() would sleep until the next packet). */
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t stops, waiting;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigprocmask(SIG_BLOCK, &stops, &waiting);
	sigdelset(&waiting, SIGTERM);
	sigdelset(&waiting, SIGINT);

	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0)
		die("cannot open a NETLINK_NETFILTER socket");
	struct sockaddr_nl sn = { .nl_family = AF_NETLINK };
	if (bind(fd, (struct sockaddr *)&sn, sizeof sn) < 0)
		die("cannot bind the netlink socket");
	for (int i = 0; i < nrules; i++) {
		struct nfqnl_msg_config_cmd cmd = { NFQNL_CFG_CMD_BIND, 0, htons(AF_INET) };
		/* The first 128 bytes hold the IPv4 and TCP headers (their options included). */
		struct nfqnl_msg_config_params params = { htonl(128), NFQNL_COPY_PACKET };
		config(fd, rules[i].num, NFQA_CFG_CMD, &cmd, sizeof cmd, "bind");
		config(fd, rules[i].num, NFQA_CFG_PARAMS, &params, sizeof params, "configure");
	}
	line_begin("bound");
	key_int("queues", nrules);
	key_stamp(stamp_now());
	line_end();

	while (!stopping) {
		/* Wait for the next packet, or until the first held one is due. */
		struct timespec left, *timeout = NULL;
		unsigned long long now = mono_ns(), first = ULLONG_MAX;
		for (int i = 0; i < nheld; i++)
			if (held[i].due < first)
				first = held[i].due;
		if (nheld > 0) {
			unsigned long long ns = first > now ? first - now : 0;
			left = (struct timespec){ (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };
			timeout = &left;
		}
		struct pollfd p = { fd, POLLIN, 0 };
		int ready = ppoll(&p, 1, timeout, &waiting);
		if (ready < 0 && errno != EINTR)
			die("ppoll");
		if (ready > 0) {
			int answer;
			receive(fd, MSG_DONTWAIT, &answer);
		}
		/* The packets whose time is up, the earliest due first (and of those, the first to come). */
		for (int i; (i = next_due(mono_ns())) >= 0;)
			release(fd, i);
	}
	/* Stopped: what is still held goes now, in the order it came. */
	while (nheld > 0) {
		int first = 0;
		for (int i = 1; i < nheld; i++)
			if (held[i].since < held[first].since)
				first = i;
		release(fd, first);
	}
	line_begin("end");
	key_stamp(stamp_now());
	line_end();
	line_free();
	return 0;
}
