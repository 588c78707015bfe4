// Turns raw records (NDJSON lines, or record texts cut out of a file or page) into normalized events and quarantine entries; runs in a worker thread or inline.
import { isAscii, isUtf8 } from 'node:buffer';
import { MAX_RAW, SerializedEvent, rawOfRecord, type NormalizedEvent, type Quarantined, type StreamName } from '../../core/contracts.js';
import { describeError } from '../../core/errors.js';
import { normalizerFor, type Normalizer } from '../normalizers.js';
import { TAG_INVALID_UTF8, withTag } from '../../normalize/tags.js';
import { readPagedReply, type PagedReplyInfo, type PagedReplyJob } from '../paged/reply.js';
import { parseKeyValue } from '../siem/v1/keyvalue.js';

/**
 * A job whose `text` holds whole records one after another instead of lines: record i ends at byte `ends[i]`. Nothing
 * is trimmed or split (a JSON record may span lines; a key_value record may hold a lone `\r`). Its records are
 * numbered (`record=N` in quarantine locations), not its lines.
 */
export interface RecordFraming {
  ends: readonly number[];
  /** `json` (default): JSON texts. `key_value`: SIEM 1.0 `key=value|...` records. */
  format?: 'json' | 'key_value';
  /** Indexes (0-based, in this job) of records whose text holds U+FFFD put there by decoding bytes that were not UTF-8. */
  invalidUtf8?: readonly number[];
}

/** One unit of parsing work: consecutive lines (or records) of one file or page. */
export interface ParseJob {
  stream: StreamName;
  variant?: 'v1' | 'v2';
  account: string;
  logType?: string;
  /** The lines as strings, or */
  lines?: readonly string[];
  /** as UTF-8 bytes, each line ended by `\n` (the last one may lack it): cheaper to cut and to hand to a worker. */
  text?: Uint8Array;
  /** 1-based number of the first line (or record, with `records`), for quarantine locations. */
  firstLine: number;
  /** Location prefix, e.g. `type=receipt,blob=3`. */
  where: string;
  /** `text` framed as records rather than lines. */
  records?: RecordFraming;
  /**
   * `text` is one whole paged reply (meta/data/fail JSON), parsed once: its records are numbered (`record=N`) and
   * what else it held comes back as ParsedLines.reply.
   */
  reply?: PagedReplyJob;
}

export interface ParsedLines {
  events: NormalizedEvent[];
  quarantined: Quarantined[];
  /**
   * The buffer the events' bytes live in (worker replies only). Handing it back with `ParsePool.recycle` once
   * nothing reads those bytes any more lets the worker fill it again; a buffer not handed back is simply collected.
   */
  block?: ArrayBuffer;
  /** For a `reply` job: the page token, record counts, or why the reply is not a page. */
  reply?: PagedReplyInfo;
}


/** Parses `job` on this thread; `normalize` replaces the registry's normalizer (sources given their own, in tests). */
export function parseLines(job: ParseJob, normalize?: Normalizer): ParsedLines {
  const events: NormalizedEvent[] = [];
  const { quarantined, reply } = eachRecord(job, (e) => events.push(e), normalize);
  return reply === undefined ? { events, quarantined } : { events, quarantined, reply };
}

/**
 * Parses `job` and packs each event's document as soon as it is built (what the worker sends back). The document
 * text dies young instead of living until the whole group is packed: the worker's scavenges copy (and promote)
 * far less, which cut its time per event by a fifth.
 */
export function parseAndPack(
  job: ParseJob,
  reuse?: (minBytes: number) => ArrayBuffer | undefined,
  onReply?: (info: PagedReplyInfo) => void,
): { packed: PackedEvents; quarantined: Quarantined[]; reply?: PagedReplyInfo } {
  const writer = new PackWriter();
  const { quarantined, reply } = eachRecord(job, (e) => writer.add(e), undefined, onReply);
  const packed = writer.finish(reuse);
  return reply === undefined ? { packed, quarantined } : { packed, quarantined, reply };
}

/** Calls `emit` with each line's event in order; returns the lines that could not be used (and a reply's page facts). */
function eachRecord(
  job: ParseJob,
  emit: (e: NormalizedEvent) => void,
  custom?: Normalizer,
  onReply?: (info: PagedReplyInfo) => void,
): { quarantined: Quarantined[]; reply?: PagedReplyInfo } {
  const normalize = custom ?? normalizerFor(job.stream, job.variant);
  const ctx = job.logType === undefined ? { account: job.account } : { account: job.account, logType: job.logType };
  if (job.reply !== undefined) return eachReplyRecord(job, job.reply, normalize, ctx, emit, onReply);
  if (job.records !== undefined) return { quarantined: eachFramed(job, job.records, normalize, ctx, emit) };
  const quarantined: Quarantined[] = [];
  const invalid = { utf8: false };
  const next = job.lines !== undefined ? arrayLines(job.lines) : textLines(job.text, invalid);
  for (let i = 0; ; i++) {
    const raw = next();
    if (raw === undefined) break;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (err) {
      quarantined.push({ reason: 'bad_json', detail: describeError(err), location: `${job.where},line=${job.firstLine + i}`, raw: text.slice(0, MAX_RAW) });
      continue;
    }
    let event: NormalizedEvent;
    try {
      event = normalize(record, ctx);
    } catch (err) {
      quarantined.push({ reason: 'bad_record', detail: describeError(err), location: `${job.where},line=${job.firstLine + i}`, raw: text.slice(0, MAX_RAW) });
      continue;
    }
    emit(invalid.utf8 ? withTag(event, TAG_INVALID_UTF8) : event);
  }
  return { quarantined };
}

/**
 * The records of one paged reply, parsed from its bytes once. A record that fails to normalize is quarantined with
 * its JSON text. Bytes that are not UTF-8 were replaced (U+FFFD) when the body was decoded, as a JSON reply's
 * always are: such records are not tagged.
 */
function eachReplyRecord(
  job: ParseJob,
  how: PagedReplyJob,
  normalize: Normalizer,
  ctx: { account: string; logType?: string },
  emit: (e: NormalizedEvent) => void,
  onReply?: (info: PagedReplyInfo) => void,
): { quarantined: Quarantined[]; reply: PagedReplyInfo } {
  const quarantined: Quarantined[] = [];
  const { info, records } = readPagedReply(job.text ?? new Uint8Array(0), how);
  if (records === undefined) return { quarantined, reply: info };
  // Told before the records are normalized: the page token lets the caller ask for the next page meanwhile.
  onReply?.(info);
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    // Let each record be collected once normalized: the page's records do not all stay alive to its end.
    records[i] = undefined;
    let event: NormalizedEvent;
    try {
      event = normalize(record, ctx);
    } catch (err) {
      quarantined.push({ reason: 'bad_record', detail: describeError(err), location: `${job.where},record=${job.firstLine + i}`, raw: rawOfRecord(record) });
      continue;
    }
    emit(event);
  }
  return { quarantined, reply: info };
}

/** The records of a record-framed job, in order; records are never skipped (each is a slot its source counts). */
function eachFramed(
  job: ParseJob,
  framing: RecordFraming,
  normalize: Normalizer,
  ctx: { account: string; logType?: string },
  emit: (e: NormalizedEvent) => void,
): Quarantined[] {
  const quarantined: Quarantined[] = [];
  const t = job.text;
  const buf = t === undefined ? Buffer.alloc(0) : Buffer.from(t.buffer, t.byteOffset, t.byteLength);
  const tagged = framing.invalidUtf8 === undefined || framing.invalidUtf8.length === 0 ? undefined : new Set(framing.invalidUtf8);
  const keyValue = framing.format === 'key_value';
  let start = 0;
  for (let i = 0; i < framing.ends.length; i++) {
    const end = framing.ends[i] as number;
    const text = buf.toString(isAscii(buf.subarray(start, end)) ? 'latin1' : 'utf8', start, end);
    start = end;
    const location = `${job.where},record=${job.firstLine + i}`;
    let record: unknown;
    try {
      record = keyValue ? parseKeyValue(text) : JSON.parse(text);
    } catch (err) {
      quarantined.push({ reason: keyValue ? 'bad_record' : 'bad_json', detail: describeError(err), location, raw: text.slice(0, MAX_RAW) });
      continue;
    }
    let event: NormalizedEvent;
    try {
      event = normalize(record, ctx);
    } catch (err) {
      quarantined.push({ reason: 'bad_record', detail: describeError(err), location, raw: text.slice(0, MAX_RAW) });
      continue;
    }
    emit(tagged?.has(i) === true ? withTag(event, TAG_INVALID_UTF8) : event);
  }
  return quarantined;
}

/**
 * Builds a record-framed job's `text` and `ends` from record texts: UTF-8 bytes written one after another into a
 * buffer from `alloc` (the pool's textBuffer, moved to the worker and back).
 */
export function frameRecords(texts: readonly string[], alloc: (size: number) => Buffer): { text: Buffer; ends: number[] } {
  let size = 0;
  for (const t of texts) size += Buffer.byteLength(t, 'utf8');
  const text = alloc(size);
  const ends: number[] = [];
  let off = 0;
  for (const t of texts) {
    off += text.write(t, off, 'utf8');
    ends.push(off);
  }
  return { text, ends };
}

function arrayLines(lines: readonly string[]): () => string | undefined {
  let i = 0;
  return () => (i < lines.length ? (lines[i++] ?? '') : undefined);
}

/**
 * The lines of a `text` job, decoded one at a time (a line's string lives only while it is parsed): split at
 * `\n`; a final `\n` ends the last line rather than starting an empty one. An ASCII line (most of them) becomes
 * a one-byte string by a plain copy, and one line with accents no longer turns the whole group into two-byte
 * strings (slower to decode, parse, hash and re-encode). `invalid.utf8` tells whether the line just returned had
 * bytes that are not UTF-8 (decoded as U+FFFD); only lines that are not ASCII are checked.
 */
function textLines(text: Uint8Array | undefined, invalid: { utf8: boolean }): () => string | undefined {
  const buf = text === undefined ? Buffer.alloc(0) : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  let pos = 0;
  return () => {
    if (pos >= buf.length) return undefined;
    const nl = buf.indexOf(0x0a, pos);
    const end = nl < 0 ? buf.length : nl;
    const bytes = buf.subarray(pos, end);
    const ascii = isAscii(bytes);
    invalid.utf8 = !ascii && !isUtf8(bytes);
    const line = buf.toString(ascii ? 'latin1' : 'utf8', pos, end);
    pos = end + 1;
    return line;
  };
}

/** PackedEvents.severity of an event without one (severities are 0–10). */
const NO_SEVERITY = 255;

/** A packed severity as NormalizedEvent.severity. */
function severityAt(packed: PackedEvents, i: number): number | undefined {
  const s = packed.severity[i];
  return s === undefined || s === NO_SEVERITY ? undefined : s;
}

/** Events packed to cross a thread boundary: the documents as one UTF-8 buffer (transferred, not copied). */
export interface PackedEvents {
  /** id, time, log type for each event, in order. */
  meta: string[];
  /** End offset of each event's document in `docs`. */
  ends: Uint32Array;
  docs: Uint8Array;
  /** Each event's severity (NormalizedEvent.severity), NO_SEVERITY where it has none. */
  severity: Uint8Array;
  /** Indexes of the events whose time is the collection time (NormalizedEvent.timeMissing); absent when none. */
  timeMissing?: number[];
}

/**
 * The bytes of the group being packed, in this thread: reused from group to group (it grows to the largest group
 * and stays), so writing a document allocates nothing and its text can die at once.
 */
const SCRATCH_BYTES = 256 * 1024;
/**
 * Groups in a row that used less than a quarter of a grown scratch buffer before it is let go. A group's documents
 * can be larger than its 2 MB of lines (an ECS document is larger than its record), and dropping every scratch over
 * a fixed 4 MB made each such group allocate, fault in and free a new 8 MB buffer (seen with strace in the 1M-record
 * benchmark; it also raises glibc's mmap threshold to 8 MB for the whole process).
 */
const SHRINK_AFTER_GROUPS = 8;
let scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
/** Groups in a row that used less than a quarter of the scratch buffer. */
let smallGroups = 0;

/**
 * Writes documents one after another into the thread's scratch buffer; `finish` copies them into a buffer of their
 * exact size (own ArrayBuffer, never the shared pool, so it can be transferred): a reused one when `reuse` has
 * one that fits, else a new one a little larger (see blockSize). The copy costs ~1 % of the parsing; sizing the
 * transfer buffer from an estimate instead cost ~10 MB more at the peak.
 */
class PackWriter {
  private off = 0;
  private readonly meta: string[] = [];
  private readonly ends: number[] = [];
  private readonly severity: number[] = [];
  private missing: number[] | undefined;

  add(e: NormalizedEvent): void {
    if (e.timeMissing === true) (this.missing ??= []).push(this.ends.length);
    const text = e.json ?? JSON.stringify(e.doc);
    // A string of n UTF-16 units takes at most 3n bytes: count exactly only when that might not fit.
    if (scratch.length - this.off < text.length * 3) {
      const need = this.off + Buffer.byteLength(text, 'utf8');
      if (need > scratch.length) {
        const bigger = Buffer.allocUnsafeSlow(Math.max(need, scratch.length * 2));
        scratch.copy(bigger, 0, 0, this.off);
        scratch = bigger;
      }
    }
    this.off += scratch.write(text, this.off, 'utf8');
    this.meta.push(e.id, e.time, e.logType ?? '');
    this.severity.push(e.severity ?? NO_SEVERITY);
    this.ends.push(this.off);
  }

  finish(reuse?: (minBytes: number) => ArrayBuffer | undefined): PackedEvents {
    const total = this.off;
    const reused = total > 0 ? reuse?.(total) : undefined;
    const docs = reused !== undefined ? Buffer.from(reused) : Buffer.allocUnsafeSlow(total === 0 ? 0 : blockSize(total));
    scratch.copy(docs, 0, 0, total);
    // One odd group of huge records should not pin its size for good; the size groups keep needing stays.
    if (scratch.length > SCRATCH_BYTES && total * 4 < scratch.length) {
      if (++smallGroups >= SHRINK_AFTER_GROUPS) {
        scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
        smallGroups = 0;
      }
    } else smallGroups = 0;
    const packed: PackedEvents = { meta: this.meta, ends: Uint32Array.from(this.ends), docs: docs.subarray(0, total), severity: Uint8Array.from(this.severity) };
    if (this.missing !== undefined) packed.timeMissing = this.missing;
    return packed;
  }
}

/** Size of a new document buffer: a quarter more than asked, in 16 KiB steps, so one buffer serves many groups. */
export function blockSize(minBytes: number): number {
  const step = 16 * 1024;
  return Math.ceil((minBytes * 1.25) / step) * step;
}

/**
 * Buffers handed back for reuse, at most `capacity` of them. When full, a larger buffer replaces the smallest
 * kept, so the spares keep fitting the largest groups; buffers under `minBytes` are not worth keeping.
 */
export class SpareBuffers {
  private readonly list: ArrayBuffer[] = [];

  constructor(
    private readonly capacity: number,
    private readonly minBytes = 0,
  ) {}

  put(b: ArrayBuffer): void {
    if (b.byteLength < Math.max(1, this.minBytes)) return;
    if (this.list.length < this.capacity) {
      this.list.push(b);
      return;
    }
    let min = 0;
    for (let i = 1; i < this.list.length; i++) if ((this.list[i] as ArrayBuffer).byteLength < (this.list[min] as ArrayBuffer).byteLength) min = i;
    if (this.list.length > 0 && (this.list[min] as ArrayBuffer).byteLength < b.byteLength) this.list[min] = b;
  }

  /** The first spare of at least `minBytes`, taken out of the list; undefined when none fits. */
  take(minBytes: number): ArrayBuffer | undefined {
    for (let i = 0; i < this.list.length; i++) {
      const b = this.list[i] as ArrayBuffer;
      if (b.byteLength >= minBytes) {
        this.list[i] = this.list[this.list.length - 1] as ArrayBuffer;
        this.list.pop();
        return b;
      }
    }
    return undefined;
  }
}

export function unpackEvents(packed: PackedEvents, stream: StreamName, account: string): NormalizedEvent[] {
  const { meta, ends, docs } = packed;
  const out: NormalizedEvent[] = new Array<NormalizedEvent>(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i] as number;
    const bytes = Buffer.from(docs.buffer, docs.byteOffset + start, end - start);
    out[i] = new SerializedEvent(meta[3 * i] ?? '', stream, account, meta[3 * i + 1] ?? '', bytes, undefined, meta[3 * i + 2] ?? '', severityAt(packed, i));
    start = end;
  }
  for (const i of packed.timeMissing ?? []) {
    const e = out[i] as SerializedEvent;
    out[i] = new SerializedEvent(e.id, stream, account, e.time, e.bytes ?? e.json, true, e.logType, e.severity);
  }
  return out;
}
