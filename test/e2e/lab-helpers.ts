/** Helpers for e2e tests that run against the lab. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { CliClient } from '../../src/cli/cli-client.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SEND_FRAMES = join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'send_frames.py');

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export async function cli(socket: string, command: string): Promise<string> {
  const client = await CliClient.connect(socket);
  try {
    const reply = await client.run(command);
    if (!reply.ok) throw new Error(`${command}: ${reply.output}`);
    return reply.output;
  } finally {
    client.close();
  }
}

/** The value of one counter row of `show interface <if>`, 0 when absent. */
export function counter(showInterface: string, name: string): number {
  const m = new RegExp(`${name}\\s+(\\d+)`).exec(showInterface);
  return m === null ? 0 : Number(m[1]);
}

/** The count of a `show errors` row whose reason contains `reason`, 0 when absent. */
export function errorCount(showErrors: string, node: string, reason: string): number {
  for (const line of showErrors.split('\n')) {
    const m = /^\s*(\d+)\s+(\S+)\s+(.*?)\s+(error|info)\s*$/.exec(line);
    if (m !== null && m[2] === node && m[3].includes(reason)) return Number(m[1]);
  }
  return 0;
}

export interface Capture {
  /** Resolves with tshark's stdout once it exits. */
  done: Promise<string>;
  process: ChildProcess;
}

/** Starts tshark (not promiscuous) in a namespace and resolves once it is capturing. */
export async function startCapture(ns: string, iface: string, filter: string, fields: string[], options: { count: number; seconds: number }): Promise<Capture> {
  const args = ['netns', 'exec', ns, 'tshark', '-l', '-n', '-p', '-i', iface, '-f', filter, '-c', String(options.count), '-a', `duration:${options.seconds}`, '-T', 'fields'];
  for (const f of fields) args.push('-e', f);
  const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const ready = new Promise<void>((resolveReady, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      // dumpcap announces the capture before the socket is attached; wait for tshark's own word.
      if (err.includes('Capture started')) resolveReady();
    });
    child.once('exit', () => reject(new Error(`tshark exited before capturing: ${err}`)));
  });
  const done = new Promise<string>((resolveDone) => child.once('exit', () => resolveDone(out)));
  await ready;
  return { done, process: child };
}
