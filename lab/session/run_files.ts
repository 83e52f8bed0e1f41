/**
 * A run's folder: the report, the result, the pcaps, and the raw evidence
 * (program logs, kernel snapshots, trace) so that a run can be analysed
 * again later, by a reviewer or by the lab's own tests. This module only
 * writes and reads files: the report comes rendered.
 *
 * @module
 */

import type { RunArtifacts, SideArtifacts } from "../evidence/artifacts.ts";
import { type Side, SIDES } from "../scenario/types.ts";
import { SCENARIO_FILE } from "../verdict/reproduction.ts";
import type { RunResult } from "../verdict/types.ts";

/** Write the pcaps and the raw evidence of a run into `dir`. */
export async function saveArtifacts(dir: string, artifacts: RunArtifacts): Promise<void> {
  await Deno.mkdir(`${dir}/evidence`, { recursive: true });
  const rest: Record<string, unknown> = { ...artifacts, sides: {} };
  for (const side of SIDES) {
    const s = artifacts.sides[side];
    if (s.pcap) await Deno.writeFile(`${dir}/${s.pcapFile}`, s.pcap);
    await Deno.writeTextFile(`${dir}/evidence/${side}-program.log`, s.programLog);
    await Deno.writeTextFile(`${dir}/evidence/${side}-program.stderr`, s.programStderr);
    await Deno.writeTextFile(`${dir}/evidence/${side}-namespace.log`, s.holderLog);
    if (s.syscallTrace !== undefined) {
      await Deno.writeTextFile(`${dir}/evidence/${side}-syscalls.strace`, s.syscallTrace);
    }
    if (s.straceMessages) await Deno.writeTextFile(`${dir}/evidence/${side}-strace.stderr`, s.straceMessages);
    (rest.sides as Record<string, unknown>)[side] = {
      side: s.side,
      address: s.address,
      pcapFile: s.pcapFile,
      captureStats: s.captureStats,
      program: s.program,
      command: s.command,
      programExitCode: s.programExitCode,
      ...(s.untraced !== undefined ? { untraced: s.untraced } : {}),
      hasPcap: s.pcap !== null,
    };
  }
  const box = artifacts.middlebox;
  if (box) {
    if (box.pcap) await Deno.writeFile(`${dir}/${box.pcapFile}`, box.pcap);
    await Deno.writeTextFile(`${dir}/evidence/middlebox-namespace.log`, box.holderLog);
    await Deno.writeTextFile(`${dir}/evidence/middlebox-rules.log`, box.ruleLog);
    await Deno.writeTextFile(`${dir}/evidence/middlebox-iptables.txt`, box.counters);
    if (box.queueLog !== undefined) {
      await Deno.writeTextFile(`${dir}/evidence/middlebox-queue.log`, box.queueLog);
    }
    rest.middlebox = {
      address: box.address,
      pcapFile: box.pcapFile,
      captureStats: box.captureStats,
      hasPcap: box.pcap !== null,
    };
  }
  const restart = artifacts.restart;
  if (restart) {
    if (restart.pcap) await Deno.writeFile(`${dir}/${restart.pcapFile}`, restart.pcap);
    await Deno.writeTextFile(`${dir}/evidence/server-restarted-namespace.log`, restart.holderLog);
    const { pcap: _pcap, holderLog: _log, ...record } = restart;
    rest.restart = { ...record, hasPcap: restart.pcap !== null };
  }
  const { text, ...trace } = artifacts.trace;
  rest.trace = trace;
  await Deno.writeTextFile(`${dir}/evidence/trace.txt`, text);
  await Deno.writeTextFile(`${dir}/evidence/run.json`, JSON.stringify(rest, null, 2) + "\n");
}

/**
 * Write a run's result.json, its rendered report.md and the scenario file
 * it ran (scenario.yaml, which the report's reproduce command names) into
 * its folder.
 */
export async function saveResult(dir: string, result: RunResult, report: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/result.json`, JSON.stringify(result, null, 2) + "\n");
  await Deno.writeTextFile(`${dir}/report.md`, report);
  const text = result.reproduce.scenarioText;
  if (text !== null) await Deno.writeTextFile(`${dir}/${SCENARIO_FILE}`, text);
}

/**
 * Write what an interrupted run had collected (files by name, relative to
 * `dir`) and the note that says so, INTERRUPTED.md.
 */
export async function saveCollected(
  dir: string,
  files: Record<string, string | Uint8Array>,
  note: string,
): Promise<void> {
  await Deno.mkdir(`${dir}/evidence`, { recursive: true });
  for (const [name, data] of Object.entries(files)) {
    if (typeof data === "string") await Deno.writeTextFile(`${dir}/${name}`, data);
    else await Deno.writeFile(`${dir}/${name}`, data);
  }
  await Deno.writeTextFile(`${dir}/INTERRUPTED.md`, note);
}

/** Write a text file, making its folder first. */
export async function saveText(path: string, text: string): Promise<void> {
  await Deno.mkdir(path.slice(0, Math.max(path.lastIndexOf("/"), 0)) || ".", { recursive: true });
  await Deno.writeTextFile(path, text);
}

/** Read back what {@link saveArtifacts} wrote. */
export async function loadArtifacts(dir: string): Promise<RunArtifacts> {
  const rest = JSON.parse(await Deno.readTextFile(`${dir}/evidence/run.json`));
  const sides = {} as Record<Side, SideArtifacts>;
  for (const side of SIDES) {
    const s = rest.sides[side];
    sides[side] = {
      side,
      address: s.address,
      pcapFile: s.pcapFile,
      pcap: s.hasPcap ? await Deno.readFile(`${dir}/${s.pcapFile}`) : null,
      captureStats: s.captureStats,
      program: s.program ?? "tcplab",
      command: s.command ?? [],
      programLog: await Deno.readTextFile(`${dir}/evidence/${side}-program.log`),
      programStderr: await Deno.readTextFile(`${dir}/evidence/${side}-program.stderr`),
      programExitCode: s.programExitCode,
      holderLog: await Deno.readTextFile(`${dir}/evidence/${side}-namespace.log`),
    };
    const syscalls = await Deno.readTextFile(`${dir}/evidence/${side}-syscalls.strace`).catch(() => null);
    if (syscalls !== null) sides[side].syscallTrace = syscalls;
    const messages = await Deno.readTextFile(`${dir}/evidence/${side}-strace.stderr`).catch(() => null);
    if (messages !== null) sides[side].straceMessages = messages;
    if (s.untraced !== undefined) sides[side].untraced = s.untraced;
  }
  const box = rest.middlebox;
  const restart = rest.restart;
  if (restart) {
    const { hasPcap, ...record } = restart;
    rest.restart = {
      ...record,
      pcap: hasPcap ? await Deno.readFile(`${dir}/${restart.pcapFile}`) : null,
      holderLog: await Deno.readTextFile(`${dir}/evidence/server-restarted-namespace.log`),
    };
  }
  return {
    ...rest,
    sides,
    ...(box
      ? {
        middlebox: {
          address: box.address,
          pcapFile: box.pcapFile,
          pcap: box.hasPcap ? await Deno.readFile(`${dir}/${box.pcapFile}`) : null,
          captureStats: box.captureStats,
          holderLog: await Deno.readTextFile(`${dir}/evidence/middlebox-namespace.log`),
          ruleLog: await Deno.readTextFile(`${dir}/evidence/middlebox-rules.log`),
          counters: await Deno.readTextFile(`${dir}/evidence/middlebox-iptables.txt`),
          ...(await Deno.readTextFile(`${dir}/evidence/middlebox-queue.log`).then(
            (queueLog) => ({ queueLog }),
            (error) => { // no hold rule: no queue program, no log
              if (error instanceof Deno.errors.NotFound) return {};
              throw error;
            },
          )),
        },
      }
      : {}),
    trace: { ...rest.trace, text: await Deno.readTextFile(`${dir}/evidence/trace.txt`) },
  };
}
