// `check --config FILE`: live checks — each account's credentials, each stream's permission, each sink's receiver.
import type { Readable } from 'node:stream';
import { buildSources, createAccountClient } from '../app.js';
import type { AccountConfig } from '../config/schema.js';
import type { StreamName } from '../core/contracts.js';
import { ApiError, CollectorError, describeError, isAbort } from '../core/errors.js';
import type { MimecastApi, RawResponse, ReplyReader } from '../mimecast/api.js';
import { PAGED_SPECS, PAGED_STREAMS, type PagedStream } from '../sources/paged/specs.js';
import { buildSink } from '../sinks/registry.js';
import { silentLogger } from '../telemetry/logger.js';
import { printable, println, type CommandIo } from './io.js';
import { configOf } from './quarantine.js';

/** How long one item may take (a token, a first page, a receiver's answer) before it is a failure. */
export const CHECK_TIMEOUT_MS = 20_000;
/** How far back a stream's check asks: a short window keeps the first page small. */
const CHECK_WINDOW_MS = 5 * 60_000;

/** Role permissions an API application needs per stream (the paged ones are in their specs). */
const PERMISSION: Partial<Record<StreamName, string>> = {
  siem: 'Security Events and Data Retrieval | Threat and Security Events (SIEM) | Read',
  threat_intel: 'Monitoring | Threat Intel | Read',
};

function permissionOf(stream: StreamName): string | undefined {
  if ((PAGED_STREAMS as readonly string[]).includes(stream)) return PAGED_SPECS[stream as PagedStream].permission;
  return PERMISSION[stream];
}

/** Thrown by the probe API once the first call has answered: what a check needs is known, nothing more is fetched. */
class FirstCallAnswered extends CollectorError {
  constructor() {
    super('ABORTED', 'check: the first call answered');
  }
}

/**
 * The account's API, letting exactly one call through: the stream's own first request proves the credential may
 * read it. Every later call (a file download, the next page) ends the check instead of fetching data.
 */
class FirstCallOnly implements MimecastApi {
  calls = 0;
  answered = false;
  /** Called once the first call answered: the check of this stream is done. */
  onAnswered: () => void = () => undefined;
  constructor(private readonly inner: MimecastApi) {}
  get generation(): 'v1' | 'v2' {
    return this.inner.generation;
  }
  private async once<T>(call: () => Promise<T>): Promise<T> {
    if (this.calls++ > 0) throw new FirstCallAnswered();
    const v = await call();
    this.answered = true;
    this.onAnswered();
    return v;
  }
  postJson(path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    return this.once(() => this.inner.postJson(path, body, signal));
  }
  postJsonWith<T>(path: string, body: unknown, signal: AbortSignal, reader: ReplyReader<T>): Promise<T> {
    return this.once(() => this.inner.postJsonWith(path, body, signal, reader));
  }
  postRaw(path: string, body: unknown, signal: AbortSignal): Promise<RawResponse> {
    return this.once(() => this.inner.postRaw(path, body, signal));
  }
  getJson(path: string, query: Record<string, string | number | undefined>, signal: AbortSignal): Promise<unknown> {
    return this.once(() => this.inner.getJson(path, query, signal));
  }
  openDownload(url: string, signal: AbortSignal): Promise<{ body: Readable; size?: number }> {
    return this.once(() => this.inner.openDownload(url, signal));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Whose credentials, and whose role grants the permissions, in each API generation. */
function credentialsOf(account: AccountConfig): string {
  return account.api === 'v2' ? 'the API 2.0 application credentials were' : 'the API 1.0 keys were';
}
function roleHolderOf(account: AccountConfig): string {
  return account.api === 'v2' ? 'the API 2.0 application lacks' : "the role of the API 1.0 keys' user lacks";
}

/** A failed check of one stream in an operator's words, by error code (never by message text). */
export function streamVerdict(err: unknown, account: AccountConfig, stream?: StreamName): string {
  const said = describeError(err);
  if (!(err instanceof CollectorError)) return said;
  const permission = stream === undefined ? undefined : permissionOf(stream);
  switch (err.code) {
    case 'API_AUTH_FAILED':
    case 'API_TOKEN_EXPIRED':
      return `${credentialsOf(account)} refused: ${said}`;
    case 'API_PERMISSION_DENIED':
      // A source says "disabled" (with its own words) when the product is not licensed; otherwise the role lacks it.
      if (err.details['disabled'] === true) return said;
      return `${roleHolderOf(account)} the permission to read ${stream ?? 'this'}${permission === undefined ? '' : ` (role permission "${permission}")`}: ${said}`;
    case 'API_NOT_FOUND':
      return `${stream ?? 'the function'} is not available to this account (the API does not know the function): ${said}`;
    case 'API_NETWORK':
    case 'API_TIMEOUT':
      return `cannot reach the Mimecast API: ${said}`;
    case 'API_RATE_LIMITED':
      return `the API is rate-limiting this credential now (try again later): ${said}`;
    case 'ABORTED':
      return `no answer within ${CHECK_TIMEOUT_MS / 1000}s`;
    default:
      return err instanceof ApiError && err.apiCode !== undefined ? `${said} (Mimecast code ${err.apiCode})` : said;
  }
}

interface Verdicts {
  ok(what: string, detail: string): void;
  fail(what: string, detail: string): void;
  failures: number;
}

function verdicts(io: CommandIo): Verdicts {
  const v: Verdicts = {
    failures: 0,
    ok(what, detail) {
      println(io.stdout, `ok    ${what}: ${printable(detail, 400)}`);
    },
    fail(what, detail) {
      v.failures += 1;
      println(io.stdout, `FAIL  ${what}: ${printable(detail, 600)}`);
    },
  };
  return v;
}

function deadline(io: CommandIo): AbortSignal {
  return AbortSignal.any([io.signal, AbortSignal.timeout(CHECK_TIMEOUT_MS)]);
}

async function checkAccount(account: AccountConfig, v: Verdicts, io: CommandIo): Promise<void> {
  const logger = silentLogger();
  const client = createAccountClient(account, logger);
  try {
    const what = `account ${account.name}`;
    try {
      await client.verify(deadline(io));
      v.ok(what, account.api === 'v2' ? 'the API 2.0 application\'s credentials were accepted (token issued)' : 'the API 1.0 keys were accepted (a signed call answered)');
    } catch (err) {
      if (io.signal.aborted) throw err;
      v.fail(what, streamVerdict(isAbort(err) ? new CollectorError('ABORTED', 'timeout') : err, account));
      // Every stream would fail the same way: said once, for the account.
      return;
    }
    const probe = new FirstCallOnly(client.api);
    const sources = buildSources(account, probe, logger, { startFromMs: CHECK_WINDOW_MS, settleMs: 0 });
    for (const source of sources) {
      probe.calls = 0;
      probe.answered = false;
      const name = `stream ${source.key}`;
      const done = new AbortController();
      probe.onAnswered = () => done.abort();
      const timeout = deadline(io);
      const signal = AbortSignal.any([timeout, done.signal]);
      let failure: unknown;
      try {
        const it = source.pull(undefined, signal)[Symbol.asyncIterator]();
        try {
          // The first batch (or the probe ending the pull at its second call) is all a check needs.
          await it.next();
        } finally {
          await it.return?.();
        }
      } catch (err) {
        if (!(err instanceof FirstCallAnswered)) failure = err;
      }
      if (io.signal.aborted) return;
      // Once the first call answered, whatever happened after (the check's own abort) says nothing about access.
      if (probe.answered) v.ok(name, 'readable');
      else if (failure !== undefined) v.fail(name, streamVerdict(timeout.aborted ? new CollectorError('ABORTED', 'timeout') : failure, account, source.stream));
      else v.ok(name, 'nothing to ask for now (no call was needed)');
    }
  } finally {
    await client.close();
  }
}

export async function checkCommand(o: { config: string }, io: CommandIo): Promise<number> {
  const config = configOf(o.config, io);
  if (config === undefined) return 1;
  const v = verdicts(io);
  for (const account of config.accounts) {
    if (io.signal.aborted) break;
    try {
      await checkAccount(account, v, io);
    } catch (err) {
      if (io.signal.aborted) break;
      v.fail(`account ${account.name}`, describeError(err));
    }
  }
  for (const [i, cfg] of config.sinks.entries()) {
    if (io.signal.aborted) break;
    const what = `sink ${cfg.name} (sinks[${i}], ${cfg.type})`;
    let binding: ReturnType<typeof buildSink>;
    try {
      binding = buildSink(cfg, silentLogger());
    } catch (err) {
      v.fail(what, describeError(err));
      continue;
    }
    const sink = binding.sink;
    const signal = deadline(io);
    try {
      if (sink.check !== undefined) {
        await sink.check(signal);
        v.ok(what, 'the receiver answers and takes this sink\'s settings');
      } else if (sink.probe !== undefined) {
        if (await sink.probe(signal)) v.ok(what, 'the receiver can take data');
        else v.fail(what, 'the receiver cannot take data now');
      } else {
        v.ok(what, 'nothing to check before the first event (no receiver to ask)');
      }
    } catch (err) {
      v.fail(what, signal.aborted && !io.signal.aborted ? `no answer within ${CHECK_TIMEOUT_MS / 1000}s` : describeError(err));
    } finally {
      await sink.close().catch(() => undefined);
    }
  }
  if (io.signal.aborted) {
    println(io.stderr, 'check interrupted');
    return 130;
  }
  println(io.stdout, v.failures === 0 ? 'all checks passed' : `${v.failures} check${v.failures === 1 ? '' : 's'} failed`);
  return v.failures === 0 ? 0 : 1;
}
