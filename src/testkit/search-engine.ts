// A real single-node OpenSearch for the tests and bench:sinks, started as a child JVM and stopped by its PID.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

/** The repository: two levels above this module, whether it runs from src/testkit or dist/testkit. */
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where test/engine/install.sh (run by .ci/run) puts the jars and the compiled launcher. */
export const ENGINE_DIR = join(REPO, '.cache/opensearch');

export interface RunningSearchEngine {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  pid: number;
  /** The node's home folder (config, data, logs, tmp), removed by stop(). */
  home: string;
  /** Milliseconds from spawn to the first green/yellow cluster health. */
  startupMs: number;
  /** The node's log so far (its stdout and stderr). */
  log(): string;
  /** SIGTERM, then SIGKILL after `killAfterMs`; removes the node's home folder. Safe to call twice. */
  stop(): Promise<void>;
}

export interface SearchEngineOptions {
  /** Bound on the wait for the node to answer health green/yellow. */
  readyTimeoutMs?: number;
  /** How long a SIGTERM may take before SIGKILL. */
  killAfterMs?: number;
  /** The install folder; tests of the "not installed" message point it elsewhere. */
  engineDir?: string;
}

const LOG_KEEP = 64 * 1024;

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Throws with the install command when the engine is not installed (tests do not skip for that: .ci/run installs it). */
export function assertSearchEngineInstalled(engineDir = ENGINE_DIR): void {
  if (!existsSync(join(engineDir, 'stamp')) || !existsSync(join(engineDir, 'classes/TestSearchNode.class'))) {
    throw new Error(
      `the test search engine is not installed in ${engineDir}: run "bash test/engine/install.sh" (needs mvn and a JDK 17; .ci/run does it)`,
    );
  }
}

async function clusterStatus(url: string): Promise<string | undefined> {
  try {
    const res = await request(`${url}/_cluster/health?wait_for_status=yellow&timeout=1s`, {
      headersTimeout: 3000,
      bodyTimeout: 3000,
    });
    const body: unknown = await res.body.json();
    if (typeof body === 'object' && body !== null && 'status' in body && typeof body.status === 'string') {
      return body.status;
    }
    return undefined;
  } catch {
    return undefined; // not listening yet
  }
}

export async function startSearchEngine(options: SearchEngineOptions = {}): Promise<RunningSearchEngine> {
  const engineDir = options.engineDir ?? ENGINE_DIR;
  assertSearchEngineInstalled(engineDir);
  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  const killAfterMs = options.killAfterMs ?? 10_000;
  const home = mkdtempSync(join(tmpdir(), 'mc-opensearch-'));
  mkdirSync(join(home, 'tmp'));

  const started = Date.now();
  const child = spawn(
    'java',
    [
      '-Xms256m',
      '-Xmx512m',
      // On 2 shared cores: one GC thread and the quick compiler only start faster and use ~40 MB less (measured;
      // peak indexing throughput is not what these tests look at).
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      // JNA and Netty unpack native helpers here; removed with the home folder.
      `-Djava.io.tmpdir=${join(home, 'tmp')}`,
      '-cp',
      `${join(engineDir, 'classes')}:${join(engineDir, 'lib/*')}`,
      'TestSearchNode',
      home,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const keep = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-LOG_KEEP);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitedPromise = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolveExit();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  // A test runner that dies must not leave a JVM behind.
  const killOnExit = (): void => {
    if (exited === undefined) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    if (exited === undefined && child.pid !== undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await exitedPromise;
      clearTimeout(timer);
    }
    rmSync(home, { recursive: true, force: true });
  };

  // The node binds port 0 (no race with other processes for a port chosen beforehand) and writes the HTTP port it
  // got to HOME/http.port once started.
  const portFile = join(home, 'http.port');
  let url: string | undefined;
  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(
      `test search engine (pid ${child.pid ?? '-'}, ${url ?? 'no HTTP port yet'}) ${why}; last lines of its log:\n${tail(log)}`,
    );
  };
  let status: string | undefined;
  for (;;) {
    if (spawnError !== undefined) return fail(`could not be spawned: ${spawnError.message}`);
    if (exited !== undefined) return fail(`exited before it was ready (code ${exited.code}, signal ${exited.signal})`);
    if (url === undefined && existsSync(portFile)) {
      const port = readFileSync(portFile, 'utf8').trim();
      if (!/^\d{1,5}$/.test(port)) return fail(`wrote ${JSON.stringify(port)} to ${portFile}, not a port`);
      url = `http://127.0.0.1:${port}`;
    }
    if (url !== undefined) status = await clusterStatus(url);
    if (status === 'green' || status === 'yellow') break;
    if (Date.now() - started > readyTimeoutMs) {
      return fail(`was not green/yellow after ${readyTimeoutMs} ms (last health: ${status ?? 'no answer'})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (url === undefined) return fail('has no HTTP port');
  if (child.pid === undefined) return fail('has no pid');
  return { url, pid: child.pid, home, startupMs: Date.now() - started, log: () => log, stop };
}

/** One REST call to the engine: its status and parsed JSON reply. An object body is sent as JSON, a string as is. */
export async function engineRequest(
  baseUrl: string,
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; json: unknown }> {
  const res = await request(`${baseUrl}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': contentType } }),
  });
  return { status: res.statusCode, json: await res.body.json() };
}

/** engineRequest for a call that must succeed: its JSON reply, or an error naming the call and the reply. */
export async function engineJson(baseUrl: string, method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const { status, json } = await engineRequest(baseUrl, method, path, body);
  if (status >= 300) throw new Error(`${method} ${path}: HTTP ${status} ${JSON.stringify(json)}`);
  return json as Record<string, unknown>;
}

/** A nested value of parsed JSON, without trusting its shape. */
export function pick(value: unknown, ...keys: (string | number)[]): unknown {
  let v = value;
  for (const k of keys) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}
