// Turns raw NDJSON lines into normalized events and quarantine entries; runs in a worker thread or inline.
import type { EcsDocument, NormalizedEvent, Quarantined, StreamName } from './contracts.js';
import { describeError } from './errors.js';
import { normalizerFor } from '../normalize/registry.js';

/** One unit of parsing work: consecutive lines of one file. */
export interface ParseJob {
  stream: StreamName;
  variant?: 'v1' | 'v2';
  account: string;
  logType?: string;
  lines: readonly string[];
  /** 1-based number of the first line, for quarantine locations. */
  firstLine: number;
  /** Location prefix, e.g. `type=receipt,blob=3`. */
  where: string;
}

export interface ParsedLines {
  events: NormalizedEvent[];
  quarantined: Quarantined[];
}

const MAX_RAW = 4096;

export function parseLines(job: ParseJob): ParsedLines {
  const normalize = normalizerFor(job.stream, job.variant);
  const ctx = job.logType === undefined ? { account: job.account } : { account: job.account, logType: job.logType };
  const events: NormalizedEvent[] = [];
  const quarantined: Quarantined[] = [];
  for (let i = 0; i < job.lines.length; i++) {
    const raw = job.lines[i] ?? '';
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (err) {
      quarantined.push({ reason: 'bad_json', detail: describeError(err), location: `${job.where},line=${job.firstLine + i}`, raw: text.slice(0, MAX_RAW) });
      continue;
    }
    try {
      events.push(normalize(record, ctx));
    } catch (err) {
      quarantined.push({ reason: 'bad_record', detail: describeError(err), location: `${job.where},line=${job.firstLine + i}`, raw: text.slice(0, MAX_RAW) });
    }
  }
  return { events, quarantined };
}

/** An event that crossed a thread boundary as text: the document is parsed only if someone asks for it. */
export class SerializedEvent implements NormalizedEvent {
  constructor(
    readonly id: string,
    readonly stream: StreamName,
    readonly account: string,
    readonly time: string,
    readonly json: string,
  ) {}
  get doc(): EcsDocument {
    return JSON.parse(this.json) as EcsDocument;
  }
}

/** Events as a flat list of strings (id, time, json, ...): far cheaper to pass between threads than objects. */
export function flattenEvents(events: readonly NormalizedEvent[]): string[] {
  const flat: string[] = new Array<string>(events.length * 3);
  let j = 0;
  for (const e of events) {
    flat[j++] = e.id;
    flat[j++] = e.time;
    flat[j++] = e.json ?? JSON.stringify(e.doc);
  }
  return flat;
}

export function unflattenEvents(flat: readonly string[], stream: StreamName, account: string): NormalizedEvent[] {
  const out: NormalizedEvent[] = new Array<NormalizedEvent>(flat.length / 3);
  for (let i = 0, j = 0; i < flat.length; i += 3) {
    out[j++] = new SerializedEvent(flat[i] ?? '', stream, account, flat[i + 1] ?? '', flat[i + 2] ?? '');
  }
  return out;
}
