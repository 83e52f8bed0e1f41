/**
 * The scenarios the lab ships. `seed` is the founding case.
 *
 * @module
 */

import type { Scenario, Step } from "./types.ts";

/** The founding case's server: write 1 byte once, as soon as the connection is writable. */
const SEED_SERVER: Step[] = [
  { op: "listen" },
  { op: "accept" },
  { op: "epoll", events: ["in", "out", "rdhup", "hup"], until: ["out"] },
  { op: "write", bytes: 1 },
  { op: "epoll", events: ["in", "rdhup", "hup"] },
  { op: "read", bytes: 1 },
  { op: "close" },
];

const seed: Scenario = {
  name: "seed",
  title: "close() with one unread byte: the client resets the connection",
  description:
    "The server writes 1 byte as soon as the accepted connection is writable. The client connects, " +
    "waits until that byte is readable without reading it, and calls close(). Linux tcp_close() " +
    "finds unread data in the receive queue and sends RST instead of FIN (RFC 2525 section 2.17).",
  port: 9999,
  server: SEED_SERVER,
  client: [
    { op: "connect" },
    { op: "wait-unread", bytes: 1 },
    { op: "close" },
  ],
  expect: {
    state: "RSTO",
    resetBy: "client",
    closedFirstBy: "client",
    cause: "close-with-unread-data",
    resetReasons: ["TCP_ABORT_ON_CLOSE"],
    counters: { client: { "TcpExt.TCPAbortOnClose": 1 } },
  },
  contrast: "seed-read-first",
};

const seedReadFirst: Scenario = {
  name: "seed-read-first",
  title: "read the byte, then close(): a FIN handshake",
  description: "The same server and client as `seed`, but the client reads the byte before close(). " +
    "Nothing is left unread, so tcp_close() sends FIN; the server reads EOF and closes in turn, " +
    "and the client, the active closer, ends in TIME_WAIT.",
  port: 9999,
  server: SEED_SERVER,
  client: [
    { op: "connect" },
    { op: "wait-unread", bytes: 1 },
    { op: "read", bytes: 1 },
    { op: "close" },
  ],
  expect: {
    state: "SF",
    resetBy: null,
    closedFirstBy: "client",
    cause: "graceful-close",
    counters: { client: { "TcpExt.TCPAbortOnClose": 0 } },
    socketsLeft: { client: ["TIME_WAIT"] },
  },
  contrast: "seed",
};

/** Every shipped scenario, by name, in the order `lab list` shows them. */
export const CATALOG: ReadonlyMap<string, Scenario> = new Map(
  [seed, seedReadFirst].map((s) => [s.name, s]),
);

/** The scenario `deno task lab` runs without arguments. */
export const DEFAULT_SCENARIO = "seed";
