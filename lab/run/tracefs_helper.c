/*
 * tracefs_helper: the lab's only code that touches the host's tracefs.
 *
 * Deno asks for --allow-all before it lets a program read or write /sys,
 * so the lab keeps its own permissions narrow and runs this small program
 * instead (deno run --allow-run=.cache/tracefs_helper). It does three
 * things, each on an instance whose name starts with "tcplab-":
 *
 *   tracefs_helper start NAME   create instances/NAME, clock "mono", enable
 *                               tcp:tcp_send_reset, tcp:tcp_receive_reset and
 *                               sock:inet_sock_set_state; print what the
 *                               kernel's tcp_send_reset can say, as JSON
 *   tracefs_helper stop NAME    stop it, print its trace, remove it
 *   tracefs_helper list         print the names of the lab's instances
 *
 * Exit codes: 0 done; 2 bad usage; 3 no tracefs here; 4 not permitted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *ROOTS[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
static const char *EVENTS[] = {"tcp/tcp_send_reset", "tcp/tcp_receive_reset", "sock/inet_sock_set_state"};
#define N_EVENTS (sizeof EVENTS / sizeof EVENTS[0])

static const char *find_root(void) {
    for (size_t i = 0; i < sizeof ROOTS / sizeof ROOTS[0]; i++) {
        char path[256];
        struct stat st;
        snprintf(path, sizeof path, "%s/instances", ROOTS[i]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return ROOTS[i];
    }
    return NULL;
}

/* Only the lab's own instances, with names it makes: tcplab-[a-z0-9-]+. */
static int valid_name(const char *name) {
    if (strncmp(name, "tcplab-", 7) != 0 || strlen(name) > 64) return 0;
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) return 0;
    }
    return 1;
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Copy a file to stdout; returns 0 or -1. */
static int cat_file(const char *path, FILE *out) {
    FILE *in = fopen(path, "r");
    if (!in) return -1;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    return 0;
}

static char *read_small(const char *path) {
    static char buf[16384];
    FILE *in = fopen(path, "r");
    if (!in) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, in);
    buf[n] = '\0';
    fclose(in);
    return buf;
}

static void disable_and_remove(const char *instance) {
    char path[512];
    for (size_t i = 0; i < N_EVENTS; i++) {
        snprintf(path, sizeof path, "%s/events/%s/enable", instance, EVENTS[i]);
        write_file(path, "0");
    }
    rmdir(instance);
}

static int fail(int code, const char *what, const char *path) {
    fprintf(stderr, "tracefs_helper: %s %s: %s\n", what, path, strerror(errno));
    return code;
}

static int start(const char *root, const char *name) {
    char instance[256], path[512];
    snprintf(instance, sizeof instance, "%s/instances/%s", root, name);
    if (mkdir(instance, 0700) != 0) return fail(errno == EACCES || errno == EPERM ? 4 : 3, "cannot create", instance);
    snprintf(path, sizeof path, "%s/buffer_size_kb", instance);
    write_file(path, "2048");
    snprintf(path, sizeof path, "%s/trace_clock", instance);
    if (write_file(path, "mono") != 0) {
        disable_and_remove(instance);
        return fail(3, "cannot set the clock of", instance);
    }
    for (size_t i = 0; i < N_EVENTS; i++) {
        snprintf(path, sizeof path, "%s/events/%s/enable", instance, EVENTS[i]);
        if (write_file(path, "1") != 0) {
            disable_and_remove(instance);
            return fail(3, "cannot enable", path);
        }
    }
    snprintf(path, sizeof path, "%s/events/tcp/tcp_send_reset/format", root);
    const char *format = read_small(path);
    int reason_field = format && strstr(format, " reason;") != NULL;
    int active = format && strstr(format, "\"TCP_ABORT_ON_CLOSE\"") != NULL;
    printf("{\"root\":\"%s\",\"reasonField\":%s,\"activeResetReasons\":%s}\n", root,
           reason_field ? "true" : "false", active ? "true" : "false");
    return 0;
}

static int stop(const char *root, const char *name) {
    char instance[256], path[512];
    snprintf(instance, sizeof instance, "%s/instances/%s", root, name);
    snprintf(path, sizeof path, "%s/tracing_on", instance);
    if (write_file(path, "0") != 0) return fail(3, "cannot stop", instance);
    snprintf(path, sizeof path, "%s/trace", instance);
    int rc = cat_file(path, stdout);
    fflush(stdout);
    disable_and_remove(instance);
    return rc == 0 ? 0 : fail(3, "cannot read", path);
}

static int list(const char *root) {
    char path[256];
    snprintf(path, sizeof path, "%s/instances", root);
    DIR *dir = opendir(path);
    if (!dir) return fail(3, "cannot list", path);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (valid_name(entry->d_name)) printf("%s\n", entry->d_name);
    }
    closedir(dir);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "list") != 0 && (argc != 3 || !valid_name(argv[2])))) {
        fprintf(stderr, "usage: tracefs_helper start|stop tcplab-NAME | list\n");
        return 2;
    }
    const char *root = find_root();
    if (!root) {
        fprintf(stderr, "tracefs_helper: tracefs is not mounted at /sys/kernel/tracing\n");
        return 3;
    }
    if (strcmp(argv[1], "start") == 0) return start(root, argv[2]);
    if (strcmp(argv[1], "stop") == 0) return stop(root, argv[2]);
    if (strcmp(argv[1], "list") == 0) return list(root);
    fprintf(stderr, "tracefs_helper: unknown command \"%s\"\n", argv[1]);
    return 2;
}
