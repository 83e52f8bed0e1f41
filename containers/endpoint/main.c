/*
 * tcplab: the endpoint program of the TCP teardown lab.
 *
 *   tcplab hold [--route ADDR=GATEWAY] [--probe listen=PORT|connect=ADDR:PORT] [--capture PROGRAM ARG...]
 *               [--steps STEP...]
 *                        First, if asked, routes ADDR/32 through GATEWAY (a
 *                        path with a middlebox), and probes the path between two
 *                        holders (one listens, the other connects). Keeps a network namespace alive (PID 1 of its
 *                        container, like a pod's pause container) and prints
 *                        the namespace's TCP counters and socket tables: once
 *                        at start, again on every SIGUSR1. Started as root, it
 *                        deletes the default route, starts PROGRAM (the lab's
 *                        tcpdump) and a child for the STEPs (as nobody, waiting
 *                        for SIGHUP; their output relayed), then keeps only
 *                        CAP_KILL. A SIGHUP after that lets held steps go on
 *                        (SIGUSR1 to them). SIGQUIT kills the steps; SIGUSR2 takes a
 *                        last snapshot and stops PROGRAM; SIGTERM/SIGINT: exit.
 *                        (holder.c)
 *   tcplab run [--hold-after N[,N...]] STEP...
 *                        A scenario's server or client: performs the steps in
 *                        order and logs every system call as JSON lines; after
 *                        each step N it waits for SIGUSR1 (the lab's work at
 *                        that step is done). (steps.c, logging in log.c)
 *   tcplab queue N:delay=MS[,every=K,extra=MS]... | --stop
 *                        The middlebox's delay and reordering: holds the
 *                        packets iptables sends to NFQUEUE queue N before
 *                        accepting them, logged as JSON lines. (queue.c)
 *
 * Build: gcc -static -O2 -Wall -Wextra -Werror -o tcplab main.c holder.c steps.c log.c queue.c
 *
 * It runs in a FROM-scratch image (the steps as uid 65534 with no
 * capabilities), so it uses libc only and no name service (static glibc
 * cannot load NSS modules):
 * addresses are numeric and parsed with inet_pton. See README.md beside this
 * file for the step list and the log format.
 */
#define _GNU_SOURCE
#include <string.h>

#include "tcplab.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "hold") == 0) {
		char **capture = NULL, **steps = NULL;
		const char *probe = NULL, *route = NULL;
		int i = 2, nsteps = 0;
		if (i + 1 < argc && strcmp(argv[i], "--route") == 0) {
			route = argv[i + 1];
			i += 2;
		}
		if (i + 1 < argc && strcmp(argv[i], "--probe") == 0) {
			probe = argv[i + 1];
			i += 2;
		}
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
		return hold(route, probe, capture, nsteps, steps);
	}
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return run(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "queue") == 0)
		return queue(argc - 1, argv + 1);
	usage();
	return 2;
}
