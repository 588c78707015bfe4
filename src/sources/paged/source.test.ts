// The time-window source against a scripted paged endpoint over real HTTP: every spec, end cases, resume, overlap, clamps, 403.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../core/errors.js';
import { ParsePool } from '../parse/parse-pool.js';
import { formatMimecastDate, parseTime } from '../../normalize/time.js';
import { silentLogger } from '../../telemetry/logger.js';
import { PagedSource, parsePagedCursor, type PagedSourceOptions } from './source.js';
import { PAGED_SPECS, PAGED_STREAMS, type PagedSpec } from './specs.js';
import { captureLogger, clientFor, drain, ids, startFake, testNormalizer, type FakeReply, type FakeRequest, type FakeServer } from './testkit.js';

const NOW = Date.parse('2024-03-10T12:00:00Z');
const MIN = 60_000;
const DAY = 86_400_000;
const MC_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/;

type Ending = 'absent' | 'trailing_empty_records' | 'trailing_empty_data';

/** A paged Mimecast function over an in-memory record list, filtering by the window it is sent. */
class PagedEndpoint {
  readonly records: { t: number; n: number }[] = [];
  ending: Ending = 'absent';
  generation = 1;
  forbidden: FakeReply | undefined;
  constructor(readonly spec: PagedSpec, readonly pageSize: number) {}

  add(t: number, n: number): void {
    this.records.push({ t, n });
  }

  private record(r: { t: number; n: number }): Record<string, unknown> {
    return { n: r.n, t: r.t, [this.spec.timeField]: formatMimecastDate(new Date(r.t)), ...(this.spec.stream === 'audit' ? { id: `A${r.n}` } : {}) };
  }

  private reply(list: Record<string, unknown>[], next: string | undefined, emptyData = false): FakeReply {
    const data = emptyData ? [] : this.spec.recordsKey === undefined ? list : [{ [this.spec.recordsKey]: list }];
    return { body: { meta: { status: 200, pagination: { pageSize: this.pageSize, ...(next === undefined ? {} : { next }) } }, data, fail: [] } };
  }

  handle(req: FakeRequest): FakeReply {
    if (this.forbidden !== undefined) return this.forbidden;
    const body = req.body as { meta?: { pagination?: { pageToken?: string } }; data?: Record<string, unknown>[] };
    const item = body.data?.[0] ?? {};
    const from = parseTime(item[this.spec.window.from]);
    const to = parseTime(item[this.spec.window.to]);
    if (from === undefined || to === undefined) return { status: 400, body: { fail: [{ code: 'err_validation', message: 'bad window' }] } };
    const inWindow = this.records.filter((r) => r.t >= from.getTime() && r.t <= to.getTime()).sort((a, b) => a.t - b.t || a.n - b.n);
    let offset = 0;
    const token = body.meta?.pagination?.pageToken;
    if (token !== undefined) {
      if (token === 'String') return this.reply([], 'String', this.ending === 'trailing_empty_data');
      const m = /^g(\d+)-o(\d+)$/.exec(token);
      if (m === null || Number(m[1]) !== this.generation) {
        return { body: { meta: { status: 200 }, data: [], fail: [{ key: item, errors: [{ code: 'err_page_token_invalid', message: 'The page token is invalid', retryable: false }] }] } };
      }
      offset = Number(m[2]);
    }
    const page = inWindow.slice(offset, offset + this.pageSize).map((r) => this.record(r));
    const more = offset + this.pageSize < inWindow.length;
    const next = more ? `g${this.generation}-o${offset + this.pageSize}` : this.ending === 'absent' ? undefined : 'String';
    return this.reply(page, next);
  }
}

let fake: FakeServer | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function setup(stream: keyof typeof PAGED_SPECS, pageSize = 50): Promise<{ ep: PagedEndpoint; fake: FakeServer; make: (o?: Partial<PagedSourceOptions>) => PagedSource; clock: { now: number } }> {
  const spec = PAGED_SPECS[stream];
  const ep = new PagedEndpoint(spec, pageSize);
  const f = await startFake((req) => (req.path === spec.path ? ep.handle(req) : { status: 404, body: { fail: [{ code: 'not_found', message: 'no such path' }] } }));
  fake = f;
  const client = clientFor(f);
  const clock = { now: NOW };
  const make = (o: Partial<PagedSourceOptions> = {}): PagedSource =>
    new PagedSource({
      account: 'acme',
      spec,
      api: client,
      logger: silentLogger(),
      startFromMs: 3 * DAY,
      pageSize,
      normalize: testNormalizer(stream),
      now: () => clock.now,
      ...o,
    });
  return { ep, fake: f, make, clock };
}

function items(f: FakeServer): Record<string, unknown>[] {
  return f.requests.map((r) => ((r.body as { data: Record<string, unknown>[] }).data[0] ?? {}));
}
function tokens(f: FakeServer): (string | undefined)[] {
  return f.requests.map((r) => (r.body as { meta: { pagination: { pageToken?: string } } }).meta.pagination.pageToken);
}

describe('PagedSource', () => {
  it.each(PAGED_STREAMS)('%s: drains a 3-day backlog in ≤1-day UTC windows, one page per batch, with the spec request', async (stream) => {
    const { ep, fake: f, make } = await setup(stream);
    const spec = PAGED_SPECS[stream];
    for (let i = 0; i < 400; i++) ep.add(NOW - 3 * DAY + 5 * MIN + i * 10 * MIN, i);
    const { batches, cursor } = await drain(make(), undefined);
    const want = ep.records.filter((r) => r.t <= NOW - MIN).map((r) => `n${r.n}`);
    expect(new Set(ids(batches))).toEqual(new Set(want));
    expect(ids(batches)).toHaveLength(want.length);
    expect(Math.max(...batches.map((b) => b.events.length))).toBeLessThanOrEqual(50);
    expect(batches).toHaveLength(f.requests.length);
    for (const item of items(f)) {
      const from = item[spec.window.from];
      const to = item[spec.window.to];
      expect(from).toMatch(MC_DATE);
      expect(to).toMatch(MC_DATE);
      const len = (parseTime(to)?.getTime() ?? 0) - (parseTime(from)?.getTime() ?? 0);
      expect(len).toBeGreaterThan(0);
      expect(len).toBeLessThanOrEqual(DAY);
      for (const [k, v] of Object.entries(spec.extra)) expect(item[k]).toEqual(v);
    }
    expect(new Set(items(f).map((it) => it[spec.window.from])).size).toBe(3);
    expect(parsePagedCursor(cursor)).toEqual({ v: 1, from: new Date(NOW - MIN).toISOString() });
  });

  it.each<Ending>(['absent', 'trailing_empty_records', 'trailing_empty_data'])('ends a window on %s without looping', async (ending) => {
    const { ep, fake: f, make } = await setup('ttp_url', 10);
    ep.ending = ending;
    for (let i = 0; i < 25; i++) ep.add(NOW - 2 * 3_600_000 + i * MIN, i);
    const { batches, cursor } = await drain(make({ startFromMs: 3 * 3_600_000 }), undefined);
    expect(ids(batches)).toHaveLength(25);
    expect(f.requests).toHaveLength(ending === 'absent' ? 3 : 4);
    expect(parsePagedCursor(cursor)?.to).toBeUndefined();
  });

  it('treats a window with no records at all as done, and still moves the cursor', async () => {
    const { fake: f, make } = await setup('dlp');
    const { batches, cursor } = await drain(make({ startFromMs: 3_600_000 }), undefined);
    expect(f.requests).toHaveLength(1);
    expect(batches).toHaveLength(1);
    expect(batches[0]?.events).toEqual([]);
    expect(parsePagedCursor(cursor)?.from).toBe(new Date(NOW - MIN).toISOString());
  });

  it('resumes mid-window from the stored page token after a crash, without losing or repeating a page', async () => {
    const { ep, fake: f, make } = await setup('ttp_attachment', 20);
    for (let i = 0; i < 150; i++) ep.add(NOW - 10 * 3_600_000 + i * MIN, i);
    const first = await drain(make({ startFromMs: 12 * 3_600_000 }), undefined, 3);
    const mid = parsePagedCursor(first.cursor);
    expect(mid?.pageToken).toBe('g1-o60');
    const before = f.requests.length;
    const second = await drain(make({ startFromMs: 12 * 3_600_000 }), first.cursor);
    expect(tokens(f)[before]).toBe('g1-o60');
    const all = [...ids(first.batches), ...ids(second.batches)];
    expect(new Set(all).size).toBe(150);
    expect(all).toHaveLength(150);
  });

  it('asks for the next page while the current one is being journaled; a stop mid-overlap resumes from the committed token', async () => {
    const { ep, fake: f, make } = await setup('ttp_url', 10);
    for (let i = 0; i < 45; i++) ep.add(NOW - 2 * 3_600_000 + i * MIN, i);
    const src = make({ startFromMs: 3 * 3_600_000 });
    const it1 = src.pull(undefined, new AbortController().signal);
    const first = await it1.next();
    if (first.done === true) throw new Error('no batch');
    // Page 1 is held, not journaled: the request for page 2 (its token came with page 1) is already on its way.
    const deadline = Date.now() + 2000;
    while (!tokens(f).includes('g1-o10') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(tokens(f)).toEqual([undefined, 'g1-o10']);
    const journaled = [first.value];
    // Stop with page 2 in hand (never journaled) and page 3 asked for ahead.
    const second = await it1.next();
    expect(second.done).toBe(false);
    while (!tokens(f).includes('g1-o20') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await it1.return(undefined);
    expect(parsePagedCursor(first.value.cursor)?.pageToken).toBe('g1-o10');
    const before = f.requests.length;
    const rest = await drain(make({ startFromMs: 3 * 3_600_000 }), first.value.cursor);
    // The restart asks for page 2 again: the committed token, not the one read ahead.
    expect(tokens(f)[before]).toBe('g1-o10');
    const all = [...ids(journaled), ...ids(rest.batches)];
    expect(all).toHaveLength(45);
    expect(new Set(all).size).toBe(45);
    // Read ahead, a reply is used: each page was asked for once in the uninterrupted pull.
    expect(tokens(f).slice(before)).toEqual(['g1-o10', 'g1-o20', 'g1-o30', 'g1-o40']);
  });

  it('the parse worker normalizes pages exactly as this thread does', async () => {
    const { ep, fake: f } = await setup('audit', 10);
    for (let i = 0; i < 25; i++) ep.add(NOW - 2 * 3_600_000 + i * MIN, i);
    ep.records.push({ t: NOW - 3_600_000, n: -1 });
    const pool = new ParsePool({ workers: 1, workerFile: join(import.meta.dirname, '../../../dist/sources/parse/parse-worker.js') });
    try {
      expect(pool.threaded).toBe(true);
      const opts = { account: 'acme', spec: PAGED_SPECS.audit, api: clientFor(f), logger: silentLogger(), startFromMs: 3 * 3_600_000, now: () => NOW };
      // A batch's bytes are the consumer's only until it asks for the next one (the worker's buffers are reused).
      const read = async (src: PagedSource): Promise<{ docs: unknown[]; cursors: string[] }> => {
        const out = { docs: [] as unknown[], cursors: [] as string[] };
        for await (const b of src.pull(undefined, new AbortController().signal)) {
          for (const e of b.events) out.docs.push([e.id, e.time, e.doc]);
          out.cursors.push(b.cursor);
        }
        return out;
      };
      const inline = await read(new PagedSource(opts));
      const threaded = await read(new PagedSource({ ...opts, pool }));
      expect(threaded).toEqual(inline);
      expect(inline.docs).toHaveLength(26);
    } finally {
      await pool.close();
    }
  });

  it('re-reads the last overlap minutes each cycle and so catches a late-indexed record', async () => {
    const { ep, fake: f, make, clock } = await setup('ttp_impersonation');
    for (let i = 0; i < 30; i++) ep.add(NOW - 60 * MIN + i * MIN, i);
    const src = make({ startFromMs: 2 * 3_600_000 });
    const one = await drain(src, undefined);
    expect(ids(one.batches)).toHaveLength(30);
    // Indexed after cycle one read its window, but timed inside it.
    ep.add(NOW - 4 * MIN, 999);
    clock.now = NOW + 5 * MIN;
    const before = f.requests.length;
    const two = await drain(src, one.cursor);
    expect(ids(two.batches)).toContain('n999');
    expect(items(f)[before]?.['from']).toBe(formatMimecastDate(new Date(NOW - MIN - 10 * MIN)));
  });

  it('reads the same window again from its start when the API refuses a stored page token', async () => {
    const { ep, fake: f, make } = await setup('audit', 20);
    for (let i = 0; i < 100; i++) ep.add(NOW - 5 * 3_600_000 + i * MIN, i);
    const log = captureLogger();
    const first = await drain(make({ startFromMs: 6 * 3_600_000 }), undefined, 2);
    ep.generation += 1;
    const before = f.requests.length;
    const second = await drain(make({ startFromMs: 6 * 3_600_000, logger: log.logger }), first.cursor);
    expect(tokens(f).slice(before, before + 2)).toEqual(['g1-o40', undefined]);
    expect(items(f)[before]?.['startDateTime']).toBe(items(f)[before + 1]?.['startDateTime']);
    expect(new Set([...ids(first.batches), ...ids(second.batches)]).size).toBe(100);
    expect(second.batches.reduce((n, b) => n + (b.counters?.['token_restarts'] ?? 0), 0)).toBe(1);
    expect(log.lines().some((l) => l.msg.includes('refused the page token'))).toBe(true);
  });

  it('clamps audit to its 60-day history, on a first run and for an old stored cursor (with a warning)', async () => {
    const { fake: f, make } = await setup('audit');
    await drain(make({ startFromMs: 90 * DAY, maxWindowMs: 30 * DAY }), undefined, 1);
    const start = parseTime(items(f)[0]?.['startDateTime'])?.getTime() ?? 0;
    expect(start).toBeGreaterThanOrEqual(NOW - 60 * DAY);
    expect(start).toBeLessThan(NOW - 59 * DAY);

    const log = captureLogger();
    const old = JSON.stringify({ v: 1, from: new Date(NOW - 80 * DAY).toISOString() });
    const { batches } = await drain(make({ logger: log.logger, maxWindowMs: 30 * DAY }), old, 1);
    expect(parseTime(items(f)[1]?.['startDateTime'])?.getTime()).toBe(start);
    expect(batches[0]?.counters?.['history_clamped']).toBe(1);
    const warn = log.lines().find((l) => l.msg.includes('were not collected'));
    expect(warn?.msg).toContain(new Date(NOW - 80 * DAY - 10 * MIN).toISOString());
    expect(warn?.msg).toContain('60 days');
  });

  it('throws a "disabled" API_PERMISSION_DENIED error on HTTP 403 for an unlicensed product', async () => {
    const { ep, make } = await setup('ttp_url');
    ep.forbidden = { status: 403, body: { fail: [{ code: 'forbidden', message: 'Access denied' }] } };
    const err = await drain(make(), undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.code).toBe('API_PERMISSION_DENIED');
    expect(e.retryable).toBe(false);
    expect(e.details['disabled']).toBe(true);
    expect(e.message).toMatch(/^stream ttp_url disabled for account acme: the account is not licensed for it \(HTTP 403/);
  });

  it('also disables on a 200 reply whose fail code says the product is not licensed', async () => {
    const { ep, make } = await setup('held_release');
    ep.forbidden = { body: { meta: { status: 200 }, data: [], fail: [{ errors: [{ code: 'err_product_not_licensed', message: 'Not licensed', retryable: false }] }] } };
    const err = (await drain(make(), undefined).catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe('API_PERMISSION_DENIED');
    expect(err.details['disabled']).toBe(true);
  });

  it('quarantines a record the normalizer rejects and still commits the page', async () => {
    const spec = PAGED_SPECS.archive_search;
    const f = await startFake(() => ({ body: { meta: { pagination: { pageSize: 50 } }, data: [{ logs: [{ n: 1, t: NOW - 10 * MIN }, { bad: true }] }], fail: [] } }));
    fake = f;
    const src = new PagedSource({ account: 'acme', spec, api: clientFor(f), logger: silentLogger(), startFromMs: 3_600_000, normalize: testNormalizer('archive_search'), now: () => NOW });
    const { batches } = await drain(src, undefined);
    expect(ids(batches)).toEqual(['n1']);
    expect(batches[0]?.quarantined?.[0]?.reason).toBe('bad_record');
    expect(batches[0]?.quarantined?.[0]?.location).toContain('stream=archive_search');
  });

  it('stops a window when the API hands back a page token it already gave', async () => {
    const spec = PAGED_SPECS.dlp;
    let n = 0;
    const f = await startFake(() => ({ body: { meta: { pagination: { next: 'same' } }, data: [{ dlpLogs: [{ n: n++, t: NOW - 10 * MIN }] }] } }));
    fake = f;
    const src = new PagedSource({ account: 'acme', spec, api: clientFor(f), logger: silentLogger(), startFromMs: 3_600_000, normalize: testNormalizer('dlp'), now: () => NOW });
    const { batches, cursor } = await drain(src, undefined);
    expect(f.requests).toHaveLength(2);
    expect(batches).toHaveLength(2);
    expect(parsePagedCursor(cursor)?.to).toBeUndefined();
  });

  it('normalizes with the registry normalizer of its stream when none is given', async () => {
    const click = { userEmailAddress: 'amy@corp.example', fromUserEmailAddress: 'docs@bad.example', url: 'http://login.bad.example/doc', ttpDefinition: 'Default', subject: 'Sign', action: 'block', adminOverride: 'N/A', userOverride: 'None', scanResult: 'malicious', category: 'Phishing & Fraud', sendingIp: 'Internal IP', userAwarenessAction: 'N/A', date: '2024-03-10T11:30:00+0000', actions: 'Block', route: 'inbound', creationMethod: 'User Click', emailPartsDescription: ['Body'], messageId: '<s1@bad.example>' };
    const audit = { id: 'eNqrVip', auditType: 'User Logged On', user: 'svc@corp.example', eventTime: '2024-03-10T11:20:00+0000', eventInfo: 'Successful authentication', category: 'authentication_logs' };
    const f = await startFake((req) =>
      req.path === PAGED_SPECS.audit.path ? { body: { meta: { pagination: {} }, data: [audit], fail: [] } } : { body: { meta: { pagination: {} }, data: [{ clickLogs: [click] }], fail: [] } },
    );
    fake = f;
    for (const stream of ['ttp_url', 'audit'] as const) {
      const src = new PagedSource({ account: 'acme', spec: PAGED_SPECS[stream], api: clientFor(f), logger: silentLogger(), startFromMs: 3_600_000, now: () => NOW });
      const { batches } = await drain(src, undefined);
      const events = batches.flatMap((b) => b.events);
      expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
      expect(events).toHaveLength(1);
      expect(events[0]?.stream).toBe(stream);
      expect(events[0]?.time).toBe(stream === 'audit' ? '2024-03-10T11:20:00.000Z' : '2024-03-10T11:30:00.000Z');
    }
  });
});

describe('PagedSource on the parse worker', () => {
  const WORKER = join(import.meta.dirname, '../../../dist/sources/parse/parse-worker.js');
  let pool: ParsePool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });
  const threaded = (): ParsePool => {
    pool = new ParsePool({ workers: 1, workerFile: WORKER });
    expect(pool.threaded).toBe(true);
    return pool;
  };
  const click = (i: number, date: string): Record<string, unknown> => ({ userEmailAddress: `u${i}@corp.example`, url: `http://x.example/${i}`, action: 'block', scanResult: 'malicious', date, messageId: `<m${i}@x>` });

  it('restarts the window when the API refuses a stored page token in a 200 fail[]', async () => {
    const { ep, fake: f } = await setup('audit', 20);
    for (let i = 0; i < 100; i++) ep.add(NOW - 5 * 3_600_000 + i * MIN, i);
    const opts = { account: 'acme', spec: PAGED_SPECS.audit, api: clientFor(f), logger: silentLogger(), startFromMs: 6 * 3_600_000, pageSize: 20, pool: threaded(), now: () => NOW };
    const first = await drain(new PagedSource(opts), undefined, 2);
    ep.generation += 1;
    const before = f.requests.length;
    const second = await drain(new PagedSource(opts), first.cursor);
    // The first run's read-ahead of page 3 (stopped with it) may reach the server after `before`: find the restart.
    const later = tokens(f).slice(before);
    const restart = later.indexOf(undefined);
    expect(restart).toBeGreaterThan(0);
    expect(later[restart - 1]).toBe('g1-o40');
    expect(new Set([...ids(first.batches), ...ids(second.batches)]).size).toBe(100);
    expect(second.batches.reduce((n, b) => n + (b.counters?.['token_restarts'] ?? 0), 0)).toBe(1);
  });

  it('a retryable fail[] in a 200 is retried by the client; an unlicensed one disables the stream', async () => {
    let n = 0;
    const f = await startFake(() => {
      n += 1;
      if (n === 1) return { body: { meta: { status: 200 }, data: [], fail: [{ errors: [{ code: 'err_busy', message: 'Try again', retryable: true }] }] } };
      if (n === 2) return { body: { meta: { pagination: {} }, data: [{ clickLogs: [click(1, '2024-03-10T11:30:00+0000')] }], fail: [] } };
      return { body: { meta: { status: 200 }, data: [], fail: [{ errors: [{ code: 'err_product_not_licensed', message: 'Not licensed', retryable: false }] }] } };
    });
    fake = f;
    const opts = { account: 'acme', spec: PAGED_SPECS.ttp_url, api: clientFor(f), logger: silentLogger(), startFromMs: 3_600_000, pool: threaded(), now: () => NOW };
    const { batches } = await drain(new PagedSource(opts), undefined);
    expect(f.requests).toHaveLength(2);
    expect(batches.flatMap((b) => b.events)).toHaveLength(1);
    const err = (await drain(new PagedSource(opts), undefined).catch((e: unknown) => e)) as ApiError;
    expect(err).toMatchObject({ code: 'API_PERMISSION_DENIED', apiCode: 'err_product_not_licensed' });
    expect(err.details['disabled']).toBe(true);
  });

  it('asks for the next page as soon as the worker has read the token, before the current page is normalized', async () => {
    const { ep, fake: f } = await setup('audit', 10);
    for (let i = 0; i < 25; i++) ep.add(NOW - 2 * 3_600_000 + i * MIN, i);
    const seen: string[] = [];
    const client = clientFor(f);
    const api: PagedSourceOptions['api'] = {
      postJsonWith: (path, body, signal, reader) => {
        seen.push(`ask ${String((body as { meta: { pagination: { pageToken?: string } } }).meta.pagination.pageToken)}`);
        return client.postJsonWith(path, body, signal, reader);
      },
    };
    const p = threaded();
    const run = p.run.bind(p);
    p.run = async (job, handOver, onHead) => {
      const r = await run(job, handOver, onHead);
      seen.push(`page with next ${String(r.reply?.kind === 'page' ? r.reply.next : undefined)} read`);
      return r;
    };
    const { batches, cursor } = await drain(new PagedSource({ account: 'acme', spec: PAGED_SPECS.audit, api, logger: silentLogger(), startFromMs: 3 * 3_600_000, pageSize: 10, pool: p, now: () => NOW }), undefined);
    const at = (what: string): number => seen.indexOf(what);
    expect(seen.filter((s) => s.startsWith('ask'))).toEqual(['ask undefined', 'ask g1-o10', 'ask g1-o20']);
    // Page 2 is asked for before page 1 is read whole; page 3 only once page 2 is the current page (one ahead).
    expect(at('ask g1-o10')).toBeLessThan(at('page with next g1-o10 read'));
    expect(at('ask g1-o20')).toBeGreaterThan(at('page with next g1-o10 read'));
    expect(new Set(ids(batches)).size).toBe(25);
    expect(batches.map((b) => parsePagedCursor(b.cursor)?.pageToken)).toEqual(['g1-o10', 'g1-o20', undefined]);
    expect(parsePagedCursor(cursor)?.to).toBeUndefined();
  });

  it('parses a reply too large for a worker heap on its own thread, with the same result', async () => {
    const big = Array.from({ length: 700 }, (_, i) => ({ id: `A${i}`, auditType: 'Logon', user: 'a@corp.example', eventTime: '2024-03-10T11:20:00+0000', eventInfo: 'x'.repeat(4000) }));
    const f = await startFake(() => ({ body: { meta: { pagination: {} }, data: big, fail: [] } }));
    fake = f;
    const p = threaded();
    expect(p.maxJobBytes).toBe(2 * 1024 * 1024);
    let onWorker = 0;
    const run = p.run.bind(p);
    p.run = (job, handOver, onHead) => {
      onWorker += 1;
      return run(job, handOver, onHead);
    };
    const opts = { account: 'acme', spec: PAGED_SPECS.audit, api: clientFor(f), logger: silentLogger(), startFromMs: 3_600_000, now: () => NOW };
    const inline = await drain(new PagedSource(opts), undefined);
    const pooled = await drain(new PagedSource({ ...opts, pool: p }), undefined);
    expect(onWorker).toBe(0);
    expect(ids(pooled.batches)).toEqual(ids(inline.batches));
    expect(ids(pooled.batches)).toHaveLength(700);
  });

  it('quarantines a bad record inside a page, keeps a record without a time (tagged), and the page reads as it does inline', async () => {
    const page = {
      meta: { pagination: { next: 'p2' } },
      data: [{ clickLogs: [click(1, '2024-03-10T11:30:00+0000'), 'not a record', click(2, ''), click(3, '2024-03-01T00:00:00+0000')] }],
      fail: [],
    };
    // One record's text holds a byte that is not UTF-8: the decoder replaces it, the record is kept untagged.
    const [head, tail] = JSON.stringify(page).split('http://x.example/2') as [string, string];
    const bytes = Buffer.concat([Buffer.from(`${head}http://x.example/\u00e9`), Buffer.from([0xff]), Buffer.from(tail)]);
    const f = await startFake((req) => {
      const token = (req.body as { meta: { pagination: { pageToken?: string } } }).meta.pagination.pageToken;
      return token === undefined ? { chunks: [bytes.subarray(0, 100), bytes.subarray(100)] } : { body: { meta: { pagination: {} }, data: [{ clickLogs: [] }], fail: [] } };
    });
    fake = f;
    const opts = { account: 'acme', spec: PAGED_SPECS.ttp_url, api: clientFor(f), logger: silentLogger(), startFromMs: 3_600_000, now: () => NOW };
    const read = async (src: PagedSource): Promise<unknown> => {
      const out: unknown[] = [];
      for await (const b of src.pull(undefined, new AbortController().signal)) {
        out.push({ events: b.events.map((e) => [e.id, e.time, e.timeMissing === true, e.doc]), quarantined: b.quarantined ?? [], cursor: b.cursor, counters: b.counters });
      }
      // The collection time (a record without one, event.created) is the clock's: the test data is all from 2024.
      return JSON.parse(JSON.stringify(out).replace(/"20(?:2[5-9]|[3-9]\d)-[^"]*Z"/g, '"(collected)"')) as unknown;
    };
    const inline = await read(new PagedSource(opts));
    const onWorker = (await read(new PagedSource({ ...opts, pool: threaded() }))) as { events: [string, string, boolean, Record<string, unknown>][]; quarantined: { reason: string; location: string; raw: string }[]; counters: Record<string, number> }[];
    expect(onWorker).toEqual(inline);
    const [p1] = onWorker;
    expect(p1?.events).toHaveLength(3);
    expect(p1?.quarantined).toEqual([expect.objectContaining({ reason: 'bad_record', raw: '"not a record"', location: expect.stringContaining('page=1,record=2') })]);
    const missing = p1?.events.find((e) => e[2]);
    expect(missing?.[3]['tags']).toContain('mimecast_time_missing');
    expect(JSON.stringify(p1?.events)).toContain('http://x.example/\u00e9\ufffd');
    expect(JSON.stringify(p1?.events)).not.toContain('invalid_utf8');
    expect(p1?.counters['records_outside_window']).toBe(1);
  });
});
