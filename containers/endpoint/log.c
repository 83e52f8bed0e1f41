/*
 * tcplab's logging: both clocks, unbuffered output, errno names, and the JSON
 * lines of `tcplab run` (one object per line, written at once with write(2)),
 * among them the enter and return lines of every system call a step makes.
 * README.md beside this file describes the format.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcplab.h"

int current_step;

/* ------------------------------------------------------------------------ */
/* Clocks, output and errno names                                           */
/* ------------------------------------------------------------------------ */

static unsigned long long clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

struct stamp stamp_now(void)
{
	struct stamp s;

	s.real = clock_ns(CLOCK_REALTIME);
	s.mono = clock_ns(CLOCK_MONOTONIC);
	return s;
}

/* Unbuffered output: every line or chunk goes straight to the kernel, so a
 * program killed in a blocking call has already told everything before it. */
void write_all(int fd, const char *p, size_t n)
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

void out_str(const char *s)
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
const char *errno_name(int e)
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

void line_putc(char ch)
{
	line_put(&ch, 1);
}

void json_string(const char *s)
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

void line_key(const char *key)
{
	if (!line.first)
		line_putc(',');
	line.first = false;
	json_string(key);
	line_putc(':');
}

void key_str(const char *key, const char *value)
{
	line_key(key);
	if (value)
		json_string(value);
	else
		line_put("null", 4);
}

void key_int(const char *key, long long value)
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

void key_stamp(struct stamp t)
{
	key_ns("real", t.real);
	key_ns("mono", t.mono);
}

void line_begin(const char *ph)
{
	line.len = 0;
	line.first = true;
	line_putc('{');
	key_str("ph", ph);
}

void line_end(void)
{
	line_put("}\n", 2);
	write_all(STDOUT_FILENO, line.p, line.len);
}

void line_free(void)
{
	free(line.p);
	line.p = NULL;
	line.len = line.cap = 0;
}

/* ------------------------------------------------------------------------ */
/* System calls: their enter and return lines                               */
/* ------------------------------------------------------------------------ */

void call_init(struct call *c, const char *name, int fd, const char *fmt, ...)
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
	key_int("step", current_step);
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
void call_enter(struct call *c)
{
	c->t0 = stamp_now();
	if (!c->held)
		write_enter(c);
}

/* Right after the system call: errno first, before anything can change it. */
void call_leave(struct call *c, long long ret)
{
	int e = errno;

	c->t1 = stamp_now();
	c->ret = ret;
	c->err = ret < 0 ? e : 0;
}

void call_log(const struct call *c)
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

long long call_done(struct call *c, long long ret)
{
	call_leave(c, ret);
	call_log(c);
	return ret;
}

/* Something the program did or skipped that is not a system call. */
void note(const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	line_begin("note");
	key_int("step", current_step);
	key_str("text", text);
	key_stamp(stamp_now());
	line_end();
}

void log_end(int status)
{
	line_begin("end");
	key_int("status", status);
	key_stamp(stamp_now());
	line_end();
}