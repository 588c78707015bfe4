// SIEM via API 1.0 (`/api/audit/get-siem-logs`): follows the mc-siem-token chain one file per call, streaming each file.
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Batch, NormalizedEvent, Quarantined, Source } from '../../../core/contracts.js';
import { ApiError, CollectorError, describeError, isAbort } from '../../../core/errors.js';
import { frameRecords, parseLines, type ParseJob, type ParsedLines } from '../../parse/parse-lines.js';
import type { ParsePool } from '../../parse/parse-pool.js';
import { DEFAULT_FILE_RETRY_SPAN_MS, FileRetryBudget } from '../../../core/retry.js';
import type { MimecastApi, RawResponse } from '../../../mimecast/api.js';
import type { Logger } from '../../../telemetry/logger.js';
import { jsonRecordTexts } from './jsonfile.js';
import { keyValueRecordTexts } from './keyvalue.js';
import { DEFAULT_MAX_RECORD_BYTES, SiemFileError, type RecordText } from './records.js';
import { openZipEntry, readZipDirectory, type ZipData } from './zip.js';

export const SIEM_V1_PATH = '/api/audit/get-siem-logs';
export const INVALID_TOKEN = 'err_audit_siem_invalid_token';

/** Same shape as `Normalizer` in src/sources/normalizers.ts. */
export type SiemV1Normalizer = (record: unknown, ctx: { account: string; logType?: string }) => NormalizedEvent;

export interface SiemV1SourceOptions {
  account: string;
  api: MimecastApi;
  fileFormat: 'json' | 'key_value';
  compress: boolean;
  logger: Logger;
  /**
   * A normalizer of the caller's own (tests), used on this thread. Default: the registry's `siem` v1 normalizer,
   * run on `pool`.
   */
  normalize?: SiemV1Normalizer;
  /** Where records are parsed and normalized; on this thread when absent. */
  pool?: ParsePool;
  /** Events (and quarantined records) per yielded batch inside a file. Default 5000. */
  chunkEvents?: number;
  /**
   * `streams.siem.file_retry_span`: how long a file that arrives cut, damaged or not at all is requested again
   * (FileRetryBudget) before it is quarantined. Default 10 minutes.
   */
  fileRetrySpanMs?: number;
  /** `streams.siem.max_record_size`: longest record in bytes; a longer one is quarantined alone. Default 1 MiB. */
  maxRecordBytes?: number;
  /** `streams.siem.max_file_size`: most decompressed bytes read from one file; the rest is quarantined. Default 1 GiB. */
  maxFileBytes?: number;
  /** Where zip replies are spooled. Default the OS temp dir. */
  tempDir?: string;
  /** Largest zip reply accepted for spooling (compressed bytes). Default 1 GiB (real files are tens of MB). */
  maxZipBytes?: number;
  /**
   * Zip replies up to this size (compressed bytes) are read from memory instead of being spooled to `tempDir`: a
   * small file then costs no temp dir and no file calls. Default 4 MiB; 0 spools every reply.
   */
  memoryZipBytes?: number;
  /** A file still being read logs its progress at info after this many more decompressed bytes. Default 64 MiB. */
  progressBytes?: number;
  /** ...or after this long since its start or its last progress line. Default 30 s. */
  progressMs?: number;
  /** Clock for the retry budget and progress lines. Default Date.now. */
  now?: () => number;
  /** Waits between requests of a failing file; rejects with ABORTED on abort. Default the abortable sleep of core/util. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Default `streams.siem.max_file_size`: decompressed bytes read from one get-siem-logs file (a zip bomb stops here). */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024;
/** Default largest zip reply spooled to disk. */
export const DEFAULT_MAX_ZIP_BYTES = 1024 * 1024 * 1024;
/** Default largest zip reply read from memory (a file of ~5,000 records zips to well under 1 MiB). */
export const DEFAULT_MEMORY_ZIP_BYTES = 4 * 1024 * 1024;
const DEFAULT_PROGRESS_BYTES = 64 * 1024 * 1024;
const DEFAULT_PROGRESS_MS = 30_000;
/** Quarantined records per batch at most, so a file of bad records commits its place often and stays small in memory. */
const QUARANTINE_CHUNK = 256;
/** Records per parse job, and bytes (of text) at most: as the SIEM 2.0 batch path groups lines. */
const PARSE_GROUP_RECORDS = 250;
const PARSE_GROUP_BYTES = 2 * 1024 * 1024;
/** Parse jobs a file keeps outstanding (the pool's saturation bounds the whole process's). */
const PARSE_GROUPS_AHEAD = 3;

/**
 * The cursor. `token`: what to send next (absent: the oldest retained file). `file`/`record`: inside the file that
 * `token` returns, how many record slots are already committed — a restart re-requests `token` and skips them.
 */
export interface SiemV1Cursor {
  v: 1;
  token?: string;
  file?: string;
  record?: number;
}

const MAX_TOKEN_RESETS = 3;
const CAUGHT_UP_BYTES = 1024 * 1024;

export function parseSiemV1Cursor(text: string | undefined): SiemV1Cursor | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || (v as { v?: unknown }).v !== 1) return undefined;
    const c = v as Record<string, unknown>;
    const out: SiemV1Cursor = { v: 1 };
    if (typeof c['token'] === 'string' && c['token'] !== '') out.token = c['token'];
    if (typeof c['file'] === 'string') out.file = c['file'];
    if (typeof c['record'] === 'number' && Number.isSafeInteger(c['record']) && c['record'] >= 0) out.record = c['record'];
    return out;
  } catch {
    return undefined;
  }
}

function serialize(c: SiemV1Cursor): string {
  return JSON.stringify(c);
}

/** `attachment; filename="receipt_20191125134532478.log"` → `receipt_20191125134532478.log`. */
export function fileNameOf(disposition: string | undefined): string | undefined {
  if (disposition === undefined) return undefined;
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)?''([^;]+)/.exec(disposition);
  if (star?.[1] !== undefined) {
    try {
      return path.basename(decodeURIComponent(star[1].trim()));
    } catch {
      // fall through to the plain parameter
    }
  }
  const m = /filename\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(disposition);
  const name = (m?.[1] ?? m?.[2])?.trim();
  return name === undefined || name === '' ? undefined : path.basename(name);
}

/**
 * The SIEM log type a file or zip entry name announces: the part before `_<timestamp>` (`ttp_url_2021…json` →
 * `ttp_url`, `receipt_2019….log` → `receipt`); undefined when the name has no such shape.
 */
export function logTypeOfName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const m = /^([A-Za-z][A-Za-z0-9_]*?)_\d{8,}/.exec(path.basename(name));
  return m?.[1]?.toLowerCase();
}

type FileKind = 'zip' | 'json' | 'key_value';

/** Reads the first bytes to tell a zip, a JSON and a key_value body apart; gives back a stream of all bytes. */
async function sniff(src: AsyncIterable<Buffer | string>): Promise<{ kind: FileKind | 'empty'; body: AsyncIterable<Buffer> }> {
  const it = src[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let size = 0;
  let done = false;
  while (size < 8) {
    const r = await it.next();
    if (r.done === true) {
      done = true;
      break;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    head.push(b);
    size += b.length;
  }
  const first = Buffer.concat(head);
  const body = (async function* (): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (done) return;
    for (let r = await it.next(); r.done !== true; r = await it.next()) yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
  })();
  if (first.length >= 4 && first.readUInt32LE(0) === 0x04034b50) return { kind: 'zip', body };
  const text = first.toString('latin1').replace(/^\ufeff|^\xef\xbb\xbf/, '').trimStart();
  if (text === '' && done) return { kind: 'empty', body };
  if (text.startsWith('{') || text.startsWith('[')) return { kind: 'json', body };
  return { kind: 'key_value', body };
}

interface Chunk {
  events: NormalizedEvent[];
  quarantined: Quarantined[];
  /** Record slots of the file consumed so far (committed once this chunk is). */
  end: number;
  /** The parse worker's buffers the events' bytes live in, handed back once the chunk is journaled. */
  blocks: ArrayBuffer[];
  /** The file's last chunk, read to its end without failure: it may be committed with the step to the next token. */
  last?: true;
}

/** The get-siem-logs call for the next token, made while the current file is still being parsed and journaled. */
interface Ahead {
  token: string;
  reply: Promise<RawResponse>;
  abort: AbortController;
}

/** Whether a file's body has been read whole and all its records sent to be parsed. */
interface ReadState {
  readDone: boolean;
}

/** A reply, and when it is a file already being read (primed), its reader and its first chunk (or failure). */
interface Opened {
  res: RawResponse;
  file?: { gen: AsyncGenerator<Chunk>; first: Promise<IteratorResult<Chunk>>; state: ReadState };
}

/** The next token's file, read (its records sent to the parse worker) while the current file's are still parsed. */
interface Primed {
  token: string;
  abort: AbortController;
  opened: Promise<Opened>;
}

export class SiemV1Source implements Source {
  readonly key: string;
  readonly account: string;
  readonly stream = 'siem' as const;
  readonly #o: SiemV1SourceOptions;
  readonly #log: Logger;
  /** The token whose file is being retried, and its budget (kept across pulls). */
  #retrying: { token: string | undefined; budget: FileRetryBudget } | undefined;

  constructor(options: SiemV1SourceOptions) {
    this.#o = options;
    this.account = options.account;
    this.key = `${options.account}/siem/v1`;
    this.#log = options.logger.child({ source: this.key });
  }

  #request(token: string | undefined): unknown {
    return { data: [{ type: 'MTA', fileFormat: this.#o.fileFormat, compress: this.#o.compress, ...(token === undefined ? {} : { token }) }] };
  }

  async *pull(cursorText: string | undefined, signal: AbortSignal): AsyncGenerator<Batch> {
    const parsed = parseSiemV1Cursor(cursorText);
    if (cursorText !== undefined && parsed === undefined) {
      this.#log.warn({ cursor: cursorText.slice(0, 200) }, 'stored SIEM 1.0 cursor is unreadable; starting from the oldest retained file');
    }
    let cur: SiemV1Cursor = parsed ?? { v: 1 };
    const spanMs = this.#o.fileRetrySpanMs ?? DEFAULT_FILE_RETRY_SPAN_MS;
    const now = this.#o.now ?? Date.now;
    let resets = 0;
    // The next file is asked for as soon as the current one has arrived whole (headers, and for a zip the spooled
    // body), so the API prepares it while this one is parsed and journaled. Only its reply is held (at most one
    // file ahead, its body unread); the cursor moves to its token only once the current file is committed, so a
    // restart in between asks for the current file again and the early reply is simply dropped.
    //
    // Small files are latency-bound: a file is read here, parsed on the worker, then journaled here, each side idle
    // while the other works. So once the current file has been read whole (all its records sent to the worker) and
    // the next file's reply is in, the next file is read too (primed): its records go to the worker behind the
    // current file's, and its first chunk is held until its turn. At most one file is primed and one reply is
    // held beyond it; the committed cursor still moves file by file, so a restart drops both unread.
    let ahead: Ahead | undefined;
    let primed: Primed | undefined;
    /** The read state of the file whose chunks are being yielded. */
    let current: ReadState = { readDone: false };
    const dropAhead = (): void => {
      if (ahead === undefined) return;
      ahead.abort.abort();
      void ahead.reply.then(
        (r) => r.body.destroy(),
        () => undefined,
      );
      ahead = undefined;
    };
    const dropPrimed = (): void => {
      if (primed === undefined) return;
      primed.abort.abort();
      void primed.opened.then(
        (o) => {
          o.res.body.destroy();
          if (o.file !== undefined) void o.file.gen.return(undefined).catch(() => undefined);
        },
        () => undefined,
      );
      primed = undefined;
    };
    const startAhead = (token: string): void => {
      dropAhead();
      const abort = new AbortController();
      const reply = this.#o.api.postRaw(SIEM_V1_PATH, this.#request(token), AbortSignal.any([signal, abort.signal]));
      // Awaited (and its failure handled) when its token's turn comes; a reply never used must not go unhandled.
      reply.catch(() => undefined);
      ahead = { token, reply, abort };
    };
    const tryPrime = (): void => {
      if (!current.readDone || primed !== undefined || ahead === undefined) return;
      const a = ahead;
      ahead = undefined;
      const state: ReadState = { readDone: false };
      const opened = a.reply.then((res): Opened => {
        const fileName = fileNameOf(res.headers['content-disposition']);
        const token = res.headers['mc-siem-token'];
        // Not a file to read (caught up, no token): handled as any reply when its turn comes.
        if ((fileName === undefined && /json/i.test(res.headers['content-type'] ?? '')) || token === undefined || token === '') return { res };
        const gen = this.#readFile(
          res.body,
          fileName,
          0,
          signal,
          () => {
            if (token !== a.token) startAhead(token);
          },
          () => {
            state.readDone = true;
            tryPrime();
          },
        );
        const first = gen.next();
        first.catch(() => undefined);
        return { res, file: { gen, first, state } };
      });
      opened.catch(() => undefined);
      primed = { token: a.token, abort: a.abort, opened };
    };
    /** The reply for `token`: a primed file, the reply asked for ahead, or a new call. `fresh`: no slot to skip. */
    const call = async (token: string | undefined, fresh: boolean): Promise<Opened> => {
      if (primed !== undefined && token !== undefined && primed.token === token && fresh) {
        const opened = primed.opened;
        primed = undefined;
        return opened;
      }
      dropPrimed();
      if (ahead !== undefined && token !== undefined && ahead.token === token) {
        const reply = ahead.reply;
        ahead = undefined;
        return { res: await reply };
      }
      dropAhead();
      return { res: await this.#o.api.postRaw(SIEM_V1_PATH, this.#request(token), signal) };
    };

    try {
      chain: for (;;) {
        const reqToken = cur.token;
        // One budget per file: failures that make no progress are ridden out for `spanMs`, then the file is given up.
        // Kept on the source: a pull that ends and starts again on the same token (a full journal, a failed call)
        // continues the file's span instead of starting a new one.
        const kept = this.#retrying?.token === reqToken ? this.#retrying : undefined;
        const budget = kept?.budget ?? new FileRetryBudget(spanMs, now);
        this.#retrying = { token: reqToken, budget };
        // The farthest any read of this token's file got: only going past it counts as progress.
        let reached = { file: cur.file, record: cur.record ?? 0 };
        let attempts = 0;
        let nextToken: string | undefined;
        for (;;) {
          attempts++;
          let res: RawResponse;
          let opened: Opened;
          try {
            opened = await call(reqToken, cur.record === undefined || cur.record === 0);
            res = opened.res;
          } catch (err) {
            if (err instanceof ApiError && err.apiCode === INVALID_TOKEN && reqToken !== undefined) {
              resets++;
              if (resets > MAX_TOKEN_RESETS) throw err;
              // Policy: the token aged out or was refused, so the only safe place left is the oldest retained file.
              // Everything still retained is read again; the journal's dedup drops what was already delivered.
              this.#log.warn(
                { token: reqToken.slice(0, 40), err: describeError(err) },
                'SIEM 1.0 token is invalid or expired; restarting from the oldest retained file (overlap is deduplicated by the journal)',
              );
              cur = { v: 1 };
              yield { events: [], cursor: serialize(cur), counters: { siem_token_reset: 1 } };
              continue chain;
            }
            // The API call itself failed after the client's own retries: nothing is lost, the supervisor pulls again
            // from the committed cursor (same token, same record) after its backoff.
            throw err;
          }

          const disposition = res.headers['content-disposition'];
          const fileName = fileNameOf(disposition);
          const token = res.headers['mc-siem-token'];
          const contentType = res.headers['content-type'] ?? '';
          if (fileName === undefined && /json/i.test(contentType)) {
            // No file: the chain is caught up (`isLastToken`); ask again with the same token next cycle.
            const reply = await readCaughtUp(res.body);
            this.#log.debug({ isLastToken: reply.isLastToken }, 'SIEM 1.0 caught up');
            yield { events: [], cursor: serialize(cur), counters: {} };
            return;
          }
          if (token === undefined || token === '') {
            res.body.destroy();
            throw new ApiError(
              'API_BAD_RESPONSE',
              `POST ${SIEM_V1_PATH} returned a file${fileName === undefined ? '' : ` (${fileName})`} without an mc-siem-token header; cannot continue the chain`,
              `POST ${SIEM_V1_PATH}`,
              { status: res.status, retryable: true },
            );
          }
          nextToken = token;

          let skip = 0;
          if (cur.record !== undefined && cur.record > 0) {
            if (cur.file === undefined || cur.file === fileName) skip = cur.record;
            else {
              this.#log.warn(
                { expected: cur.file, got: fileName },
                'the token now returns a different file than before the restart; reading it whole (duplicates are deduplicated by the journal)',
              );
            }
          }
          const position = (record: number): SiemV1Cursor => ({
            v: 1,
            ...(reqToken === undefined ? {} : { token: reqToken }),
            ...(fileName === undefined ? {} : { file: fileName }),
            record,
          });

          let committed = skip;
          let failure: unknown;
          let stepped = false;
          const following = token;
          let chunks: AsyncGenerator<Chunk>;
          if (opened.file !== undefined) {
            current = opened.file.state;
            chunks = resumePrimed(opened.file);
            // It may have been read whole before its turn came: the file after it can be read now.
            tryPrime();
          } else {
            const state: ReadState = { readDone: false };
            current = state;
            chunks = this.#readFile(
              res.body,
              fileName,
              skip,
              signal,
              () => {
                if (following !== reqToken) startAhead(following);
              },
              () => {
                state.readDone = true;
                tryPrime();
              },
            );
          }
          try {
            for await (const chunk of chunks) {
              committed = chunk.end;
              if (chunk.last === true) {
                // The file's last records and the step to the next token in one transaction: nothing after them
                // in this file is left to commit.
                stepped = true;
                yield { events: chunk.events, quarantined: chunk.quarantined, cursor: serialize({ v: 1, token: nextToken }), counters: { siem_files: 1 } };
              } else {
                yield { events: chunk.events, quarantined: chunk.quarantined, cursor: serialize(position(chunk.end)), counters: {} };
              }
              // Resumed: the batch is journaled, so the buffers its documents were packed in can be filled again.
              if (chunk.blocks.length > 0) this.#o.pool?.recycle(chunk.blocks);
            }
          } catch (err) {
            if (isAbort(err, signal)) throw err;
            // A local disk problem ends the pull (the supervisor retries from the committed cursor); the file keeps its place.
            if (err instanceof CollectorError && err.code === 'SPOOL_FAILED') throw err;
            failure = err;
          }
          if (failure === undefined) {
            if (!stepped) yield { events: [], cursor: serialize({ v: 1, token: nextToken }), counters: { siem_files: 1 } };
            break;
          }
          const reason = failure instanceof SiemFileError ? failure.reason : 'file_unreadable';
          // A cut download, a damaged zip or a reset connection is usually a fault on the way: the same token returns
          // the same file, so it is requested again after a backoff, skipping what is committed. An attempt that got
          // further into the same file than any before is not "failing the same way" (a file cut at a different place
          // each time), so the span starts again; each restart needs at least one new record, so this ends. Only a
          // file that fails without progress for the whole span, or in a way no download can change (unsupported, over
          // a size limit), is quarantined.
          const permanent = failure instanceof SiemFileError && !failure.retryable;
          if (fileName === reached.file && committed > reached.record) budget.reset();
          if (fileName !== reached.file || committed > reached.record) reached = { file: fileName, record: committed };
          const delay = permanent ? undefined : budget.fail();
          if (delay === undefined) {
            // Never stall on one file: record what was lost and how to fetch it again, then follow the token past it.
            const lost = position(committed);
            this.#log.error(
              { file: fileName, record: committed, attempts, reason, spanMs, err: describeError(failure) },
              permanent
                ? 'SIEM 1.0 file cannot be read; the rest of it is quarantined, moving on to the next token'
                : 'SIEM 1.0 file unusable after repeated attempts; the rest of it is quarantined, moving on to the next token',
            );
            const q: Quarantined = {
              reason,
              detail: `${describeError(failure)} (after ${attempts} attempt${attempts === 1 ? '' : 's'} over ${Math.round(budget.elapsedMs() / 1000)} s)`,
              location: `token=${reqToken ?? '(oldest)'},file=${fileName ?? '(unnamed)'},record=${committed + 1}`,
              raw: serialize(lost),
              // The first file of a chain has no token to ask for it again by (without one the API answers the oldest).
              ...(reqToken === undefined || permanent ? {} : { refetch: serialize(lost) }),
            };
            yield { events: [], quarantined: [q], cursor: serialize({ v: 1, token: nextToken }), counters: { siem_files_quarantined: 1 } };
            break;
          }
          this.#log.warn(
            { file: fileName, record: committed, attempt: attempts, reason, waitMs: delay, err: describeError(failure) },
            'SIEM 1.0 file failed; requesting it again',
          );
          dropPrimed();
          dropAhead();
          cur = position(committed);
          // Counted where the status page shows it; the cursor is the one already committed.
          // The wait is the pipeline's (pauseMs): this source holds nothing other streams need meanwhile.
          if (this.#o.sleep === undefined) yield { events: [], cursor: serialize(cur), counters: { siem_file_retry: 1 }, pauseMs: delay };
          else {
            yield { events: [], cursor: serialize(cur), counters: { siem_file_retry: 1 } };
            await this.#o.sleep(delay, signal);
          }
        }

        this.#retrying = undefined;
        if (nextToken === reqToken) {
          this.#log.warn({ token: reqToken?.slice(0, 40) }, 'the API returned the token it was sent; stopping this cycle to avoid a loop');
          return;
        }
        cur = { v: 1, token: nextToken };
      }
    } finally {
      dropPrimed();
      dropAhead();
    }
  }

  /**
   * Reads a quarantined file again (`quarantine retry`): asks for its token once more and reads the file from the
   * record where it was given up (the whole file when the token now returns another one). Throws when it still fails.
   */
  async *refetch(text: string, signal: AbortSignal): AsyncGenerator<Pick<Batch, 'events' | 'quarantined'>> {
    const at = parseSiemV1Cursor(text);
    if (at?.token === undefined) throw new CollectorError('BLOB_MISSING', `cannot read the quarantine entry's refetch data: ${text.slice(0, 200)}`);
    const res = await this.#o.api.postRaw(SIEM_V1_PATH, this.#request(at.token), signal);
    const fileName = fileNameOf(res.headers['content-disposition']);
    if (fileName === undefined && /json/i.test(res.headers['content-type'] ?? '')) {
      res.body.destroy();
      throw new CollectorError('BLOB_MISSING', `the API no longer returns a file for token ${at.token.slice(0, 40)}… (past its retention?)`);
    }
    const skip = at.file === undefined || at.file === fileName ? (at.record ?? 0) : 0;
    for await (const chunk of this.#readFile(res.body, fileName, skip, signal)) {
      yield { events: chunk.events, quarantined: chunk.quarantined };
      if (chunk.blocks.length > 0) this.#o.pool?.recycle(chunk.blocks);
    }
  }

  /** Parses a group of records on the parse worker, or on this thread with a normalizer of the caller's own. */
  #parse(job: ParseJob): Promise<ParsedLines> {
    const pool = this.#o.pool;
    if (pool === undefined || this.#o.normalize !== undefined) {
      try {
        return Promise.resolve(parseLines(job, this.#o.normalize));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return pool.run(job, true);
  }

  /**
   * Streams one reply body: sniff → (spool zip →) record texts → parse worker, in chunks, skipping committed slots.
   * Records go to the worker in groups; their results are taken in order, a few groups ahead, and a chunk ends at
   * the slot of the last group taken, so the committed cursor never passes a record that is not in the journal.
   */
  async *#readFile(
    body: Readable,
    fileName: string | undefined,
    skip: number,
    signal: AbortSignal,
    onBodyDone?: () => void,
    onReadDone?: () => void,
  ): AsyncGenerator<Chunk> {
    const chunkEvents = Math.max(1, this.#o.chunkEvents ?? 5000);
    const groupRecords = Math.min(PARSE_GROUP_RECORDS, chunkEvents);
    const account = this.account;
    const parse = { maxRecordBytes: this.#o.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES };
    const pool = this.#o.pool;
    const alloc = (size: number): Buffer => (pool === undefined ? Buffer.allocUnsafe(size) : pool.textBuffer(size));
    let slot = 0;
    let events: NormalizedEvent[] = [];
    let quarantined: Quarantined[] = [];
    let blocks: ArrayBuffer[] = [];
    let doneSlot = skip;
    /** Groups sent (or slots settled without parsing), in file order, with the slot each ends at. */
    const queue: { result: Promise<ParsedLines>; end: number }[] = [];
    // The group being gathered: record texts of one entry (one log type), and which of them to tag.
    let texts: string[] = [];
    let textBytes = 0;
    let invalid: number[] = [];
    let groupFirst = 0;
    let groupWhere = '';
    let groupType: string | undefined;
    let groupFormat: 'json' | 'key_value' = 'json';
    const meter = new FileMeter({
      maxBytes: this.#o.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
      progressBytes: this.#o.progressBytes ?? DEFAULT_PROGRESS_BYTES,
      progressMs: this.#o.progressMs ?? DEFAULT_PROGRESS_MS,
      now: this.#o.now ?? Date.now,
      onProgress: (bytes, ms) =>
        this.#log.info({ file: fileName, bytes, records: slot, seconds: Math.round(ms / 1000) }, 'SIEM 1.0 file still being read'),
    });
    const sendGroup = (): void => {
      if (texts.length === 0) return;
      const { text, ends } = frameRecords(texts, alloc);
      const job: ParseJob = {
        stream: 'siem',
        variant: 'v1',
        account,
        ...(groupType === undefined ? {} : { logType: groupType }),
        text,
        firstLine: groupFirst,
        where: `file=${groupWhere}`,
        records: { ends, format: groupFormat, ...(invalid.length === 0 ? {} : { invalidUtf8: invalid }) },
      };
      const result = this.#parse(job);
      // Taken (and its failure thrown) in order by takeOne; a group dropped unread (the pull ended) must not
      // become an unhandled rejection.
      result.catch(() => undefined);
      queue.push({ result, end: slot });
      texts = [];
      textBytes = 0;
      invalid = [];
    };
    const take = (item: RecordText, logType: string | undefined, where: string, format: 'json' | 'key_value'): void => {
      slot++;
      if (slot <= skip) return;
      if (!item.ok) {
        sendGroup();
        queue.push({ result: Promise.resolve({ events: [], quarantined: [{ reason: item.reason, detail: item.detail, location: `file=${where},record=${slot}`, raw: item.raw }] }), end: slot });
        return;
      }
      if (texts.length > 0 && (where !== groupWhere || logType !== groupType || format !== groupFormat)) sendGroup();
      if (texts.length === 0) {
        groupFirst = slot;
        groupWhere = where;
        groupType = logType;
        groupFormat = format;
      }
      if (item.invalidUtf8 === true) invalid.push(texts.length);
      texts.push(item.text);
      textBytes += item.text.length;
      if (texts.length >= groupRecords || textBytes >= PARSE_GROUP_BYTES) sendGroup();
    };
    const flush = (): Chunk => {
      const out = { events, quarantined, end: doneSlot, blocks };
      events = [];
      quarantined = [];
      blocks = [];
      return out;
    };
    /** Takes the oldest group's result; returns the chunks that became full. */
    const takeOne = async (): Promise<Chunk[]> => {
      const head = queue.shift();
      if (head === undefined) return [];
      const r = await head.result;
      const out: Chunk[] = [];
      // A chunk closes on events or on quarantined records, so a stretch of bad records also commits its place.
      // A group never holds more records than a chunk (or QUARANTINE_CHUNK): if it does not fit, the chunk closes first.
      const held = events.length + quarantined.length;
      if (held > 0 && (held + r.events.length + r.quarantined.length > chunkEvents || quarantined.length + r.quarantined.length > QUARANTINE_CHUNK)) out.push(flush());
      for (const e of r.events) events.push(e);
      for (const q of r.quarantined) quarantined.push(q);
      if (r.block !== undefined) blocks.push(r.block);
      doneSlot = head.end;
      if (events.length + quarantined.length >= chunkEvents || quarantined.length >= QUARANTINE_CHUNK) out.push(flush());
      return out;
    };
    const drainAhead = async function* (): AsyncGenerator<Chunk> {
      while (queue.length > PARSE_GROUPS_AHEAD || (queue.length > 0 && pool?.saturated === true)) yield* await takeOne();
    };

    try {
      try {
        const sniffed = await sniff(body);
        const outerType = logTypeOfName(fileName);
        if (sniffed.kind === 'empty') {
          this.#log.warn({ file: fileName }, 'SIEM 1.0 file is empty');
          onBodyDone?.();
        } else if (sniffed.kind === 'zip') {
          for await (const entry of this.#zipEntries(sniffed.body, signal, onBodyDone)) {
            const kind = entryKind(entry.name);
            const logType = logTypeOfName(entry.name) ?? outerType;
            const records = await recordsOf(meter.count(entry.stream), kind, parse);
            for await (const item of records.items) {
              take(item, logType, `${fileName ?? '(unnamed)'}!${entry.name}`, records.format);
              yield* drainAhead();
            }
          }
        } else {
          const records = await recordsOf(meter.count(endOf(sniffed.body, onBodyDone)), sniffed.kind, parse);
          for await (const item of records.items) {
            take(item, outerType, fileName ?? '(unnamed)', records.format);
            yield* drainAhead();
          }
        }
        sendGroup();
        onReadDone?.();
      } catch (err) {
        // What was read before the cut is good: hand it over first, then report the failure. A failed parse job
        // (its worker died) is reported as it is: the file is read again from the committed slot.
        if (isAbort(err, signal) || (err instanceof CollectorError && err.code === 'NORMALIZE_FAILED')) throw err;
        sendGroup();
        while (queue.length > 0) yield* await takeOne();
        if (events.length > 0 || quarantined.length > 0) yield flush();
        throw err;
      }
      while (queue.length > 0) yield* await takeOne();
    } finally {
      body.destroy();
    }
    doneSlot = Math.max(doneSlot, slot);
    if (events.length > 0 || quarantined.length > 0) yield { ...flush(), last: true };
    if (meter.logged) this.#log.info({ file: fileName, bytes: meter.bytes, records: slot }, 'SIEM 1.0 file read to the end');
  }

  /**
   * Yields a zip reply's entries one by one. A reply of up to `memoryZipBytes` is read from memory; a larger one is
   * spooled to a private temp dir, removed afterwards. Both count against the zip spool limit (`maxZipBytes`).
   */
  async *#zipEntries(body: AsyncIterable<Buffer>, signal: AbortSignal, onSpooled?: () => void): AsyncGenerator<{ name: string; stream: Readable }> {
    const max = this.#o.maxZipBytes ?? DEFAULT_MAX_ZIP_BYTES;
    const inMemory = Math.min(max, this.#o.memoryZipBytes ?? DEFAULT_MEMORY_ZIP_BYTES);
    const it = body[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let total = 0;
    let whole = false;
    for (;;) {
      const r = await it.next();
      if (r.done === true) {
        whole = true;
        break;
      }
      total += r.value.length;
      if (total > max) throw zipTooLarge(max);
      head.push(r.value);
      if (total > inMemory) break;
    }
    if (whole) {
      onSpooled?.();
      yield* zipEntriesOf(Buffer.concat(head, total));
      return;
    }
    const rest = async function* (): AsyncGenerator<Buffer> {
      yield* head;
      head.length = 0;
      for (let r = await it.next(); r.done !== true; r = await it.next()) {
        total += r.value.length;
        if (total > max) throw zipTooLarge(max);
        yield r.value;
      }
    };
    const base = this.#o.tempDir ?? os.tmpdir();
    let dir: string;
    try {
      dir = await mkdtemp(path.join(base, 'mc-siem-v1-'));
    } catch (err) {
      throw spoolFailed(base, err);
    }
    try {
      const file = path.join(dir, 'reply.zip');
      const out = createWriteStream(file);
      let writeError: unknown;
      out.once('error', (err) => (writeError = err));
      try {
        await pipeline(Readable.from(rest()), out, { signal });
      } catch (err) {
        // The disk, not the download: the file is not to blame and must not use up its retries or be quarantined.
        if (writeError !== undefined && !isAbort(err, signal)) throw spoolFailed(base, writeError);
        throw err;
      }
      onSpooled?.();
      yield* zipEntriesOf(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** The entries of a whole archive (spooled or in memory), in order; a cut archive fails after its readable entries. */
async function* zipEntriesOf(data: ZipData): AsyncGenerator<{ name: string; stream: Readable }> {
  const dirInfo = await readZipDirectory(data);
  for (const entry of dirInfo.entries) {
    if (entry.name.endsWith('/')) continue;
    const stream = await openZipEntry(data, entry, dirInfo.fileSize);
    try {
      yield { name: entry.name, stream };
    } finally {
      stream.destroy();
    }
  }
  if (dirInfo.truncated) {
    throw new SiemFileError('truncated_file', `the zip file is cut short (no central directory; ${dirInfo.entries.length} entr${dirInfo.entries.length === 1 ? 'y' : 'ies'} found)`);
  }
}

function zipTooLarge(max: number): SiemFileError {
  return new SiemFileError('file_too_large', `the zip reply is larger than ${max} bytes (the zip spool limit); refusing to spool it`);
}

/** The chunks of a primed file: the first one (already read, or its failure), then the rest as they come. */
async function* resumePrimed(file: { gen: AsyncGenerator<Chunk>; first: Promise<IteratorResult<Chunk>> }): AsyncGenerator<Chunk> {
  try {
    for (let r = await file.first; r.done !== true; r = await file.gen.next()) yield r.value;
  } finally {
    await file.gen.return(undefined);
  }
}

function spoolFailed(dir: string, err: unknown): CollectorError {
  // Node's fs messages carry the OS code (ENOSPC, EACCES...) already.
  return new CollectorError(
    'SPOOL_FAILED',
    `cannot spool a SIEM 1.0 zip reply under ${dir}: ${describeError(err)}; it needs free space up to the zip size in the OS temp dir (TMPDIR)`,
    { cause: err, retryable: true, details: { dir } },
  );
}

function entryKind(name: string): FileKind | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.log') || lower.endsWith('.txt')) return 'key_value';
  return undefined;
}

/**
 * Counts the decompressed bytes of one file as its parsers pull them: past `maxBytes` the rest of the file is refused
 * (`file_too_large`: a zip bomb, or a file far beyond anything Mimecast writes); a long file logs its progress.
 */
class FileMeter {
  bytes = 0;
  /** True once a progress line was written. */
  logged = false;
  #lastBytes = 0;
  #lastAt: number;
  readonly #started: number;

  constructor(
    private readonly o: {
      maxBytes: number;
      progressBytes: number;
      progressMs: number;
      now: () => number;
      onProgress: (bytes: number, elapsedMs: number) => void;
    },
  ) {
    this.#started = o.now();
    this.#lastAt = this.#started;
  }

  async *count(src: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
    for await (const c of src) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      this.bytes += b.length;
      if (this.bytes > this.o.maxBytes) {
        throw new SiemFileError('file_too_large', `the file holds more than ${this.o.maxBytes} bytes once decompressed (max_file_size); the rest of it is not read`);
      }
      if (this.bytes - this.#lastBytes >= this.o.progressBytes) this.#progress();
      else if (this.o.now() - this.#lastAt >= this.o.progressMs) this.#progress();
      yield b;
    }
  }

  #progress(): void {
    const t = this.o.now();
    this.#lastBytes = this.bytes;
    this.#lastAt = t;
    this.logged = true;
    this.o.onProgress(this.bytes, t - this.#started);
  }
}

/** Record texts of one file or entry, and their format; it comes from the name when it says, else from the first bytes. */
async function recordsOf(
  src: AsyncIterable<Buffer | string>,
  kind: FileKind | undefined,
  parse: { maxRecordBytes: number },
): Promise<{ format: 'json' | 'key_value'; items: AsyncIterable<RecordText> }> {
  let k = kind;
  let body = src;
  if (k === undefined || k === 'zip') {
    const s = await sniff(src);
    body = s.body;
    if (s.kind === 'empty') return { format: 'json', items: (async function* () {})() };
    if (s.kind === 'zip') throw new SiemFileError('unsupported_file', 'a zip inside the zip');
    k = s.kind;
  }
  return k === 'json' ? { format: 'json', items: jsonRecordTexts(body, parse) } : { format: 'key_value', items: keyValueRecordTexts(body, parse) };
}

/** Passes a body through and calls `onEnd` once it has been read to its end. */
async function* endOf(src: AsyncIterable<Buffer>, onEnd: (() => void) | undefined): AsyncGenerator<Buffer> {
  for await (const b of src) yield b;
  onEnd?.();
}

async function readCaughtUp(body: Readable): Promise<{ isLastToken: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c as string);
    size += b.length;
    if (size > CAUGHT_UP_BYTES) {
      body.destroy();
      break;
    }
    chunks.push(b);
  }
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const meta = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['meta'] : undefined;
    return { isLastToken: typeof meta === 'object' && meta !== null && (meta as Record<string, unknown>)['isLastToken'] === true };
  } catch {
    return { isLastToken: false };
  }
}
