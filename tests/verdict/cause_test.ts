import assert from "node:assert/strict";
import { type CauseEvidence, decideCause, fionreadBeforeClose } from "../../lab/verdict/cause.ts";
import type { CauseCandidate } from "../../lab/analysis/causes.ts";
import type { CallRecord } from "../../lab/verdict/types.ts";

const RST_AFTER_DATA: CauseCandidate[] = [
  { cause: "close-with-unread-data", confidence: "likely", reason: "RST after data it never answered" },
  { cause: "linger-zero", confidence: "possible", reason: "SO_LINGER {1, 0} looks the same" },
];

function call(
  name: string,
  args: string | null,
  ret: number,
  detail: Record<string, number> = {},
): CallRecord {
  return { side: "client", step: 1, call: name, args, enterMs: 0, returnMs: 0, ret, errno: null, detail };
}

const base: CauseEvidence = {
  packetCandidates: RST_AFTER_DATA,
  reset: true,
  resetReasons: [],
  counters: {},
  calls: [],
  handshakeCompleted: true,
};

Deno.test("the kernel's evidence settles what the packets cannot", async (t) => {
  const cases: Array<[string, Partial<CauseEvidence>, string, string, string[]]> = [
    ["packets alone: both causes, honestly", {}, "close-with-unread-data", "likely", [
      "close-with-unread-data",
      "linger-zero",
    ]],
    [
      "TCPAbortOnClose in the closer's namespace",
      { counters: { "TcpExt.TCPAbortOnClose": 1 } },
      "close-with-unread-data",
      "certain",
      [
        "close-with-unread-data",
      ],
    ],
    [
      "reason TCP_ABORT_ON_CLOSE",
      { resetReasons: ["TCP_ABORT_ON_CLOSE"] },
      "close-with-unread-data",
      "certain",
      [
        "close-with-unread-data",
      ],
    ],
    [
      "a listener closed with the connection never accepted, reason TCP_STATE",
      {
        packetCandidates: [
          { cause: "linger-zero", confidence: "likely", reason: "RST with nothing received" },
          { cause: "listener-closed", confidence: "possible", reason: "or a closed listener" },
        ],
        resetReasons: ["TCP_STATE"],
        neverAccepted: true,
      },
      "listener-closed",
      "certain",
      ["listener-closed"],
    ],
    [
      "SO_LINGER {1, 0}, reason TCP_STATE, TCPAbortOnData",
      {
        resetReasons: ["TCP_STATE"],
        counters: { "TcpExt.TCPAbortOnData": 1 },
        calls: [call("setsockopt", "SO_LINGER=1,0", 0), call("close", null, 0)],
      },
      "linger-zero",
      "certain",
      ["linger-zero"],
    ],
    [
      "FIONREAD said 1 byte before close()",
      {
        calls: [call("ioctl", "FIONREAD", 0, { value: 1 }), call("close", null, 0)],
      },
      "close-with-unread-data",
      "likely",
      ["close-with-unread-data", "linger-zero"],
    ],
    [
      "NO_SOCKET after a handshake: the closed socket was gone",
      {
        packetCandidates: [{ cause: "data-after-close", confidence: "certain", reason: "[R] answers data" }],
        resetReasons: ["NO_SOCKET"],
      },
      "data-after-close",
      "certain",
      ["data-after-close"],
    ],
    [
      "NO_SOCKET to a SYN: refused",
      {
        packetCandidates: [{ cause: "refused", confidence: "certain", reason: "RST,ACK to a SYN" }],
        resetReasons: ["NO_SOCKET"],
        handshakeCompleted: false,
      },
      "refused",
      "certain",
      ["refused"],
    ],
    ["nothing fits", { packetCandidates: [], reset: false }, "unknown", "possible", ["unknown"]],
  ];
  for (const [name, change, cause, confidence, candidates] of cases) {
    await t.step(name, () => {
      const decided = decideCause({ ...base, ...change });
      assert.equal(decided.cause, cause);
      assert.equal(decided.confidence, confidence);
      assert.deepEqual(decided.candidates.map((c) => c.cause), candidates);
    });
  }
});

Deno.test("FIONREAD before close() supports a cause: the last reading less what was read after it", () => {
  assert.equal(fionreadBeforeClose([call("ioctl", "FIONREAD", 0, { value: 3 }), call("close", null, 0)]), 3);
  assert.equal(
    fionreadBeforeClose([
      call("ioctl", "FIONREAD", 0, { value: 3 }),
      call("read", "len=3", 3),
      call("close", null, 0),
    ]),
    0,
  );
  assert.equal(fionreadBeforeClose([call("close", null, 0)]), null);
});

Deno.test("timeouts: TCPAbortOnTimeout counts them all, the calls and packets tell them apart", async (t) => {
  const timedOut = (call: string, userTimeoutMs: number | null, keepalive = false) => ({
    side: "client" as const,
    abortOnTimeout: 1,
    keepalive,
    userTimeoutMs,
    call,
  });
  const cases: Array<[string, Partial<CauseEvidence>, string]> = [
    [
      "connect() failed, the handshake never completed: the SYNs timed out",
      { reset: false, handshakeCompleted: false, timedOut: timedOut("connect()", null) },
      "syn-timeout",
    ],
    [
      "established, TCP_USER_TIMEOUT set: the user timeout",
      { reset: false, timedOut: timedOut("read()", 1500) },
      "user-timeout",
    ],
    [
      "established, no TCP_USER_TIMEOUT: tcp_retries2",
      { reset: false, timedOut: timedOut("read()", null) },
      "retransmission-timeout",
    ],
    [
      "an RST after keepalive probes: the keepalive timer, whatever the user timeout",
      { reset: true, resetReasons: ["TCP_KEEPALIVE_TIMEOUT"], timedOut: timedOut("read()", 1500, true) },
      "keepalive-timeout",
    ],
  ];
  for (const [name, evidence, cause] of cases) {
    await t.step(name, () => {
      const result = decideCause({ ...base, packetCandidates: [], ...evidence });
      assert.equal(result.cause, cause);
      assert.equal(result.confidence, "certain");
    });
  }
  await t.step("no TCPAbortOnTimeout: no timeout is certain", () => {
    const result = decideCause({
      ...base,
      packetCandidates: [],
      reset: false,
      handshakeCompleted: false,
      timedOut: { ...timedOut("connect()", null), abortOnTimeout: 0 },
    });
    assert.equal(result.cause, "unknown");
  });
});
