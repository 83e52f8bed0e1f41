/** The probe of the lab's own path: the TypeScript and the holder agree on how long the client tries. */
import assert from "node:assert/strict";
import { PROBE_WINDOW_MS } from "../../lab/run/path_probe.ts";

Deno.test("the client's holder tries for PROBE_WINDOW_MS, as holder.c's PROBE_LIMIT_MS says", () => {
  const source = Deno.readTextFileSync(new URL("../../containers/endpoint/holder.c", import.meta.url));
  const limit = /#define PROBE_LIMIT_MS (\d+)/.exec(source)?.[1];
  assert.equal(Number(limit), PROBE_WINDOW_MS);
  // The server's holder listens longer than the client tries: a client that starts late still finds it.
  const listen = /#define PROBE_LISTEN_MS (\d+)/.exec(source)?.[1];
  assert.ok(Number(listen) > PROBE_WINDOW_MS, `PROBE_LISTEN_MS ${listen}`);
});
