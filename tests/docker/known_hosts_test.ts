/** The keys a known_hosts file accepts for a host and port: plain, hashed, lists, and lines not read. */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Buffer } from "node:buffer";
import { knownHostKeys } from "../../lab/docker/known_hosts.ts";

/** A hashed host entry, as `ssh-keygen -H` writes it. */
function _hashed(pattern: string, salt: Buffer): string {
  const hash = createHmac("sha1", salt).update(pattern).digest("base64");
  return `|1|${salt.toString("base64")}|${hash}`;
}

Deno.test("known_hosts: the keys listed for a host and port", async (t) => {
  await t.step("port 22 is the bare name; another port is [host]:port", () => {
    const text = "box ssh-ed25519 K22\n[box]:2222 ssh-ed25519 K2222\n";
    assert.deepEqual(knownHostKeys(text, "box", 22), ["K22"]);
    assert.deepEqual(knownHostKeys(text, "box", 2222), ["K2222"]);
    assert.deepEqual(knownHostKeys(text, "other", 22), []);
  });
  await t.step("a list of names, and several keys for one host", () => {
    const text = "a,box,10.0.0.1 ssh-ed25519 K1 me@x\nbox ecdsa-sha2-nistp256 K2\n";
    assert.deepEqual(knownHostKeys(text, "box", 22), ["K1", "K2"]);
    assert.deepEqual(knownHostKeys(text, "10.0.0.1", 22), ["K1"]);
  });
  await t.step("hashed names", () => {
    const salt = Buffer.from("0123456789abcdefghij");
    const text = `${_hashed("[127.0.0.1]:2200", salt)} ssh-ed25519 KH\n`;
    assert.deepEqual(knownHostKeys(text, "127.0.0.1", 2200), ["KH"]);
    assert.deepEqual(knownHostKeys(text, "127.0.0.1", 22), []);
  });
  await t.step("comments, blank lines and @cert-authority lines are not read", () => {
    const text = "# box ssh-ed25519 KC\n\n@cert-authority box ssh-ed25519 KA\n";
    assert.deepEqual(knownHostKeys(text, "box", 22), []);
  });
  await t.step("a revoked key is never accepted, whatever host its line names", () => {
    const text = "box ssh-ed25519 KR\nbox ssh-ed25519 KOK\n@revoked * ssh-ed25519 KR\n";
    assert.deepEqual(knownHostKeys(text, "box", 22), ["KOK"]);
  });
});
