// The simulator's HTTP side: OAuth token, SIEM batch listing, pre-signed blob downloads, quotas and fault injection.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SIEM_TYPES, siemTypeFromApi } from '../core/contracts.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import { Catalog, type BlobDesc, type PublishFaults } from './catalog.js';
import { Rng, mix, seedHash } from './prng.js';
import { TYPE_COUNT, typeIndex } from './records.js';
import type { FaultCounterName, RunningSimulator, SimulatorFaults, SimulatorOptions, SimulatorStats } from './types.js';

const DAY_MS = 86_400_000;
const MAX_LOOKBACK_DAYS = 7;
const TOKEN_PATH = '/oauth/token';
const BATCH_PATH = '/siem/v1/batch/events/cg';
const BLOB_PATH = /^\/blobs\/([^/]+)\/([a-z_]+)_(\d+)_(\d+)\.json\.gz$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const JSON_TYPE = 'application/json; charset=utf-8';
const XML_TYPE = 'application/xml';
const MAX_FORM_BYTES = 64 * 1024;

type Headers = Record<string, string | number>;

interface ResolvedOptions {
  port: number;
  host: string;
  seedH: number;
  clientId: string;
  clientSecret: string;
  accountCode: string;
  tokenTtlSeconds: number;
  backlogRecords: number;
  backlogHours: number;
  publishIntervalMs: number;
  recordsPerInterval: number;
  recordsPerBlob: number;
  maxPageSize: number;
  blobTtlMs: number;
  rateLimit: { limit: number; windowMs: number } | undefined;
  manifestPath: string | undefined;
  cacheDir: string | undefined;
  faults: SimulatorFaults;
  logger: Logger;
  startTime: number;
}

function resolveOptions(o: SimulatorOptions): ResolvedOptions {
  const seedH = seedHash(o.seed ?? 1);
  const r = new Rng(mix(seedH, 0xc1d));
  const letters = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
  const derivedAccount = `CU${r.pick([...letters])}${r.range(10, 99)}${r.pick([...letters])}${r.range(100, 999)}`;
  const derivedId = `sim-${r.hex(24)}`;
  const derivedSecret = r.token(40);
  const positive = (v: number | undefined, d: number): number => (v !== undefined && Number.isFinite(v) && v >= 0 ? v : d);
  return {
    port: o.port ?? 0,
    host: o.host ?? '127.0.0.1',
    seedH,
    clientId: o.clientId ?? derivedId,
    clientSecret: o.clientSecret ?? derivedSecret,
    accountCode: o.accountCode ?? derivedAccount,
    tokenTtlSeconds: positive(o.tokenTtlSeconds, 1799),
    backlogRecords: Math.floor(positive(o.backlogRecords, 2000)),
    backlogHours: positive(o.backlogHours, 24),
    publishIntervalMs: positive(o.publishIntervalMs, 5000),
    recordsPerInterval: Math.floor(positive(o.recordsPerInterval, 200)),
    recordsPerBlob: Math.max(1, Math.floor(positive(o.recordsPerBlob, 500))),
    maxPageSize: Math.max(1, Math.floor(positive(o.maxPageSize, 100))),
    blobTtlMs: positive(o.blobTtlMs, 15 * 60_000),
    rateLimit: o.rateLimit,
    manifestPath: o.manifestPath,
    cacheDir: o.cacheDir,
    faults: { ...(o.faults ?? {}) },
    logger: o.logger ?? silentLogger(),
    startTime: o.startTime ?? Date.now(),
  };
}

function parseDay(s: string): number | undefined {
  const match = DATE_RE.exec(s);
  if (match === null) return undefined;
  const y = Number(match[1]);
  const mo = Number(match[2]);
  const d = Number(match[3]);
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return ms;
}

function s3Error(code: string, message: string, extra: Record<string, string> = {}): string {
  const fields = Object.entries(extra)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>${fields}` +
    `<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`
  );
}

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

interface PageCursor {
  t: number;
  pos: number;
  /** Exclusive upper time bound from dateRangeEndsAt, 0 when open-ended. */
  endLimit: number;
}

class HttpReply {
  constructor(
    readonly status: number,
    readonly body: string | Buffer,
    readonly headers: Headers = {},
  ) {}
}

function json(status: number, body: unknown, headers: Headers = {}): HttpReply {
  return new HttpReply(status, JSON.stringify(body), { 'Content-Type': JSON_TYPE, ...headers });
}

function failReply(status: number, code: string, message: string, headers: Headers = {}): HttpReply {
  return json(status, { fail: [{ code, message }] }, headers);
}

function siemError(status: number, code: string, message: string): HttpReply {
  return json(status, { error: { code, message } });
}

export class Simulator implements RunningSimulator {
  url = '';
  readonly clientId: string;
  readonly clientSecret: string;
  readonly accountCode: string;
  private readonly o: ResolvedOptions;
  private readonly catalog: Catalog;
  private readonly server: Server;
  private readonly log: Logger;
  private readonly signKey: Buffer;
  private readonly faultRng: Rng;
  private faults: SimulatorFaults;
  private readonly tokens = new Map<string, { owner: string; expiresAt: number }>();
  private readonly buckets = new Map<string, { windowStart: number; count: number }>();
  private readonly waits = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private publishChain: Promise<void> = Promise.resolve();
  private publishTimer: NodeJS.Timeout | undefined;
  private lastPublishEnd: number;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly counts = {
    requests: { token: 0, batch: 0, blob: 0, other: 0 },
    responses: {} as Record<string, number>,
    faults: {
      rateLimit429: 0,
      serverError500: 0,
      slowReply: 0,
      earlyTokenExpiry: 0,
      expiredBlob: 0,
      truncatedGzip: 0,
    },
    rateLimited: 0,
    tokensIssued: 0,
  };

  constructor(options: SimulatorOptions) {
    this.o = resolveOptions(options);
    this.clientId = this.o.clientId;
    this.clientSecret = this.o.clientSecret;
    this.accountCode = this.o.accountCode;
    this.log = this.o.logger;
    this.faults = this.o.faults;
    this.faultRng = new Rng(mix(this.o.seedH, 0xfa0175));
    this.signKey = createHmac('sha256', 'mimecast-simulator').update(String(this.o.seedH)).digest();
    this.lastPublishEnd = this.o.startTime;
    this.catalog = new Catalog({
      seedH: this.o.seedH,
      accountCode: this.o.accountCode,
      recordsPerBlob: this.o.recordsPerBlob,
      manifestPath: this.o.manifestPath,
      cacheDir: this.o.cacheDir,
    });
    this.server = createServer({ keepAlive: true }, (req, res) => this.onRequest(req, res));
  }

  async start(): Promise<void> {
    const { backlogRecords, backlogHours, startTime } = this.o;
    if (backlogRecords > 0) {
      await this.catalog.publish(backlogRecords, startTime - backlogHours * 3_600_000, startTime, this.publishFaults());
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address() as AddressInfo;
    const host = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
    if (this.o.publishIntervalMs > 0 && this.o.recordsPerInterval > 0) {
      this.publishTimer = setInterval(() => {
        void this.publish(this.o.recordsPerInterval).catch((err: unknown) => {
          this.log.error({ err }, 'simulator publish failed');
        });
      }, this.o.publishIntervalMs);
      this.publishTimer.unref();
    }
    this.log.info(
      { url: this.url, accountCode: this.accountCode, clientId: this.clientId, backlogRecords },
      'mimecast simulator listening',
    );
  }

  setFaults(f: SimulatorFaults): void {
    this.faults = { ...f };
  }

  publish(records: number): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.closed) return;
      const now = Date.now();
      const t0 = Math.min(this.lastPublishEnd, now);
      const t1 = Math.max(now, t0);
      const blobs = await this.catalog.publish(records, t0, t1, this.publishFaults());
      this.lastPublishEnd = t1;
      this.log.debug({ records, blobs: blobs.length }, 'simulator published records');
    };
    const p = this.publishChain.then(run);
    this.publishChain = p.catch(() => undefined);
    return p;
  }

  private publishFaults(): PublishFaults {
    return { nonJsonLines: this.faults.nonJsonLines ?? 0, replayRecords: this.faults.replayRecords ?? 0 };
  }

  stopPublishing(): void {
    if (this.publishTimer !== undefined) clearInterval(this.publishTimer);
    this.publishTimer = undefined;
  }

  publishedRecords(): number {
    return this.catalog.published;
  }

  stats(): SimulatorStats {
    const c = this.catalog.counters;
    const byType = {} as SimulatorStats['published']['byType'];
    let records = 0;
    let blobs = 0;
    SIEM_TYPES.forEach((t, i) => {
      const r = c.records[i] as number;
      const b = c.blobs[i] as number;
      byType[t] = { records: r, blobs: b };
      records += r;
      blobs += b;
    });
    const faults: Record<FaultCounterName, number> = {
      ...this.counts.faults,
      nonJsonLines: c.junkBlobs,
      replayRecords: c.replayBlobs,
    };
    return {
      requests: { ...this.counts.requests },
      responses: { ...this.counts.responses },
      faults,
      rateLimited: this.counts.rateLimited,
      tokensIssued: this.counts.tokensIssued,
      published: { records, blobs, byType },
      duplicateRecords: c.duplicateRecords,
      junkLines: c.junkLines,
    };
  }

  blobFiles(): string[] {
    const out: string[] = [];
    if (this.o.cacheDir === undefined) return out;
    for (const list of this.catalog.blobs) for (const desc of list) out.push(this.catalog.renderToDisk(desc));
    return out;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.stopPublishing();
      for (const w of this.waits) {
        clearTimeout(w.timer);
        w.resolve();
      }
      this.waits.clear();
      const closedServer = new Promise<void>((resolve) => {
        this.server.close(() => resolve());
      });
      this.server.closeAllConnections();
      // A large publication in progress stops at its next yield once the catalog is closed.
      this.catalog.close();
      await closedServer;
      await this.publishChain;
      this.log.info('mimecast simulator closed');
    })();
    return this.closing;
  }

  // ---- request handling ----

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.route(req)
      .then((reply) => this.send(res, req.method === 'HEAD' ? new HttpReply(reply.status, '', reply.headers) : reply, reply))
      .catch((err: unknown) => {
        this.log.error({ err, path: req.url }, 'simulator request failed');
        if (!res.headersSent && !this.closed) this.send(res, failReply(500, 'internal_error', 'simulator error'));
        else res.destroy();
      });
  }

  private send(res: ServerResponse, reply: HttpReply, sizeOf: HttpReply = reply): void {
    if (this.closed || res.destroyed) {
      res.destroy();
      return;
    }
    const key = String(reply.status);
    this.counts.responses[key] = (this.counts.responses[key] ?? 0) + 1;
    const length = typeof sizeOf.body === 'string' ? Buffer.byteLength(sizeOf.body) : sizeOf.body.length;
    res.writeHead(reply.status, { ...reply.headers, 'Content-Length': length });
    res.end(reply.body);
  }

  private async route(req: IncomingMessage): Promise<HttpReply> {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const path = url.pathname;
    if (path === TOKEN_PATH) {
      this.counts.requests.token++;
      if (req.method !== 'POST') return failReply(405, 'method_not_allowed', 'use POST');
      await this.maybeSlow();
      return this.token(req);
    }
    if (path === BATCH_PATH) {
      this.counts.requests.batch++;
      if (req.method !== 'GET') return failReply(405, 'method_not_allowed', 'use GET');
      await this.maybeSlow();
      return this.batch(req, url);
    }
    if (path.startsWith('/blobs/')) {
      this.counts.requests.blob++;
      if (req.method !== 'GET' && req.method !== 'HEAD') return new HttpReply(405, s3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.'), { 'Content-Type': XML_TYPE });
      return this.blob(url);
    }
    this.counts.requests.other++;
    return failReply(404, 'not_found', `no such endpoint: ${req.method ?? 'GET'} ${path}`);
  }

  private roll(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.faultRng.next() < p;
  }

  private async maybeSlow(): Promise<void> {
    const max = this.faults.slowReplyMs ?? 0;
    if (max <= 0 || !this.roll(this.faults.slowReplyRate ?? 1)) return;
    this.counts.faults.slowReply++;
    const ms = this.faultRng.int(max + 1);
    await new Promise<void>((resolve) => {
      const w = {
        timer: setTimeout(() => {
          this.waits.delete(w);
          resolve();
        }, ms),
        resolve,
      };
      w.timer.unref();
      this.waits.add(w);
    });
  }

  /** Shared gate for API calls: the real quota first, then the injected 429 and 500. */
  private gate(owner: string): { reply?: HttpReply; headers: Headers } {
    const headers: Headers = {};
    const rl = this.o.rateLimit;
    if (rl !== undefined) {
      const now = Date.now();
      let b = this.buckets.get(owner);
      if (b === undefined || now >= b.windowStart + rl.windowMs) {
        b = { windowStart: now, count: 0 };
        this.buckets.set(owner, b);
      }
      const reset = Math.max(1, b.windowStart + rl.windowMs - now);
      if (b.count >= rl.limit) {
        this.counts.rateLimited++;
        return { reply: this.tooMany(rl.limit, reset), headers };
      }
      b.count++;
      headers['X-RateLimit-Limit'] = rl.limit;
      headers['X-RateLimit-Remaining'] = rl.limit - b.count;
      headers['X-RateLimit-Reset'] = reset;
    }
    if (this.roll(this.faults.rateLimit429)) {
      this.counts.faults.rateLimit429++;
      return { reply: this.tooMany(rl?.limit ?? 100, 200 + this.faultRng.int(1301)), headers };
    }
    if (this.roll(this.faults.serverError500)) {
      this.counts.faults.serverError500++;
      return { reply: failReply(500, 'internal_server_error', 'An internal error occurred (simulated)'), headers };
    }
    return { headers };
  }

  private tooMany(limit: number, resetMs: number): HttpReply {
    return failReply(429, 'rate_limit_exceeded', 'Too many requests, quota exceeded; retry after X-RateLimit-Reset ms', {
      'X-RateLimit-Limit': limit,
      'X-RateLimit-Remaining': 0,
      'X-RateLimit-Reset': resetMs,
    });
  }

  private async token(req: IncomingMessage): Promise<HttpReply> {
    const raw = await readBody(req, MAX_FORM_BYTES);
    if (raw === undefined) return failReply(413, 'request_too_large', 'request body too large');
    let fields: Record<string, string> = {};
    const ctype = req.headers['content-type'] ?? '';
    if (ctype.includes('application/json')) {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (parsed !== null && typeof parsed === 'object') {
          for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') fields[k] = v;
        }
      } catch {
        return failReply(400, 'invalid_request', 'body is not valid JSON');
      }
    } else {
      fields = Object.fromEntries(new URLSearchParams(raw));
    }
    const clientId = fields['client_id'] ?? '';
    const clientSecret = fields['client_secret'] ?? '';
    const grantType = fields['grant_type'] ?? '';
    const gate = this.gate(clientId === '' ? '(anonymous)' : clientId);
    if (gate.reply !== undefined) return gate.reply;
    const missing = [
      clientId === '' ? 'client_id' : '',
      clientSecret === '' ? 'client_secret' : '',
      grantType === '' ? 'grant_type' : '',
    ].filter((f) => f !== '');
    if (missing.length > 0) {
      return failReply(400, 'invalid_request', `missing required field(s): ${missing.join(', ')}`, gate.headers);
    }
    if (grantType !== 'client_credentials') {
      return failReply(400, 'unsupported_grant_type', `grant_type must be client_credentials`, gate.headers);
    }
    if (clientId !== this.clientId || clientSecret !== this.clientSecret) {
      return failReply(401, 'invalid_client', 'Client authentication failed: unknown client_id or wrong client_secret', gate.headers);
    }
    const now = Date.now();
    let expiresAt = now + this.o.tokenTtlSeconds * 1000;
    if (this.roll(this.faults.earlyTokenExpiry)) {
      this.counts.faults.earlyTokenExpiry++;
      expiresAt = now + 1000 + this.faultRng.int(2001);
    }
    const accessToken = randomBytes(24).toString('base64url');
    this.pruneTokens(now);
    this.tokens.set(accessToken, { owner: clientId, expiresAt });
    this.counts.tokensIssued++;
    return json(
      200,
      { access_token: accessToken, token_type: 'Bearer', expires_in: this.o.tokenTtlSeconds, scope: '' },
      { ...gate.headers, 'Cache-Control': 'no-store' },
    );
  }

  private pruneTokens(now: number): void {
    if (this.tokens.size < 10_000) return;
    for (const [k, v] of this.tokens) if (v.expiresAt < now - 3_600_000) this.tokens.delete(k);
  }

  private signPage(c: PageCursor): string {
    const payload = Buffer.from(JSON.stringify([1, c.t, c.pos, c.endLimit])).toString('base64url');
    const sig = createHmac('sha256', this.signKey).update(`page:${payload}`).digest('base64url').slice(0, 22);
    return `${payload}.${sig}`;
  }

  private parsePage(token: string): PageCursor | undefined {
    const [payload, sig, extra] = token.split('.');
    if (payload === undefined || sig === undefined || extra !== undefined) return undefined;
    const want = createHmac('sha256', this.signKey).update(`page:${payload}`).digest('base64url').slice(0, 22);
    if (sig !== want) return undefined;
    try {
      const v: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      if (!Array.isArray(v) || v.length !== 4 || v[0] !== 1) return undefined;
      const [, t, pos, endLimit] = v as unknown[];
      if (typeof t !== 'number' || typeof pos !== 'number' || typeof endLimit !== 'number') return undefined;
      if (!Number.isInteger(t) || t < 0 || t >= TYPE_COUNT || !Number.isInteger(pos) || pos < 0) return undefined;
      return { t, pos, endLimit };
    } catch {
      return undefined;
    }
  }

  private async batch(req: IncomingMessage, url: URL): Promise<HttpReply> {
    const auth = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
    if (bearer === undefined) return failReply(401, 'unauthorized', 'missing Authorization: Bearer token');
    const tok = this.tokens.get(bearer);
    if (tok === undefined) return failReply(401, 'unauthorized', 'unknown or invalid access token');
    if (Date.now() >= tok.expiresAt) return failReply(401, 'token_expired', 'the access token has expired');
    const gate = this.gate(tok.owner);
    if (gate.reply !== undefined) return gate.reply;

    const q = url.searchParams;
    const typeParam = q.get('type');
    let t: number | undefined;
    if (typeParam !== null) {
      const st = siemTypeFromApi(typeParam);
      // Only the API's own spelling (with spaces) is accepted, as the real endpoint does.
      if (st === undefined || typeParam !== typeParam.trim().toLowerCase() || typeParam.includes('_')) {
        return siemError(400, 'invalid_type', `type '${typeParam}' is not one of the supported log types`);
      }
      t = typeIndex(st);
    }
    let pageSize = Math.min(100, this.o.maxPageSize);
    const ps = q.get('pageSize');
    if (ps !== null) {
      if (!/^\d+$/.test(ps) || Number(ps) < 1 || Number(ps) > this.o.maxPageSize) {
        return siemError(400, 'invalid_page_size', `pageSize must be an integer between 1 and ${this.o.maxPageSize}`);
      }
      pageSize = Number(ps);
    }
    let cursor: PageCursor;
    const next = q.get('nextPage');
    if (next !== null && next !== '') {
      const parsed = this.parsePage(next);
      if (parsed === undefined) return siemError(400, 'invalid_next_page', 'nextPage is not a valid page token');
      if (t !== undefined && t !== parsed.t) {
        return siemError(400, 'invalid_next_page', 'nextPage belongs to a different type');
      }
      cursor = parsed;
    } else {
      if (t === undefined) return siemError(400, 'missing_type', 'type is required');
      const startRaw = q.get('dateRangeStartsAt');
      const endRaw = q.get('dateRangeEndsAt');
      if (startRaw === null || endRaw === null) {
        return siemError(400, 'missing_date_range', 'either nextPage or both dateRangeStartsAt and dateRangeEndsAt are required');
      }
      const start = parseDay(startRaw);
      const end = parseDay(endRaw);
      if (start === undefined || end === undefined) {
        return siemError(400, 'invalid_date', 'dateRangeStartsAt and dateRangeEndsAt must be dates in the form YYYY-MM-DD');
      }
      const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
      if (start < today - MAX_LOOKBACK_DAYS * DAY_MS) {
        return siemError(400, 'invalid_date_range', `dateRangeStartsAt must not be more than ${MAX_LOOKBACK_DAYS} days in the past`);
      }
      if (end < start) return siemError(400, 'invalid_date_range', 'dateRangeEndsAt is before dateRangeStartsAt');
      cursor = { t, pos: this.catalog.firstIndexFrom(t, start), endLimit: end < today ? end + DAY_MS : 0 };
    }

    const list = this.catalog.blobs[cursor.t] as BlobDesc[];
    const page: BlobDesc[] = [];
    let pos = Math.min(cursor.pos, list.length);
    let ended = false;
    while (page.length < pageSize && pos < list.length) {
      const desc = list[pos] as BlobDesc;
      if (cursor.endLimit > 0 && desc.tMin >= cursor.endLimit) {
        ended = true;
        break;
      }
      page.push(desc);
      pos++;
    }
    if (!ended && cursor.endLimit > 0 && pos < list.length && (list[pos] as BlobDesc).tMin >= cursor.endLimit) ended = true;
    const caughtUp = ended || pos >= list.length;
    // Sizes need the rendered bytes; a few at a time keeps memory bounded and the loop responsive.
    for (let i = 0; i < page.length; i += 4) {
      await Promise.all(page.slice(i, i + 4).map((d) => (d.size >= 0 ? undefined : this.catalog.bytes(d))));
    }
    const now = Date.now();
    const base = `http://${req.headers.host ?? this.url.replace(/^http:\/\//, '')}`;
    const value = page.map((d) => {
      let expiresAt = now + this.o.blobTtlMs;
      if (this.roll(this.faults.expiredBlob)) {
        this.counts.faults.expiredBlob++;
        expiresAt = now - 1000 - this.faultRng.int(60_000);
      }
      return { url: base + this.blobPath(d, expiresAt), size: d.size, expiry: new Date(expiresAt).toISOString() };
    });
    return json(
      200,
      { value, '@nextPage': this.signPage({ t: cursor.t, pos, endLimit: cursor.endLimit }), isCaughtUp: caughtUp },
      gate.headers,
    );
  }

  private blobSignature(path: string, expiresAt: number): string {
    return createHmac('sha256', this.signKey).update(`blob:${path}\n${expiresAt}`).digest('hex');
  }

  private blobPath(d: BlobDesc, expiresAt: number): string {
    const path = `/blobs/${encodeURIComponent(this.accountCode)}/${this.catalog.fileName(d)}`;
    return `${path}?X-Sim-Expires=${expiresAt}&X-Sim-Signature=${this.blobSignature(path, expiresAt)}`;
  }

  private async blob(url: URL): Promise<HttpReply> {
    const xml = (status: number, code: string, message: string, extra?: Record<string, string>): HttpReply =>
      new HttpReply(status, s3Error(code, message, extra), { 'Content-Type': XML_TYPE });
    const match = BLOB_PATH.exec(url.pathname);
    const account = match?.[1];
    const typeName = match?.[2];
    const index = Number(match?.[3]);
    const offset = Number(match?.[4]);
    const t = typeName === undefined ? -1 : SIEM_TYPES.indexOf(typeName as (typeof SIEM_TYPES)[number]);
    const desc = t < 0 ? undefined : this.catalog.get(t, index);
    if (account !== encodeURIComponent(this.accountCode) || desc === undefined || desc.firstOffset !== offset) {
      return xml(404, 'NoSuchKey', 'The specified key does not exist.', { Key: url.pathname.slice(1) });
    }
    const expiresRaw = url.searchParams.get('X-Sim-Expires');
    const sig = url.searchParams.get('X-Sim-Signature');
    if (expiresRaw === null || sig === null || !/^\d+$/.test(expiresRaw)) {
      return xml(403, 'AccessDenied', 'Query-string authentication requires the Signature and Expires parameters');
    }
    const expiresAt = Number(expiresRaw);
    if (sig !== this.blobSignature(url.pathname, expiresAt)) {
      return xml(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    }
    const now = Date.now();
    if (now >= expiresAt) {
      return xml(403, 'AccessDenied', 'Request has expired', {
        Expires: new Date(expiresAt).toISOString(),
        ServerTime: new Date(now).toISOString(),
      });
    }
    const bytes = await this.catalog.bytes(desc);
    const headers: Headers = {
      'Content-Type': 'application/gzip',
      ETag: `"${createHmac('md5', this.signKey).update(url.pathname).digest('hex')}"`,
    };
    if (this.roll(this.faults.truncatedGzip) && bytes.length > 1) {
      this.counts.faults.truncatedGzip++;
      const cut = Math.min(bytes.length - 1, Math.max(1, Math.floor(bytes.length * (0.2 + 0.6 * this.faultRng.next()))));
      return new HttpReply(200, bytes.subarray(0, cut), headers);
    }
    return new HttpReply(200, bytes, headers);
  }
}

/** The credentials and account code a seed yields when none are given (what the CLI prints). */
export function defaultCredentials(seed: number | string = 1): { clientId: string; clientSecret: string; accountCode: string } {
  const o = resolveOptions({ seed });
  return { clientId: o.clientId, clientSecret: o.clientSecret, accountCode: o.accountCode };
}
