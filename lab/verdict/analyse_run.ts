/**
 * Turn what a run collected into its result: connections rebuilt from the
 * pcaps, each teardown classified, its cause decided with the kernel's and
 * the programs' evidence, and the scenario's expectation checked.
 * Pure: artifacts in, RunResult out.
 *
 * @module
 */

import { readConnections } from "../analysis/connections.ts";
import { icmpErrorMeaning, type IcmpErrorPacket } from "../analysis/icmp_errors.ts";
import { packetLine, SequenceNumbering } from "../analysis/packet_lines.ts";
import { classifyTeardown } from "../analysis/teardown.ts";
import { tcpdumpFlags, TcpdumpFormatter } from "../analysis/tcpdump_format.ts";
import type { Connection, Direction, Endpoint, TcpPacket } from "../analysis/types.ts";
import type { RunArtifacts } from "../evidence/artifacts.ts";
import { type Call, parseProgramLog, type ProgramLog } from "../evidence/calls.ts";
import { parseSyscallTrace, UNTRACED_BECAUSE } from "../evidence/syscall_trace.ts";
import { type Counters, diffCounters, parseCounters } from "../evidence/counters.ts";
import { parseSnapshots, type Snapshot } from "../evidence/snapshot.ts";
import { parseProcNetTcp, type SocketEntry } from "../evidence/sockets.ts";
import { eventsForAddresses, hostOf, parseTrace, portOf } from "../evidence/trace.ts";
import { type Side, SIDES } from "../scenario/types.ts";
import { type CauseEvidence, decideCause, socketUse, unreadAtClose } from "./cause.ts";
import { checkExpectation } from "./expectation.ts";
import type {
  CallRecord,
  CapturePoint,
  CaptureRecord,
  ConnectionResult,
  IcmpErrorRecord,
  PacketRecord,
  RunResult,
} from "./types.ts";
import { reproductionOf } from "./reproduction.ts";
import { parseRuleCounters, pathRuleRecords } from "../evidence/path_rules.ts";
import { parseHeldPackets, queueBound } from "../evidence/held_packets.ts";
import { pathHolds } from "./path_holds.ts";
import { natExpiryProof, pathResetProof } from "./path_reset.ts";
import { type NatMapping, natMapping, untranslated } from "./nat_mapping.ts";
import { peerRestartProof } from "./peer_restart.ts";
import { joinCaptures } from "../analysis/joined_capture.ts";
import { verdictSentence } from "./verdict_sentence.ts";

interface DecodedCapture {
  side: CapturePoint;
  packets: TcpPacket[];
  lines: Map<TcpPacket, string>;
  /** Its connections, each with the ICMP errors that quoted its packets. */
  connections: Connection[];
}

/** Analyse one run's artifacts. */
export function analyseRun(artifacts: RunArtifacts): RunResult {
  const warnings: string[] = [];
  const addresses: Record<Side, string> = {
    client: artifacts.sides.client.address,
    server: artifacts.sides.server.address,
  };
  const sideOf = (address: string): Side | "other" =>
    address === addresses.client ? "client" : address === addresses.server ? "server" : "other";

  // A restarted server's address was captured in two namespaces: its capture is the first's, then the fresh one's.
  const restart = artifacts.restart;
  const firstServerPcap = artifacts.sides.server.pcap;
  const serverPcap = restart?.pcap && firstServerPcap
    ? joinCaptures(firstServerPcap, restart.pcap)
    : firstServerPcap;
  if (restart && !restart.pcap) {
    warnings.push(`the server's fresh namespace's capture (${restart.pcapFile}) could not be collected`);
  }
  const restartPackets = restart
    ? {
      first: firstServerPcap ? readConnections(firstServerPcap, artifacts.sides.server.pcapFile).packets : [],
      fresh: restart.pcap ? readConnections(restart.pcap, restart.pcapFile).packets : [],
    }
    : null;
  const freshSnapshots = restart ? parseSnapshots(restart.holderLog) : [];
  // A path's middlebox: its capture (read as the sides' are) and its rules' counters.
  const box = artifacts.middlebox;
  const middleboxRead = box?.pcap ? readConnections(box.pcap, box.pcapFile) : null;
  const middleboxPackets = middleboxRead?.packets ?? null;
  if (box && !box.pcap) warnings.push(`the middlebox's capture (${box.pcapFile}) could not be collected`);
  const ruleCounters = box ? parseRuleCounters(box.counters) : [];
  if (box?.queueLog !== undefined && !queueBound(box.queueLog)) {
    warnings.push(
      `the middlebox's queue program did not bind its queues, so the path's delay rules held nothing (${
        box.queueLog.trim().split("\n").join("; ")
      }); a kernel without nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE) cannot delay or reorder`,
    );
  }
  // A NAT on the path: the server's capture has the middlebox's address in the client's place.
  const nat = box && artifacts.scenario.path?.nat === "masquerade"
    ? natMapping(middleboxPackets ?? [], addresses, box.address)
    : null;
  const middleboxCapture: DecodedCapture | null = box?.pcap && middleboxRead
    ? {
      side: "middlebox",
      packets: middleboxRead.packets,
      lines: tcpdumpLines(middleboxRead.packets),
      // Its packets stay as it saw them; its connections (for their ICMP errors) by the client's side of the NAT.
      connections: nat
        ? middleboxRead.connections.map((c) => untranslatedConnection(c, nat, (p) => untranslated(p, nat)))
        : middleboxRead.connections,
    }
    : null;
  const captures = SIDES.map((side) => {
    const pcap = side === "server" ? serverPcap : artifacts.sides[side].pcap;
    const capture = decodeCapture(side, pcap, artifacts.sides[side].pcapFile, warnings);
    return nat && side === "server" ? untranslatedCapture(capture, nat) : capture;
  });
  for (const side of SIDES) {
    const stats = artifacts.sides[side].captureStats;
    if (stats && stats.droppedByKernel > 0) {
      warnings.push(
        `the ${side}'s capture lost ${stats.droppedByKernel} packets (tcpdump: dropped by kernel); the packet evidence may be incomplete`,
      );
    }
    if (!stats) {
      warnings.push(
        `tcpdump on the ${side}'s side printed no statistics; whether it dropped packets is unknown`,
      );
    }
  }

  // A traced program's calls come from strace's log, the lab's own from its JSON lines.
  const logs = Object.fromEntries(SIDES.map((side) => {
    const { syscallTrace, programLog } = artifacts.sides[side];
    return [
      side,
      syscallTrace !== undefined ? parseSyscallTrace(side, syscallTrace) : parseProgramLog(side, programLog),
    ];
  })) as Record<Side, ProgramLog>;
  for (const side of SIDES) {
    const s = artifacts.sides[side];
    if (s.program === "tcplab" && !logs[side].finished && side === artifacts.restart?.side) {
      warnings.push(
        `the ${side} program did not finish its steps: it was removed with its namespace at the restart`,
      );
    } else if (s.program === "tcplab" && !logs[side].finished && !artifacts.timedOut) {
      warnings.push(
        `the ${side} program did not finish its steps (exit code ${s.programExitCode ?? "unknown"}${
          s.programStderr.trim() ? `: ${s.programStderr.trim().split("\n").pop()}` : ""
        })`,
      );
    }
  }

  for (const side of SIDES) {
    for (const call of logs[side].calls.filter((c) => c.returnNs === null && c.call !== "_exit")) {
      warnings.push(
        `the ${side} program was still inside ${call.call}(${
          call.args ?? ""
        }) (step ${call.step}) when it was stopped${artifacts.timedOut ? ` (${artifacts.timedOut})` : ""}`,
      );
    }
  }
  const snapshots = Object.fromEntries(
    SIDES.map((side) => [side, parseSnapshots(artifacts.sides[side].holderLog)]),
  ) as Record<Side, Snapshot[]>;
  const counters = Object.fromEntries(
    SIDES.map((side) => [side, counterChanges(snapshots[side], side, warnings)]),
  ) as Record<Side, Counters>;
  // Only the run's own sockets: Docker's embedded DNS listens on 127.0.0.11 in every namespace.
  const ownSocket = (s: SocketEntry) => [addresses.client, addresses.server].includes(hostOf(s.local));
  // After the run, a restarted server's sockets are the fresh namespace's.
  const socketsLeft = Object.fromEntries(
    SIDES.map((side) => [
      side,
      socketsAfter(side === "server" && restart ? freshSnapshots : snapshots[side]).filter(ownSocket),
    ]),
  ) as Record<Side, SocketEntry[]>;
  const freshCounters = restart ? counterChanges(freshSnapshots, "server", warnings) : {};

  const monoToReal = snapshots.client[0]
    ? snapshots.client[0].realNs - snapshots.client[0].monoNs
    : logs.client.monoToRealNs;
  const traceEvents = artifacts.trace.available
    ? eventsForAddresses(
      parseTrace(artifacts.trace.text, monoToReal),
      [addresses.client, addresses.server, ...(box ? [box.address] : [])],
    )
    : [];

  // The lab's own probe of the path is no connection of the scenario's, even when its end was captured.
  const scenarioConnection = (conn: Connection) =>
    [conn.originator.address, conn.responder.address].every((a) =>
      a === addresses.client || a === addresses.server
    ) && conn.responder.port !== artifacts.probePort && conn.originator.port !== artifacts.probePort;
  const withReset = (c: DecodedCapture | undefined) =>
    c?.connections.some((conn) =>
      scenarioConnection(conn) && (conn.firstRst.orig !== null || conn.firstRst.resp !== null)
    ) ?? false;
  // The connections between the two programs, from the client's capture where there is one; through a
  // path, from the server's when only the server's saw an RST (the path sent it, and only the server
  // learnt how the connection ended).
  const [clientCapture, serverCapture] = ["client", "server"].map((s) => captures.find((c) => c.side === s));
  const primary = box && withReset(serverCapture) && !withReset(clientCapture)
    ? serverCapture
    : captures.find((c) => c.side === "client" && c.packets.length > 0) ??
      captures.find((c) => c.packets.length > 0);
  const connections = (primary?.connections ?? []).filter(scenarioConnection);
  // Times count from the client's SYN, as the client's capture has it when the connections are the server's.
  const t0 =
    (primary?.side === "server" ? clientCapture?.connections.find(scenarioConnection)?.startNs : undefined) ??
      connections[0]?.startNs ?? firstCallTime(logs) ?? 0n;
  const ms = (ns: bigint) => Number(ns - t0) / 1e6;

  const calls: CallRecord[] = SIDES.flatMap((side) => logs[side].calls.map((c) => callRecord(c, side, ms)))
    .sort((a, b) => a.enterMs - b.enterMs);

  const results: ConnectionResult[] = connections.map((conn, i) => {
    const teardown = classifyTeardown(conn);
    const sideOfDirection = (d: Direction | null): Side | null => {
      if (d === null) return null;
      const s = sideOf(d === "orig" ? conn.originator.address : conn.responder.address);
      return s === "other" ? null : s;
    };
    const resetBy = sideOfDirection(teardown.resetBy);
    const closedFirstBy = sideOfDirection(teardown.closedFirstBy);
    const actor = resetBy ?? closedFirstBy;
    const ports = new Set([conn.originator.port, conn.responder.port]);
    for (const [natPort, port] of nat?.ports ?? []) if (ports.has(port)) ports.add(natPort);
    const connEvents = traceEvents.filter((e) => ports.has(portOf(e.local)) && ports.has(portOf(e.remote)));
    const actorReasons = connEvents
      .filter((e) => e.event === "tcp_send_reset" && actor !== null && sideOf(hostOf(e.local)) === actor)
      .map((e) => e.reason ?? "")
      .filter((r) => r !== "");
    const actorCalls = actor ? calls.filter((c) => c.side === actor) : [];
    const pathReset = resetBy === null || !box ? null : pathResetProof({
      resetBy,
      packets: {
        ...Object.fromEntries(
          captures.map((c) => [c.side, c.packets.filter((p) => sameConnection(p, conn))]),
        ),
        ...(middleboxPackets ? { middlebox: middleboxPackets.filter((p) => sameConnection(p, conn)) } : {}),
      },
      addresses,
      traceAvailable: artifacts.trace.available,
      resetsSent: connEvents.filter((e) =>
        e.event === "tcp_send_reset" && sideOf(hostOf(e.local)) === resetBy
      )
        .length,
      rules: ruleCounters,
    });
    const natExpiry = resetBy === null || !nat || !box ? null : natExpiryProof({
      resetBy,
      packets: Object.fromEntries(
        captures.map((c) => [c.side, c.packets.filter((p) => sameConnection(p, conn))]),
      ) as Record<Side, TcpPacket[]>,
      middlebox: (middleboxPackets ?? []).filter((p) => sameConnection(untranslated(p, nat), conn)),
      addresses,
      natAddress: box.address,
      traceAvailable: artifacts.trace.available,
      resetsSent: connEvents.filter((e) =>
        e.event === "tcp_send_reset" && sideOf(hostOf(e.local)) === resetBy
      )
        .length,
      middleboxResets: connEvents
        .filter((e) => e.event === "tcp_send_reset" && hostOf(e.local) === box.address)
        .map((e) => e.reason ?? "no reason given"),
      trackedAfter: trackedAfter(box.holderLog, conn),
      rules: ruleCounters,
    });
    const icmpError = resetBy !== null || !box ? null : icmpErrorFacts(calls, counters, ruleCounters);
    const peerLostState = resetBy === null || !restart || !restartPackets ? null : peerRestartProof({
      resetBy,
      restarted: restart.side,
      cutMs: restart.atMs,
      cutRealNs: BigInt(restart.cutRealNs),
      holder: restart.holder,
      packets: {
        receiver: (captures.find((c) => c.side !== restart.side)?.packets ?? []).filter((p) =>
          sameConnection(p, conn)
        ),
        first: restartPackets.first.filter((p) => sameConnection(p, conn)),
        fresh: restartPackets.fresh.filter((p) => sameConnection(p, conn)),
      },
      addresses,
      traceAvailable: artifacts.trace.available,
      resets: connEvents.filter((e) =>
        e.event === "tcp_send_reset" && sideOf(hostOf(e.local)) === restart.side
      ),
      freshCounters,
    });
    const decided = decideCause({
      packetCandidates: teardown.candidates,
      reset: resetBy !== null,
      resetReasons: actorReasons,
      counters: actor ? counters[actor] : {},
      calls: actorCalls,
      handshakeCompleted: conn.handshakeCompleted,
      neverAccepted: actor !== null &&
        neverAccepted(actorCalls, endpointText(conn, actor === "server" ? "client" : "server", sideOf)),
      ...(pathReset ? { pathReset } : {}),
      ...(natExpiry ? { natExpiry } : {}),
      ...(icmpError ? { icmpError } : {}),
      ...(peerLostState ? { peerLostState } : {}),
      ...timedOutEvidence(calls, counters, conn, sideOf),
    });
    // Unread at close: what the closer acknowledged (its ACKs) less what its program read (its calls).
    const use = actor
      ? socketUse(actorCalls, endpointText(conn, actor === "server" ? "client" : "server", sideOf))
      : { closedBy: null, bytesRead: null };
    const delivered = actor !== null && actor === resetBy ? teardown.ackedByResetter : null;
    const unreadCount = delivered !== null && use.bytesRead !== null
      ? { delivered, read: use.bytesRead }
      : null;
    const resetPacket = teardown.resetPacket === null ? null : conn.packets[teardown.resetPacket] ?? null;
    // One numbering for the connection's packets in both captures, from the connection's own ISNs.
    const numbering = new SequenceNumbering(conn.isn.orig, conn.isn.resp);
    const packetRecords = [
      ...captures.flatMap((capture) =>
        capture.packets
          .filter((p) => sameConnection(p, conn))
          .map((p) => packetRecord(p, capture, conn, numbering, sideOf, ms))
      ),
      // The middlebox's capture as it was: a forwarded packet twice (in, then out), the NAT's address as is.
      ...(middleboxCapture?.packets ?? [])
        .filter((p) => sameConnection(nat ? untranslated(p, nat) : p, conn))
        .map((p) =>
          packetRecord(p, middleboxCapture!, conn, numbering, sideOf, ms, nat ? untranslated(p, nat) : p)
        ),
    ];
    const resetRecord = resetPacket === null
      ? null
      : packetRecords.find((r) => r.capture === primary?.side && r.index === resetPacket.index) ?? null;
    // The ICMP errors each capture's tracker attached to this connection (as that capture saw it).
    const icmpErrors = [...captures, ...(middleboxCapture ? [middleboxCapture] : [])].flatMap((c) =>
      (c === primary ? [conn] : seenElsewhere(c.connections, conn, connections)).flatMap((own) =>
        (own.icmpErrors ?? []).map((e) =>
          icmpErrorRecord(
            e,
            c.side,
            ms,
            (address) => address === box?.address ? "middlebox" : sideOf(address),
          )
        )
      )
    ).sort((a, b) => a.ms - b.ms);
    return {
      id: i + 1,
      client: endpointText(conn, "client", sideOf),
      server: endpointText(conn, "server", sideOf),
      state: conn.state,
      history: conn.history,
      handshakeCompleted: conn.handshakeCompleted,
      resetBy,
      closedFirstBy,
      seenFrom: primary?.side === "server" ? "server" : "client",
      cause: decided.cause,
      confidence: decided.confidence,
      candidates: decided.candidates,
      facts: {
        unreadBytes: actor ? unreadAtClose(delivered, use.bytesRead) ?? teardown.unreadBytes ?? null : null,
        unreadCount,
        closedBy: use.closedBy,
        resetSeq: resetRecord?.seq ?? null,
        resetAck: resetRecord?.ack ?? null,
        resetFlags: resetPacket ? tcpdumpFlags(resetPacket.flags) : null,
        finsCrossed: finsCrossed(packetRecords.filter((p) => p.capture === (primary?.side ?? "client"))),
        ...finSent(packetRecords, closedFirstBy),
      },
      packets: packetRecords,
      ...(icmpErrors.length > 0 ? { icmpErrors } : {}),
      kernel: {
        traceAvailable: artifacts.trace.available,
        traceNote: artifacts.trace.note,
        activeResetReasons: artifacts.trace.activeResetReasons,
        resetReasons: connEvents.filter((e) => e.event === "tcp_send_reset").map((e) => ({
          side: box && hostOf(e.local) === box.address ? "middlebox" as const : sideOf(hostOf(e.local)),
          ms: e.realNs === null ? null : ms(e.realNs),
          state: e.state,
          reason: e.reason,
          text: e.text.replace(/skbaddr=\S+ skaddr=\S+ /, ""),
        })),
        stateChanges: connEvents.filter((e) => e.event === "inet_sock_set_state").map((e) => ({
          side: sideOf(hostOf(e.local)),
          ms: e.realNs === null ? null : ms(e.realNs),
          local: e.local,
          remote: e.remote,
          change: e.state ?? "",
        })),
        counters,
        socketsLeft,
      },
    };
  });

  // The connection the scenario is about (the first, unless it says another): focusConnection's
  // choice, made here before the result it reads exists.
  const focus = artifacts.scenario.expect.connection ?? 1;
  const first = results[focus - 1] ?? null;
  const verdict = verdictSentence(first, artifacts.timedOut);
  const pathRules = box ? pathRuleRecords(artifacts.scenario.path?.rules ?? [], ruleCounters) : [];
  return {
    tool: "tcplab",
    version: artifacts.environment.labVersion,
    runId: artifacts.runId,
    startedAt: artifacts.startedAt,
    scenario: {
      name: artifacts.scenario.name,
      title: artifacts.scenario.title,
      description: artifacts.scenario.description,
      steps: { client: artifacts.sides.client.command, server: artifacts.sides.server.command },
      programs: { client: artifacts.sides.client.program, server: artifacts.sides.server.program },
      images: Object.fromEntries(
        SIDES.flatMap((side) => {
          const spec = artifacts.scenario[side];
          return "program" in spec && "image" in spec.program ? [[side, spec.program.image]] : [];
        }),
      ),
      ...hostPrograms(artifacts),
      expect: artifacts.scenario.expect,
    },
    verdict,
    expectation: withTimeoutCheck(
      checkExpectation(artifacts.scenario.expect, first, artifacts.trace, results.length),
      artifacts.timedOut,
    ),
    connections: results,
    focus,
    calls,
    captures: {
      ...Object.fromEntries(SIDES.map((side) => [side, {
        file: artifacts.sides[side].pcapFile,
        packets: captures.find((c) => c.side === side)?.packets.length ?? 0,
        stats: artifacts.sides[side].captureStats,
        ...(restart?.side === side && restart.pcap ? { restartedFile: restart.pcapFile } : {}),
      }])) as Record<Side, CaptureRecord>,
      ...(box
        ? {
          middlebox: {
            address: box.address,
            file: box.pcapFile,
            packets: middleboxPackets?.length ?? 0,
            stats: box.captureStats,
          },
        }
        : {}),
    },
    ...(pathRules.length > 0 ? { pathRules } : {}),
    environment: artifacts.environment,
    timedOut: artifacts.timedOut,
    phases: artifacts.phases,
    contrast: null,
    reproduce: reproductionOf(artifacts.scenario),
    attempts: { count: 1, note: null },
    warnings,
    ...(box?.queueLog !== undefined
      ? {
        pathHolds: pathHolds(
          artifacts.scenario.path?.rules ?? [],
          parseHeldPackets(box.queueLog),
          ruleCounters,
          queueBound(box.queueLog),
        ),
      }
      : {}),
  };
}

/** The first side whose call on this connection failed with ETIMEDOUT, with its counter and keepalive. */
function timedOutEvidence(
  calls: CallRecord[],
  counters: Record<Side, Counters>,
  conn: Connection,
  sideOf: (address: string) => Side | "other",
): { timedOut: NonNullable<CauseEvidence["timedOut"]> } | Record<never, never> {
  const failed = calls.find((c) => c.errno === "ETIMEDOUT");
  if (!failed) return {};
  const side = failed.side;
  const peer = endpointText(conn, side === "server" ? "client" : "server", sideOf);
  const own = calls.filter((c) => c.side === side);
  if (socketUse(own, peer).closedBy === null) return {};
  return {
    timedOut: {
      side,
      abortOnTimeout: counters[side]["TcpExt.TCPAbortOnTimeout"] ?? 0,
      keepalive: own.some((c) => c.call === "setsockopt" && c.args === "SO_KEEPALIVE=1" && c.ret === 0),
      userTimeoutMs: _userTimeoutMs(own),
      call: `${failed.call}()`,
    },
  };
}

/** The last TCP_USER_TIMEOUT a side set (tcplab logs "TCP_USER_TIMEOUT=MS"), or null when none or 0. */
function _userTimeoutMs(calls: CallRecord[]): number | null {
  const set = calls.findLast((c) =>
    c.call === "setsockopt" && c.ret === 0 && (c.args ?? "").startsWith("TCP_USER_TIMEOUT=")
  );
  const ms = set ? Number((set.args ?? "").slice("TCP_USER_TIMEOUT=".length)) : 0;
  return Number.isInteger(ms) && ms > 0 ? ms : null;
}

/** A run that timed out did not do what its scenario says, whatever the packets show. */
function withTimeoutCheck(
  expectation: RunResult["expectation"],
  timedOut: string | null,
): RunResult["expectation"] {
  if (!timedOut) return expectation;
  return {
    met: false,
    checks: [
      ...expectation.checks,
      { what: "the programs finished in time", expected: "yes", actual: timedOut, ok: false, skipped: null },
    ],
  };
}

/**
 * Whether both sides sent FIN before they saw the other's: each FIN's ack
 * does not yet cover the peer's FIN (numbers relative to each side's ISN).
 */
export function finsCrossed(packets: PacketRecord[]): boolean {
  const fin = (from: Side) => packets.find((p) => p.from === from && p.flags.includes("F"));
  const c = fin("client");
  const s = fin("server");
  if (!c || !s || !c.flags.includes(".") || !s.flags.includes(".")) return false;
  return c.ack < s.seq + s.length + 1 && s.ack < c.seq + c.length + 1;
}

/**
 * How many times `side`'s own capture shows it sending its FIN (the same
 * sequence number each time), as the `finSent` fact when more than once.
 */
export function finSent(packets: PacketRecord[], side: Side | null): { finSent?: number } {
  if (side === null) return {};
  const fins = packets.filter((p) => p.capture === side && p.from === side && p.flags.includes("F"));
  return fins.length > 1 && fins.every((p) => p.seq === fins[0]!.seq) ? { finSent: fins.length } : {};
}

function decodeCapture(
  side: Side,
  pcap: Uint8Array | null,
  file: string,
  warnings: string[],
): DecodedCapture {
  const lines = new Map<TcpPacket, string>();
  if (!pcap) {
    warnings.push(`the ${side}'s capture (${file}) could not be collected`);
    return { side, packets: [], lines, connections: [] };
  }
  const { packets, connections, problem } = readConnections(pcap, file);
  if (problem !== null) warnings.push(`the ${side}'s capture is damaged: ${problem.message}`);
  return { side, packets, lines: tcpdumpLines(packets), connections };
}

/** Each packet's line in tcpdump's notation. */
function tcpdumpLines(packets: TcpPacket[]): Map<TcpPacket, string> {
  const formatter = new TcpdumpFormatter();
  return new Map(packets.map((p) => [p, formatter.format(p)]));
}

/** The server's capture as the client's side of the NAT would show it (lab/verdict/nat_mapping.ts). */
function untranslatedCapture(capture: DecodedCapture, nat: NatMapping): DecodedCapture {
  const copies = new Map<TcpPacket, TcpPacket>();
  const packets = capture.packets.map((p) => {
    const copy = untranslated(p, nat);
    copies.set(p, copy);
    return copy;
  });
  return {
    side: capture.side,
    packets,
    // The tcpdump lines stay the capture's own, with the NAT's address.
    lines: new Map([...capture.lines].map(([p, line]) => [copies.get(p) ?? p, line])),
    connections: capture.connections.map((conn) =>
      untranslatedConnection(conn, nat, (p) => copies.get(p) ?? p)
    ),
  };
}

/**
 * A connection of a capture taken behind the NAT, by the client's side of it: its endpoints, its packets
 * (through `packet`) and the packets its ICMP errors quote. An ICMP error's own sender and destination stay
 * as captured, as the tcpdump lines do.
 */
function untranslatedConnection(
  conn: Connection,
  nat: NatMapping,
  packet: (p: TcpPacket) => TcpPacket,
): Connection {
  const endpoint = (e: Endpoint): Endpoint =>
    e.address === nat.natAddress ? { address: nat.clientAddress, port: nat.ports.get(e.port) ?? e.port } : e;
  const quoted = (q: IcmpErrorPacket["quoted"]): IcmpErrorPacket["quoted"] => {
    const src = endpoint({ address: q.src, port: q.srcPort });
    const dst = endpoint({ address: q.dst, port: q.dstPort });
    return { ...q, src: src.address, srcPort: src.port, dst: dst.address, dstPort: dst.port };
  };
  return {
    ...conn,
    originator: endpoint(conn.originator),
    responder: endpoint(conn.responder),
    packets: conn.packets.map(packet),
    ...(conn.icmpErrors
      ? { icmpErrors: conn.icmpErrors.map((e) => ({ ...e, quoted: quoted(e.quoted) })) }
      : {}),
  };
}

/**
 * The connections of another capture that are `conn` as that capture saw it: the same endpoints (either
 * way), and a start nearer to `conn`'s than to that of any other of `ours` with those endpoints, so a
 * four-tuple used again goes to the connection it belongs to. The middlebox's capture behind a NAT has two
 * (its client's side and its server's).
 */
function seenElsewhere(theirs: Connection[], conn: Connection, ours: Connection[]): Connection[] {
  const gap = (a: Connection, b: Connection) =>
    a.startNs > b.startNs ? a.startNs - b.startNs : b.startNs - a.startNs;
  return theirs.filter((t) =>
    sameEndpoints(t, conn) &&
    ours.every((o) => o === conn || !sameEndpoints(o, t) || gap(t, conn) <= gap(t, o))
  );
}

/** Whether two connections have the same two endpoints, either way. */
function sameEndpoints(a: Connection, b: Connection): boolean {
  const same = (x: Endpoint, y: Endpoint) => x.address === y.address && x.port === y.port;
  return (same(a.originator, b.originator) && same(a.responder, b.responder)) ||
    (same(a.originator, b.responder) && same(a.responder, b.originator));
}

/**
 * Whether the middlebox's conntrack table (its holder's last snapshot of /proc/net/nf_conntrack)
 * still has the connection, by the client's side of it; null when the snapshot does not have the file.
 */
function trackedAfter(holderLog: string, conn: Connection): boolean | null {
  const snapshots = parseSnapshots(holderLog);
  const table = snapshots[snapshots.length - 1]?.files["/proc/net/nf_conntrack"];
  if (table === undefined || snapshots.length < 2) return null;
  const o = conn.originator;
  const r = conn.responder;
  return table.includes(`src=${o.address} dst=${r.address} sport=${o.port} dport=${r.port} `);
}

/**
 * An ICMP error that ended a connection attempt: a connect() that failed with EHOSTUNREACH or ENETUNREACH,
 * and a REJECT rule of the middlebox that answers with ICMP and counted packets; null without both.
 */
function icmpErrorFacts(
  calls: CallRecord[],
  counters: Record<Side, Counters>,
  rules: ReturnType<typeof parseRuleCounters>,
): string[] | null {
  const failed = calls.find((c) =>
    c.call === "connect" && (c.errno === "EHOSTUNREACH" || c.errno === "ENETUNREACH")
  );
  const rejected = rules.filter((r) =>
    r.target === "REJECT" && /reject-with icmp/.test(r.line) && r.packets > 0
  );
  if (!failed || rejected.length === 0) return null;
  const lockDropped = counters[failed.side]["TcpExt.LockDroppedIcmps"] ?? 0;
  const unreachable = counters[failed.side]["Icmp.InDestUnreachs"] ?? 0;
  return [
    `the ${failed.side}'s connect() failed with ${failed.errno}${
      failed.returnMs !== null ? ` after ${(failed.returnMs - failed.enterMs).toFixed(1)} ms` : ""
    }`,
    ...rejected.map((r) =>
      `the middlebox's rule ${r.comment} (${
        /reject-with (\S+)/.exec(r.line)?.[1] ?? "REJECT"
      }) counted ${r.packets} packet${r.packets === 1 ? "" : "s"}, ${r.bytes} bytes`
    ),
    ...(unreachable > 0
      ? [
        `Icmp.InDestUnreachs +${unreachable} in the ${failed.side}'s namespace: the ICMP errors reached its kernel`,
      ]
      : []),
    ...(lockDropped > 0
      ? [
        `TcpExt.LockDroppedIcmps +${lockDropped} in the ${failed.side}'s namespace: ${
          lockDropped === 1 ? "an ICMP error" : `${lockDropped} ICMP errors`
        } came while connect() still held the socket and only set a soft error, and a retransmitted SYN met the next`,
      ]
      : []),
  ];
}

function counterChanges(snapshots: Snapshot[], side: Side, warnings: string[]): Counters {
  const before = snapshots[0];
  const after = snapshots[snapshots.length - 1];
  if (!before || !after || before === after) {
    warnings.push(`the ${side}'s kernel counters could not be read before and after the run`);
    return {};
  }
  const read = (s: Snapshot) =>
    parseCounters(s.files["/proc/net/netstat"] ?? "", s.files["/proc/net/snmp"] ?? "");
  return diffCounters(read(before), read(after));
}

function socketsAfter(snapshots: Snapshot[]): SocketEntry[] {
  const after = snapshots[snapshots.length - 1];
  if (!after || snapshots.length < 2) return [];
  return [
    ...parseProcNetTcp(after.files["/proc/net/tcp"] ?? ""),
    ...parseProcNetTcp(after.files["/proc/net/tcp6"] ?? ""),
  ];
}

/** `hostPrograms` of a run with programs of this host; nothing for one without. */
function hostPrograms(artifacts: RunArtifacts): Pick<RunResult["scenario"], "hostPrograms"> {
  const programs = SIDES.flatMap((side) => {
    const spec = artifacts.scenario[side];
    return "program" in spec && "binary" in spec.program
      ? [[side, {
        binary: spec.program.binary,
        traced: artifacts.sides[side].syscallTrace !== undefined,
        exitCode: artifacts.sides[side].programExitCode,
        stdout: artifacts.sides[side].programLog,
        stderr: artifacts.sides[side].programStderr,
        ...(spec.program.stop ? { stop: spec.program.stop } : {}),
        straceMessages: artifacts.sides[side].straceMessages ?? "",
      }]]
      : [];
  });
  const untraced = SIDES.flatMap((side) => {
    const why = untracedBecause(artifacts, side);
    return why === null ? [] : [[side, why]];
  });
  return {
    ...(programs.length ? { hostPrograms: Object.fromEntries(programs) } : {}),
    ...(untraced.length ? { untraced: Object.fromEntries(untraced) } : {}),
  };
}

/**
 * Why a side's user program was not traced: as the run recorded it, or, for a run recorded before
 * the lab said so, from the scenario; null for a traced one or the lab's own steps.
 */
function untracedBecause(artifacts: RunArtifacts, side: Side): string | null {
  const s = artifacts.sides[side];
  const spec = artifacts.scenario[side];
  if (s.syscallTrace !== undefined || !("program" in spec) || s.program === "none") return null;
  if (s.untraced !== undefined) return s.untraced;
  if (!("binary" in spec.program)) return UNTRACED_BECAUSE.image;
  return spec.program.trace === false ? UNTRACED_BECAUSE.traceOff : null;
}

function firstCallTime(logs: Record<Side, { calls: Call[] }>): bigint | null {
  const times = SIDES.flatMap((s) => logs[s].calls.map((c) => c.enterNs));
  return times.length ? times.reduce((a, b) => (a < b ? a : b)) : null;
}

/**
 * Whether a side listened, closed its listening socket, and never accepted the
 * connection whose other end is `peer` ("address:port"): the connection was
 * still in the accept queue when the listener closed.
 */
function neverAccepted(calls: CallRecord[], peer: string): boolean {
  const listener = calls.find((c) => c.call === "listen" && c.ret === 0)?.fd;
  if (listener === undefined || listener === null) return false;
  const accepted = calls.some((c) => c.call === "accept" && (c.ret ?? -1) >= 0 && c.detail.peer === peer);
  const closed = calls.some((c) => c.call === "close" && c.fd === listener && c.ret === 0);
  return closed && !accepted;
}

function callRecord(call: Call, side: Side, ms: (ns: bigint) => number): CallRecord {
  return {
    side,
    step: call.step,
    call: call.call,
    fd: call.fd,
    args: call.args,
    enterMs: ms(call.enterNs),
    returnMs: call.returnNs === null ? null : ms(call.returnNs),
    ret: call.ret,
    errno: call.errno,
    detail: call.detail,
  };
}

function sameConnection(p: TcpPacket, conn: Connection): boolean {
  const o = conn.originator;
  const r = conn.responder;
  const forward = p.src === o.address && p.srcPort === o.port && p.dst === r.address && p.dstPort === r.port;
  const backward = p.src === r.address && p.srcPort === r.port && p.dst === o.address && p.dstPort === o.port;
  return (forward || backward) && p.timeNs >= conn.startNs - 1_000_000_000n &&
    p.timeNs <= conn.endNs + 1_000_000_000n;
}

function packetRecord(
  p: TcpPacket,
  capture: DecodedCapture,
  conn: Connection,
  numbering: SequenceNumbering,
  sideOf: (address: string) => Side | "other",
  ms: (ns: bigint) => number,
  /** The packet as the connection's addresses name it (through a NAT, with the client's), for its numbers. */
  named: TcpPacket = p,
): PacketRecord {
  const line = packetLine(named, conn.originator, numbering, capture.lines.get(p) ?? "");
  return {
    capture: capture.side,
    index: line.index,
    timeNs: p.timeNs.toString(),
    ms: ms(p.timeNs),
    from: sideOf(p.src),
    flags: line.flags,
    seq: line.seq,
    ack: line.ack,
    window: line.window,
    length: line.length,
    tcpdump: line.tcpdump,
  };
}

function icmpErrorRecord(
  e: IcmpErrorPacket,
  capture: CapturePoint,
  ms: (ns: bigint) => number,
  hostOf: (address: string) => CapturePoint | "other",
): IcmpErrorRecord {
  const { name, short } = icmpErrorMeaning(e.ipVersion, e.type, e.code);
  const named = (address: string) => {
    const host = hostOf(address);
    return host === "other" ? address : host;
  };
  const q = e.quoted;
  const quoted = hostOf(q.src);
  const flags = q.flags === null ? "" : `[${tcpdumpFlags(q.flags)}] `;
  return {
    capture,
    index: e.index,
    ms: ms(e.timeNs),
    name,
    from: e.from,
    sender: hostOf(e.from),
    quoted: quoted === "middlebox" ? "other" : quoted,
    // The quoted packet is the one `to` sent to its peer: its flags and sequence number say which.
    text: `${named(e.from)} > ${named(e.to)}: ${short}, for ${flags}seq ${q.seq}`,
  };
}

function endpointText(conn: Connection, side: Side, sideOf: (address: string) => Side | "other"): string {
  const e = sideOf(conn.originator.address) === side ? conn.originator : conn.responder;
  return `${e.address}:${e.port}`;
}
