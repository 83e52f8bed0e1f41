/** The probe of the lab's own path: the TypeScript and the holder agree on how long the client tries. */
import assert from "node:assert/strict";
import { brokenPathError, PROBE_WINDOW_MS } from "../../lab/run/path_probe.ts";
import { BRIDGE_NF_CALL_IPTABLES } from "../../lab/run/host_proc.ts";

Deno.test("the client's holder tries for PROBE_WINDOW_MS, as holder.c's PROBE_LIMIT_MS says", () => {
  const source = Deno.readTextFileSync(new URL("../../containers/endpoint/holder.c", import.meta.url));
  const limit = /#define PROBE_LIMIT_MS (\d+)/.exec(source)?.[1];
  assert.equal(Number(limit), PROBE_WINDOW_MS);
  // The server's holder listens longer than the client tries: a client that starts late still finds it.
  const listen = /#define PROBE_LISTEN_MS (\d+)/.exec(source)?.[1];
  assert.ok(Number(listen) > PROBE_WINDOW_MS, `PROBE_LISTEN_MS ${listen}`);
});

Deno.test("a broken path's message quotes bridge-nf-call-iptables when it was read, and says why when not", async (t) => {
  const message = (read: Parameters<typeof brokenPathError>[2]["bridgeNfCallIptables"]) =>
    brokenPathError("10.200.0.2:61999", 4000, { bridgeNfCallIptables: read, engineBridgeNfIptables: null })
      .message;
  await t.step("1: bridged packets meet iptables", () => {
    assert.match(
      message({ value: "1", source: BRIDGE_NF_CALL_IPTABLES }),
      /; \/proc\/sys\/net\/bridge\/bridge-nf-call-iptables = 1 \(bridged packets go through iptables' FORWARD chain\); the engine's \/info does not say BridgeNfIptables$/,
    );
  });
  await t.step("0: quoted, nothing claimed", () => {
    assert.match(
      message({ value: "0", source: BRIDGE_NF_CALL_IPTABLES }),
      /bridge-nf-call-iptables = 0; the engine/,
    );
  });
  await t.step("unreadable: says so, with why", () => {
    const text = message({
      unreadable: "the Docker engine is on another host, whose /proc the lab cannot read",
    });
    assert.match(
      text,
      /; the lab could not read bridge-nf-call-iptables: the Docker engine is on another host, whose \/proc the lab cannot read; /,
    );
    assert.doesNotMatch(text, /= \d/);
  });
  assert.equal(message({ value: "1", source: BRIDGE_NF_CALL_IPTABLES }).split("\n").length, 1);
});
