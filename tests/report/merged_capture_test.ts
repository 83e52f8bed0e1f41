import assert from "node:assert/strict";
import { CaptureReader, readCapture } from "../../lab/analysis/capture_reader.ts";
import { joinCaptures } from "../../lab/analysis/joined_capture.ts";
import { captureNotes, EVENTS_INTERFACE, mergeCaptures } from "../../lab/report/merged_capture.ts";
import { SIDES } from "../../lab/scenario/types.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { recordedRun, recordedRunDir } from "../_fixtures.ts";

interface Merged {
  interface: string;
  timeNs: bigint;
  bytes: string;
  comments: string[];
}

async function merged(name: string) {
  const artifacts = await recordedRun(name);
  const result = analyseRun(artifacts);
  // A restarted server's capture is its first namespace's, then its fresh one's.
  const fresh = artifacts.restart?.pcap;
  const first = artifacts.sides.server.pcap;
  const server = fresh && first ? joinCaptures(first, fresh) : first;
  const captures = {
    client: artifacts.sides.client.pcap,
    server,
    ...(artifacts.middlebox ? { middlebox: artifacts.middlebox.pcap } : {}),
  };
  const file = mergeCaptures(result, captures, "tcplab test");
  const records: Merged[] = [];
  const reader = new CaptureReader(`${name}.pcapng`, {
    record(data, start, caplen, _o, _l, seconds, nanos) {
      records.push({
        interface: reader.interfaceNames[reader.recordInterface]!,
        timeNs: BigInt(seconds) * 1_000_000_000n + BigInt(nanos),
        bytes: data.subarray(start, start + caplen).join(","),
        comments: reader.recordComments(),
      });
    },
  });
  reader.readAll(file);
  return { result, captures, records, names: reader.interfaceNames };
}

const RUNS = [...Deno.readDirSync(recordedRunDir(""))].filter((e) => e.isDirectory).map((e) => e.name).sort();

Deno.test("mergeCaptures: every recorded run, every capture whole in time order, every note once", async (t) => {
  assert.ok(RUNS.length >= 13, `the recorded runs are found (${RUNS.length})`);
  for (const name of RUNS) {
    await t.step(name, async () => {
      const { result, captures, records, names } = await merged(name);
      const notes = captureNotes(result);
      const loose = notes.filter((n) => n.packet === null);
      const points = [...SIDES, ...("middlebox" in captures ? ["middlebox" as const] : [])];
      assert.deepEqual(names, loose.length > 0 ? [...points, EVENTS_INTERFACE] : points);
      // Every record of each capture, in its order, on its own interface.
      for (const side of points) {
        assert.deepEqual(
          records.filter((r) => r.interface === side).map((r) => [r.timeNs, r.bytes]),
          // In time order: the middlebox's capture, forwarding on both CPUs, holds a few records out of it.
          [...readCapture(captures[side]!, side)].map((r) => [r.timeNs, r.data.join(",")] as const)
            .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
          `the ${side}'s records`,
        );
      }
      for (let i = 1; i < records.length; i++) {
        assert.ok(records[i - 1]!.timeNs <= records[i]!.timeNs, `record ${i + 1} is not before record ${i}`);
      }
      // Each note is one comment; the loose ones are records of their own, empty exported PDUs.
      assert.deepEqual(records.flatMap((r) => r.comments).sort(), notes.map((n) => n.text).sort());
      const events = records.filter((r) => r.interface === EVENTS_INTERFACE);
      assert.deepEqual(events.map((r) => [r.bytes, r.comments.length]), loose.map(() => ["0,0,0,0", 1]));
      assert.equal(
        notes.length,
        result.calls.length + result.connections.reduce(
          (n, c) => n + c.kernel.resetReasons.length + c.kernel.stateChanges.length,
          0,
        ),
      );
    });
  }
});

Deno.test("mergeCaptures: the founding case's RST carries the client's close() and the kernel's reason", async () => {
  const { result, records } = await merged("seed");
  const rst = result.connections[0]!.packets.find((p) => p.capture === "client" && p.flags === "R.")!;
  const onClient = records.filter((r) => r.interface === "client");
  const comments = onClient[rst.index - 1]!.comments;
  assert.deepEqual(comments.map((c) => c.replace(/\(10\.\S+ to \S+\)/, "(...)")), [
    "client: poll(POLLIN|POLLRDHUP timeout=-1) = 1 POLLIN (fd 3, step 2)",
    "client: ioctl(FIONREAD) = 0 value=1 (fd 3, step 2)",
    "client: close() = 0 (fd 3, step 3)",
    "client kernel: TCP_ESTABLISHED -> TCP_CLOSE (...)",
    "client kernel: tcp_send_reset: src=10.200.246.35:51148 dest=10.200.246.34:9999 state=TCP_CLOSE " +
    "reason=TCP_ABORT_ON_CLOSE",
  ]);
  // The server's handshake state changes go on the handshake's last ACK, not on a later packet.
  const serverAck = result.connections[0]!.packets.filter((p) => p.capture === "server")[2]!;
  assert.equal(serverAck.flags, ".");
  assert.deepEqual(
    records.filter((r) => r.interface === "server")[serverAck.index - 1]!.comments.map((c) =>
      c.split(" (")[0]
    ),
    ["server kernel: TCP_LISTEN -> TCP_SYN_RECV", "server kernel: TCP_SYN_RECV -> TCP_ESTABLISHED"],
  );
  // The server's read() and close() come after its last packet: records of their own, in order.
  assert.deepEqual(records.filter((r) => r.interface === EVENTS_INTERFACE).map((r) => r.comments), [
    ["server: read(len=1) = -1 ECONNRESET (fd 4, step 6)"],
    ["server: close() = 0 (fd 4, step 7)"],
  ]);
});

Deno.test("mergeCaptures: the NAT's reset is a middlebox record, with the middlebox kernel's reason", async () => {
  const { result, records } = await merged("nat-idle-expiry");
  const rst = result.connections[0]!.packets.find((p) => p.capture === "middlebox" && p.flags === "R")!;
  const onBox = records.filter((r) => r.interface === "middlebox");
  assert.deepEqual(
    onBox[rst.index - 1]!.comments.map((c) => c.replace(/src=\S+ dest=\S+ /, "")),
    ["middlebox kernel: tcp_send_reset: state=UNKNOWN reason=NO_SOCKET"],
  );
});
