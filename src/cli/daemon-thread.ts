// The long-running commands (`run`, `demo`) run on a thread of their own whose heap limits are set here, in
// code, however the process was started (the bin, `npm start`, the Docker image, `node dist/cli/main.js`).
// The main thread only parses the command line, turns SIGINT/SIGTERM into a stop message and waits.
import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../core/errors.js';
import { onSecretsRegistered, redactText, registerSecrets } from '../telemetry/redact.js';
import type { DemoOptions } from './demo.js';
import type { CommandIo } from './io.js';

/**
 * The daemon thread's young generation (V8 splits it into two semi-spaces and an overflow area: 12 MB means
 * 4 MB semi-spaces). A busy main thread grows its semi-spaces to V8's default maximum, 16 MB each, and keeps
 * them: ~24 MB of the process's memory for no measurable speed (1M-record benchmark: same events/s, peak RSS
 * ~20 MB lower). The old generation is left unbounded on purpose: a cap would turn one large reply into a crash.
 */
const DAEMON_YOUNG_GENERATION_MB = 12;

/**
 * How far V8 lets the old generation grow past what survived the last full collection before collecting
 * again, in percent. By default that margin is chosen per collection and reaches several times the live heap.
 * The collector's live heap is small and steady (~20 MB) while much of what it promotes dies soon after
 * (events in flight between the parse worker, the journal and the sinks), so a fixed margin keeps its footprint
 * flat: in the 1M-record benchmark the peak RSS dropped by ~25 MB against V8's default, with no measurable loss of
 * throughput. 50 rather than 20: a batch a sink holds until its receiver answers (or syslog's settle_time) is
 * promoted, and at 20 delivery ran a full collection every ~50 ms (32 per 300k events into syslog TLS); 50 took
 * 6-10 % off the collector's CPU per delivered event (bench:sinks: HEC, `_bulk`, TLS) with the same peak RSS in
 * both benchmarks (docs/benchmarks.md).
 */
const HEAP_GROWING_PERCENT = 50;

/**
 * Applies HEAP_GROWING_PERCENT. V8 reads this flag whenever it sets the next collection's limit, so it takes
 * effect at once, for the main thread and for worker threads alike; a V8 without the flag ignores it.
 */
function tuneHeapForDaemon(): void {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/** How long a finished daemon thread may take to let go of its last handles before it is ended. */
const EXIT_GRACE_MS = 5000;

export type DaemonCommand = { command: 'run'; config: string } | { command: 'demo'; options: DemoOptions };

type ToDaemon = { type: 'stop' };
/**
 * `secrets`: the config's secret values, loaded on the daemon thread, so the main thread can redact what it prints
 * for the daemon (a `fatal:` line); each thread has its own registry.
 */
type FromDaemon = { type: 'done'; code: number } | { type: 'failed'; message: string } | { type: 'secrets'; values: string[] };

const THIS_FILE = fileURLToPath(import.meta.url);

/** Runs `cmd` on the daemon thread; resolves with its exit code. A stop request on `io.signal` is passed on. */
export function runOnDaemonThread(cmd: DaemonCommand, io: CommandIo): Promise<number> {
  tuneHeapForDaemon();
  return new Promise<number>((resolve) => {
    const worker = new Worker(THIS_FILE, {
      workerData: cmd,
      env: io.env,
      resourceLimits: { maxYoungGenerationSizeMb: DAEMON_YOUNG_GENERATION_MB },
    });
    let code: number | undefined;
    let grace: NodeJS.Timeout | undefined;
    const stop = (): void => worker.postMessage({ type: 'stop' } satisfies ToDaemon);
    if (io.signal.aborted) stop();
    else io.signal.addEventListener('abort', stop, { once: true });
    worker.on('message', (msg: FromDaemon) => {
      if (msg.type === 'secrets') {
        registerSecrets(msg.values);
        return;
      }
      if (msg.type === 'failed') {
        io.stderr.write(redactText(`fatal: ${msg.message}\n`));
        code = 1;
      } else code = msg.code;
      // Its work is done; if a stray handle keeps it alive, end it rather than hang the process.
      grace = setTimeout(() => void worker.terminate(), EXIT_GRACE_MS);
      grace.unref();
    });
    worker.on('error', (err) => {
      // An exception nothing caught: the thread is gone.
      io.stderr.write(redactText(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`));
      code = 1;
    });
    worker.on('exit', (exitCode) => {
      if (grace !== undefined) clearTimeout(grace);
      io.signal.removeEventListener('abort', stop);
      resolve(code ?? (exitCode === 0 ? 1 : exitCode));
    });
  });
}

/** The daemon thread's side: runs the command with this thread's stdout/stderr and a signal fed by 'stop'. */
async function daemonMain(cmd: DaemonCommand): Promise<number> {
  const stop = new AbortController();
  parentPort?.on('message', (msg: ToDaemon) => {
    if (msg.type === 'stop') stop.abort();
  });
  // Not waiting for messages once the command is over lets the thread end.
  parentPort?.unref();
  const io: CommandIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: stop.signal };
  if (cmd.command === 'run') {
    const { runCommand } = await import('./run.js');
    return runCommand(cmd.config, io);
  }
  const { demoCommand } = await import('./demo.js');
  return demoCommand(cmd.options, io);
}

if (!isMainThread && parentPort !== null && (workerData as DaemonCommand | undefined)?.command !== undefined) {
  const port = parentPort;
  onSecretsRegistered((values) => port.postMessage({ type: 'secrets', values: [...values] } satisfies FromDaemon));
  daemonMain(workerData as DaemonCommand).then(
    (code) => port.postMessage({ type: 'done', code } satisfies FromDaemon),
    (err: unknown) => port.postMessage({ type: 'failed', message: redactText(err instanceof Error ? (err.stack ?? describeError(err)) : String(err)) } satisfies FromDaemon),
  );
}
