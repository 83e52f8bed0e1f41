/*
 * What the parts of tcplab share: the two modes (holder.c, steps.c), the
 * usage text, and the logging (log.c).
 */
#ifndef TCPLAB_H
#define TCPLAB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The modes: `tcplab hold ...` (holder.c) and `tcplab run STEP...` (steps.c). */
int hold(const char *route, const char *probe, char **capture, int nsteps, char **steps);
int run(int argc, char **argv);
/* `tcplab queue RULE...`: the middlebox's NFQUEUE delays (queue.c). */
int queue(int argc, char **argv);
/* Both modes' command lines and every step, on stderr. */
void usage(void);

/* Both clocks, in ns: real time to line up with pcaps, monotonic time to
 * line up with tracefs. */
struct stamp {
	unsigned long long real, mono;
};

struct stamp stamp_now(void);
/* Unbuffered output, straight to the kernel. */
void write_all(int fd, const char *p, size_t n);
void out_str(const char *s);
/* Symbolic errno name ("ECONNRESET"), "E<number>" for the rare others. */
const char *errno_name(int e);

/* One JSON line: line_begin("ph"), keys, line_end() writes it at once. */
void line_begin(const char *ph);
void line_key(const char *key);
void line_putc(char ch);
void json_string(const char *s);
void key_str(const char *key, const char *value);
void key_int(const char *key, long long value);
void key_stamp(struct stamp t);
void line_end(void);
/* Frees the line buffer, at the end of the program. */
void line_free(void);

/* The 1-based index of the running step, 0 before the first: every call and
 * note line carries it. */
extern int current_step;

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

void call_init(struct call *c, const char *name, int fd, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Right before the system call. */
void call_enter(struct call *c);
/* Right after the system call: errno first, before anything can change it. */
void call_leave(struct call *c, long long ret);
void call_log(const struct call *c);
long long call_done(struct call *c, long long ret);
/* Something the program did or skipped that is not a system call. */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The "end" line, with the program's exit status. */
void log_end(int status);

#endif
