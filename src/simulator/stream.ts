// API 2.0 SIEM stream endpoint: the batch records served inline, per-type positions in an opaque cursor, 24-hour window.
import type { IncomingMessage } from 'node:http';
import { SIEM_TYPES, siemTypeFromApi } from '../core/contracts.js';
import type { BlobDesc } from './catalog.js';
import { json, siemError, type HttpReply } from './http.js';
import { TYPE_COUNT, typeIndex } from './records.js';
import type { SimContext } from './core/context.js';
import type { RouteTable } from './core/routes.js';
import { intAt } from './tokens.js';

const STREAM_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$/;
const WINDOW_MS = 24 * 3_600_000;
const GRACE_MS = 60_000;
const MAX_PAGE = 1000;

function parseStreamTime(s: string): number | undefined {
  const m = STREAM_TIME.exec(s);
  if (m === null) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) || new Date(ms).toISOString() !== s ? undefined : ms;
}

interface StreamCursor {
  start: number;
  end: number;
  mask: number;
  /** Per type: [blob index, record index within that blob]. */
  pos: [number, number][];
}

type Rec = Record<string, unknown>;

/** Recently regenerated blobs, parsed: consecutive pages mostly touch the same few. */
class BlobRecords {
  private readonly cache = new Map<string, Rec[]>();

  get(sim: SimContext, desc: BlobDesc): Rec[] {
    const key = `${desc.t}/${desc.index}`;
    let recs = this.cache.get(key);
    if (recs === undefined) {
      recs = sim.account.catalog.recordLines(desc).map((l) => JSON.parse(l) as Rec);
      this.cache.set(key, recs);
      if (this.cache.size > 16) this.cache.delete(this.cache.keys().next().value as string);
    }
    return recs;
  }
}

const caches = new WeakMap<SimContext, BlobRecords>();

function encode(sim: SimContext, c: StreamCursor): string {
  return sim.signer.sign('stream', [c.start, c.end, c.mask, ...c.pos.flat()]);
}

function decode(sim: SimContext, token: string): StreamCursor | undefined {
  const v = sim.signer.parse('stream', token);
  if (v === undefined || v.length !== 3 + 2 * TYPE_COUNT) return undefined;
  const ints = v.map((_, i) => intAt(v, i));
  if (ints.some((x) => x === undefined)) return undefined;
  const n = ints as number[];
  const pos: [number, number][] = [];
  for (let t = 0; t < TYPE_COUNT; t++) pos.push([n[3 + 2 * t] as number, n[4 + 2 * t] as number]);
  return { start: n[0] as number, end: n[1] as number, mask: n[2] as number, pos };
}

export function streamEndpoint(sim: SimContext, req: IncomingMessage, url: URL): Promise<HttpReply> {
  return Promise.resolve(stream(sim, req, url));
}

function stream(sim: SimContext, req: IncomingMessage, url: URL): HttpReply {
  const auth = sim.auth.bearer(req, 'siem');
  if (!auth.ok) return auth.reply;
  const q = url.searchParams;
  let pageSize = 100;
  const ps = q.get('pageSize');
  if (ps !== null) {
    if (!/^\d+$/.test(ps) || Number(ps) < 1 || Number(ps) > MAX_PAGE) {
      return siemError(400, 'invalid_page_size', `pageSize must be an integer between 1 and ${MAX_PAGE}`);
    }
    pageSize = Number(ps);
  }
  let cur: StreamCursor;
  const next = q.get('nextPage');
  if (next !== null && next !== '') {
    const c = decode(sim, next);
    if (c === undefined) return siemError(400, 'invalid_next_page', 'nextPage is not a valid page token');
    // A stream token keeps following the stream: events published after the first request are served too.
    cur = { ...c, end: Math.max(c.end, Date.now()) };
  } else {
    const sRaw = q.get('dateRangeStartsAt');
    const eRaw = q.get('dateRangeEndsAt');
    if (sRaw === null || eRaw === null) {
      return siemError(400, 'missing_date_range', 'either nextPage or both dateRangeStartsAt and dateRangeEndsAt are required');
    }
    const start = parseStreamTime(sRaw);
    const end = parseStreamTime(eRaw);
    if (start === undefined || end === undefined) {
      return siemError(400, 'invalid_date', 'dateRangeStartsAt and dateRangeEndsAt must look like YYYY-MM-DDTHH:MM:SS.sssZ');
    }
    const now = Date.now();
    if (start < now - WINDOW_MS - GRACE_MS || end > now + GRACE_MS) {
      return siemError(400, 'invalid_date_range', 'dateRangeStartsAt and dateRangeEndsAt must be within the last 24 hours');
    }
    if (end <= start) return siemError(400, 'invalid_date_range', 'dateRangeEndsAt must be after dateRangeStartsAt');
    let mask = 0;
    const typesRaw = q.get('types') ?? q.get('type');
    if (typesRaw === null || typesRaw.trim() === '') mask = (1 << TYPE_COUNT) - 1;
    else {
      for (const part of typesRaw.split(',')) {
        const st = siemTypeFromApi(part);
        if (st === undefined) return siemError(400, 'invalid_type', `type '${part.trim()}' is not one of the supported log types`);
        mask |= 1 << typeIndex(st);
      }
    }
    const pos: [number, number][] = SIEM_TYPES.map((_, t) => ((mask & (1 << t)) !== 0 ? [sim.account.catalog.firstIndexFrom(t, start), 0] : [0, 0]));
    cur = { start, end, mask, pos };
  }
  const cache = caches.get(sim) ?? new BlobRecords();
  caches.set(sim, cache);
  const inWindow = (r: Rec): boolean => {
    const ts = r['timestamp'];
    return typeof ts === 'number' && ts >= cur.start && ts <= cur.end;
  };
  const value: Rec[] = [];
  if (sim.faults.roll(sim.faults.current().replayRecords)) {
    // Re-send the tail before the cursor of the first type that has one, as the real stream sometimes does.
    for (let t = 0; t < TYPE_COUNT; t++) {
      const [b, r] = cur.pos[t] as [number, number];
      const desc = sim.account.catalog.get(t, b);
      if ((cur.mask & (1 << t)) === 0 || r === 0 || desc === undefined) continue;
      const recs = cache.get(sim, desc).slice(Math.max(0, r - 1 - sim.faults.rng.int(5)), r).filter(inWindow);
      if (recs.length === 0) continue;
      value.push(...recs);
      sim.faults.count('streamReplay');
      break;
    }
  }
  const fresh: Rec[] = [];
  const pos = cur.pos.map(([b, r]): [number, number] => [b, r]);
  const pending = (t: number): boolean => {
    const list = sim.account.catalog.blobs[t] as BlobDesc[];
    const b = (pos[t] as [number, number])[0];
    return b < list.length && (list[b] as BlobDesc).tMin <= cur.end;
  };
  for (let t = 0; t < TYPE_COUNT && fresh.length < pageSize; t++) {
    if ((cur.mask & (1 << t)) === 0) continue;
    const list = sim.account.catalog.blobs[t] as BlobDesc[];
    let [b, r] = pos[t] as [number, number];
    while (b < list.length && fresh.length < pageSize) {
      const desc = list[b] as BlobDesc;
      if (desc.tMin > cur.end) break;
      const recs = cache.get(sim, desc);
      while (r < recs.length && fresh.length < pageSize) {
        const rec = recs[r] as Rec;
        r++;
        if (inWindow(rec)) fresh.push(rec);
      }
      if (r >= recs.length) {
        b++;
        r = 0;
      }
    }
    pos[t] = [b, r];
  }
  let caughtUp = true;
  for (let t = 0; t < TYPE_COUNT && caughtUp; t++) if ((cur.mask & (1 << t)) !== 0 && pending(t)) caughtUp = false;
  value.push(...fresh);
  const token = encode(sim, { ...cur, pos });
  const link = new URL(`${sim.baseUrl(req)}/siem/v1/events/cg`);
  link.searchParams.set('nextPage', token);
  link.searchParams.set('pageSize', String(pageSize));
  return json(200, { value, '@nextPage': token, '@nextLink': link.toString(), pageSize, isCaughtUp: caughtUp }, auth.headers);
}

export function registerStream(routes: RouteTable): void {
  routes.add({ method: 'GET', path: '/siem/v1/events/cg', counter: 'stream', handler: streamEndpoint });
}
