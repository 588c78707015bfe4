// Shared test plumbing: configs pointed at the simulator, the collector as a child process, output and manifest readers.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { RunningSimulator } from '../../src/simulator/index.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const MAIN = join(REPO, 'dist/cli/main.js');

export interface ConfigOptions {
  dataDir: string;
  output: string;
  types?: readonly string[];
  pollInterval?: string;
  chunkEvents?: number;
  sinkMaxEvents?: number;
  journalMaxEvents?: number;
  startFrom?: string;
  maxSize?: string;
}

/** A collector config (YAML) pointed at a running simulator with one file sink. */
export function collectorYaml(sim: RunningSimulator, o: ConfigOptions): string {
  return [
    `data_dir: ${JSON.stringify(o.dataDir)}`,
    'log_level: info',
    'shutdown_timeout: 10s',
    'journal:',
    `  max_events: ${o.journalMaxEvents ?? 1_000_000}`,
    'accounts:',
    '  - name: sim',
    `    base_url: ${sim.url}`,
    `    client_id: ${JSON.stringify(sim.clientId)}`,
    `    client_secret: ${JSON.stringify(sim.clientSecret)}`,
    `    start_from: ${o.startFrom ?? '7d'}`,
    `    poll_interval: ${o.pollInterval ?? '1s'}`,
    '    request_timeout: 20s',
    '    streams:',
    '      siem:',
    ...(o.types !== undefined ? [`        types: [${o.types.join(', ')}]`] : []),
    `        chunk_events: ${o.chunkEvents ?? 500}`,
    'sinks:',
    '  - name: file',
    '    type: file',
    `    path: ${JSON.stringify(o.output)}`,
    `    max_size: ${o.maxSize ?? '1GB'}`,
    '    max_files: 3',
    '    batch:',
    `      max_events: ${o.sinkMaxEvents ?? 500}`,
    '      max_wait: 100ms',
    '',
  ].join('\n');
}

export function writeConfig(path: string, yaml: string): string {
  writeFileSync(path, yaml);
  return path;
}

/**
 * Every JSON line of the sink's output, rotated files first (oldest to newest). Every complete line must parse (a
 * torn line would throw). The newest file's unterminated tail is a line the collector is still writing: skipped,
 * unless `settled` says the writer has stopped, when it must not exist at all.
 */
export function readOutput(path: string, opts: { settled?: boolean } = {}): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const f of outputFiles(path)) {
    const lines = readFileSync(f, 'utf8').split('\n');
    const tail = lines.pop() ?? '';
    if (tail !== '') {
      if (f !== path || opts.settled === true) throw new Error(`${f} ends in an unterminated line: ${tail.slice(0, 120)}`);
    }
    for (const line of lines) {
      if (line.trim() !== '') out.push(JSON.parse(line) as Record<string, unknown>);
    }
  }
  return out;
}

/** The sink's output files, rotated ones first (oldest to newest). */
function outputFiles(path: string): string[] {
  const dir = dirname(path);
  if (!existsSync(dir)) return [];
  const base = path.slice(dir.length + 1);
  const rotated = readdirSync(dir)
    .filter((f) => f.startsWith(base + '.') && /^\d+$/.test(f.slice(base.length + 1)))
    .sort((a, b) => Number(b.slice(base.length + 1)) - Number(a.slice(base.length + 1)));
  return [...rotated.map((f) => join(dir, f)), ...(existsSync(path) ? [path] : [])];
}

/**
 * Complete lines in the sink's output so far, counted without parsing them: tests that poll a growing output in the
 * collector's own process check this first (parsing tens of MB every poll starved the collector they wait for).
 */
export function outputLineCount(path: string): number {
  let n = 0;
  for (const f of outputFiles(path)) {
    let buf: Buffer;
    try {
      buf = readFileSync(f);
    } catch {
      continue; // rotated away between the listing and the read: the next poll sees it under its new name
    }
    for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) n++;
  }
  return n;
}

export function readManifest(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The identity of a SIEM record: its Kafka-style partition and offset. */
export function recordKey(r: Record<string, unknown>): string {
  return `${String(r['_partition'])}:${String(r['_offset'])}`;
}

export function outputKey(doc: Record<string, unknown>): string {
  const m = doc['mimecast'] as Record<string, unknown> | undefined;
  return recordKey(m ?? {});
}

export function eventId(doc: Record<string, unknown>): string {
  return String((doc['event'] as Record<string, unknown> | undefined)?.['id']);
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to its end with `input` on stdin (async: a simulator in this process answers meanwhile). */
export function runCli(args: readonly string[], input = '', env: Readonly<Record<string, string>> = {}): Promise<Ran> {
  return new Promise((done, fail) => {
    const proc = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.on('error', fail);
    proc.on('close', (code) => done({ code, stdout, stderr }));
    proc.stdin.end(input);
  });
}

export interface Child {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the built CLI as a child process; its stdout/stderr go to `logFile` (appended). */
export function spawnCli(args: readonly string[], logFile: string, cwd = REPO, env: Readonly<Record<string, string>> = {}): Child {
  const fd = openSync(logFile, 'a');
  const proc = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    proc.on('exit', (code, signal) => res({ code, signal }));
  });
  return { proc, exited };
}

export async function waitFor(pred: () => boolean, timeoutMs: number, what: string, stepMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
