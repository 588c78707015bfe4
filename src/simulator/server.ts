// The simulator core: options, HTTP(S) server, the route table, and the auth/quota/fault helpers every API area shares.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CI_TYPES, SIEM_TYPES } from '../core/contracts.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import { Catalog, type PublishFaults } from './catalog.js';
import { CiRecordFactory } from './ci-records.js';
import { HttpReply, XML_TYPE, failReply, parseOffset, siemError, v1Fail, type Headers } from './http.js';
import { LOG_STREAMS, LogStore, type LogStreamName } from './logstore.js';
import { logRecord } from './logrecords.js';
import { pagedRoutes } from './paged.js';
import { Rng, mix, seedHash } from './prng.js';
import { streamEndpoint } from './stream.js';
import { threatIntelEndpoint } from './threatintel.js';
import { TokenSigner } from './tokens.js';
import { discoverAuthentication, verifyV1 } from './v1auth.js';
import { SiemV1Files, getSiemLogsEndpoint, siemV1ManifestLine } from './v1siem.js';
import { batchEndpoint, blobEndpoint, ciBatchEndpoint, s3Error, tokenEndpoint } from './v2siem.js';
import type {
  FaultCounterName,
  RequestCounterName,
  RunningSimulator,
  SimulatorFaults,
  SimulatorOptions,
  SimulatorStats,
} from './types.js';

/** Cloud Integrated records per Cloud Gateway SIEM record published (when the account has the product). */
const CI_SHARE = 0.2;

/** How many records of each 1.0-style stream come with one v2 SIEM record, unless `streamShare` says otherwise. */
const DEFAULT_SHARE: Readonly<Record<LogStreamName, number>> = {
  siem_v1: 1,
  ttp_url: 0.2,
  ttp_attachment: 0.1,
  ttp_impersonation: 0.05,
  audit: 0.05,
  dlp: 0.05,
  held_release: 0.05,
  archive_search: 0.05,
  threat_intel: 0.1,
};

export interface ResolvedOptions {
  port: number;
  host: string;
  seedH: number;
  clientId: string;
  clientSecret: string;
  accountCode: string;
  appId: string;
  appKey: string;
  accessKey: string;
  secretKey: string;
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
  manifestDir: string | undefined;
  manifestSiemV1As: 'json' | 'key_value';
  cacheDir: string | undefined;
  faults: SimulatorFaults;
  logger: Logger;
  startTime: number;
  accountOffsetMin: number;
  streamRecords: Record<LogStreamName, number>;
  streamShare: Record<LogStreamName, number>;
  lateArrivalMs: number;
  lateArrivalShare: number;
  emptyLastPage: boolean;
  unlicensed: ReadonlySet<string>;
  cloudIntegrated: boolean;
  wrongRegion: string | undefined;
  tls: { cert: string; key: string } | undefined;
  publicHost: string | undefined;
  siemV1RecordsPerFile: number;
  siemV1FileMs: number;
  maxApiPageSize: number;
  threatIntelObjectsPerFile: number;
}

function resolveOptions(o: SimulatorOptions): ResolvedOptions {
  const seedH = seedHash(o.seed ?? 1);
  const r = new Rng(mix(seedH, 0xc1d));
  const letters = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
  const derivedAccount = `CU${r.pick([...letters])}${r.range(10, 99)}${r.pick([...letters])}${r.range(100, 999)}`;
  const derivedId = `sim-${r.hex(24)}`;
  const derivedSecret = r.token(40);
  // Drawn after the 2.0 values so existing seeds keep their client id/secret.
  const v1 = new Rng(mix(seedH, 0x7161));
  const hex = v1.hex(32);
  const derivedAppId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const hex2 = v1.hex(32);
  const derivedAppKey = `${hex2.slice(0, 8)}-${hex2.slice(8, 12)}-${hex2.slice(12, 16)}-${hex2.slice(16, 20)}-${hex2.slice(20)}`;
  const derivedAccessKey = `mYtOL3XZCOwG96BOiFTZRm${v1.token(60)}`;
  const secretBytes = Buffer.alloc(64);
  for (let i = 0; i < secretBytes.length; i++) secretBytes[i] = v1.int(256);
  const positive = (v: number | undefined, d: number): number => (v !== undefined && Number.isFinite(v) && v >= 0 ? v : d);
  const backlogRecords = Math.floor(positive(o.backlogRecords, 2000));
  const streamRecords = {} as Record<LogStreamName, number>;
  const streamShare = {} as Record<LogStreamName, number>;
  for (const s of LOG_STREAMS) {
    streamShare[s] = positive(o.streamShare?.[s], DEFAULT_SHARE[s]);
    streamRecords[s] = Math.floor(positive(o.streamRecords?.[s], Math.round(backlogRecords * streamShare[s])));
  }
  const offset = parseOffset(o.accountUtcOffset ?? '+0100');
  if (offset === undefined) throw new RangeError(`accountUtcOffset must look like +0100 or -04:00, got ${o.accountUtcOffset ?? ''}`);
  return {
    port: o.port ?? 0,
    host: o.host ?? '127.0.0.1',
    seedH,
    clientId: o.clientId ?? derivedId,
    clientSecret: o.clientSecret ?? derivedSecret,
    accountCode: o.accountCode ?? derivedAccount,
    appId: o.appId ?? derivedAppId,
    appKey: o.appKey ?? derivedAppKey,
    accessKey: o.accessKey ?? derivedAccessKey,
    secretKey: o.secretKey ?? secretBytes.toString('base64'),
    tokenTtlSeconds: positive(o.tokenTtlSeconds, 1799),
    backlogRecords,
    backlogHours: positive(o.backlogHours, 24),
    publishIntervalMs: positive(o.publishIntervalMs, 5000),
    recordsPerInterval: Math.floor(positive(o.recordsPerInterval, 200)),
    recordsPerBlob: Math.max(1, Math.floor(positive(o.recordsPerBlob, 500))),
    maxPageSize: Math.max(1, Math.floor(positive(o.maxPageSize, 100))),
    blobTtlMs: positive(o.blobTtlMs, 15 * 60_000),
    rateLimit: o.rateLimit,
    manifestPath: o.manifestPath ?? (o.manifestDir === undefined ? undefined : join(o.manifestDir, 'siem.ndjson')),
    manifestDir: o.manifestDir,
    manifestSiemV1As: o.manifestSiemV1As ?? 'json',
    cacheDir: o.cacheDir,
    faults: { ...(o.faults ?? {}) },
    logger: o.logger ?? silentLogger(),
    startTime: o.startTime ?? Date.now(),
    accountOffsetMin: offset,
    streamRecords,
    streamShare,
    lateArrivalMs: positive(o.lateArrivalMs, 0),
    lateArrivalShare: Math.min(1, positive(o.lateArrivalShare, 0.25)),
    emptyLastPage: o.emptyLastPage ?? false,
    // Without the Cloud Integrated product its endpoint answers like any unlicensed one.
    unlicensed: new Set([...(o.unlicensed ?? []), ...(o.cloudIntegrated === true ? [] : ['cloud_integrated'])]),
    cloudIntegrated: o.cloudIntegrated === true,
    wrongRegion: o.wrongRegion === true ? 'https://de-api.mimecast.com' : o.wrongRegion === false ? undefined : o.wrongRegion,
    tls: o.tls,
    publicHost: o.publicHost,
    siemV1RecordsPerFile: Math.max(1, Math.floor(positive(o.siemV1RecordsPerFile, 200))),
    siemV1FileMs: Math.max(1000, positive(o.siemV1FileMs, 30 * 60_000)),
    maxApiPageSize: Math.max(1, Math.floor(positive(o.maxApiPageSize, 500))),
    threatIntelObjectsPerFile: Math.max(1, Math.floor(positive(o.threatIntelObjectsPerFile, 50))),
  };
}

type Handler = (sim: Simulator, req: IncomingMessage, url: URL) => Promise<HttpReply>;

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  counter: RequestCounterName;
  /** Error shape for a wrong method: 1.0 functions answer with the 1.0 envelope. */
  v1?: boolean;
  handler: Handler;
}

const ROUTES: readonly Route[] = [
  { method: 'POST', path: '/oauth/token', counter: 'token', handler: (sim, req) => tokenEndpoint(sim, req) },
  { method: 'GET', path: '/siem/v1/batch/events/cg', counter: 'batch', handler: batchEndpoint },
  { method: 'GET', path: '/siem/v1/batch/events/ci', counter: 'batchCi', handler: ciBatchEndpoint },
  { method: 'GET', path: '/siem/v1/events/cg', counter: 'stream', handler: streamEndpoint },
  { method: 'POST', path: '/api/login/discover-authentication', counter: 'discover', v1: true, handler: (sim, req) => discoverAuthentication(req, sim.regionUrl(req)) },
  { method: 'POST', path: '/api/audit/get-siem-logs', counter: 'siemLogs', v1: true, handler: getSiemLogsEndpoint },
  { method: 'POST', path: '/api/ttp/threat-intel/get-feed', counter: 'threatIntel', v1: true, handler: threatIntelEndpoint },
  ...pagedRoutes(),
];

export type AuthResult = { ok: true; owner: string; headers: Headers } | { ok: false; reply: HttpReply };

export class Simulator implements RunningSimulator {
  url = '';
  readonly clientId: string;
  readonly clientSecret: string;
  readonly accountCode: string;
  readonly appId: string;
  readonly appKey: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly opts: ResolvedOptions;
  readonly catalog: Catalog;
  /** Cloud Integrated files; only when the account has that product (option `cloudIntegrated`). */
  readonly ciCatalog: Catalog | undefined;
  readonly stores: Record<LogStreamName, LogStore>;
  readonly siemV1: SiemV1Files;
  readonly signKey: Buffer;
  readonly signer: TokenSigner;
  readonly faultRng: Rng;
  private readonly server: Server;
  private readonly log: Logger;
  private faults: SimulatorFaults;
  private readonly tokens = new Map<string, { owner: string; expiresAt: number }>();
  private readonly buckets = new Map<string, { windowStart: number; count: number }>();
  private readonly waits = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private readonly carry = new Map<LogStreamName | 'cloud_integrated', number>();
  private publishChain: Promise<void> = Promise.resolve();
  private publishTimer: NodeJS.Timeout | undefined;
  private lastPublishEnd: number;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly counts = {
    requests: { token: 0, batch: 0, batchCi: 0, blob: 0, other: 0, stream: 0, discover: 0, siemLogs: 0, threatIntel: 0, api: 0 } as Record<RequestCounterName, number>,
    responses: {} as Record<string, number>,
    faults: {} as Partial<Record<FaultCounterName, number>>,
    rateLimited: 0,
    tokensIssued: 0,
  };

  constructor(options: SimulatorOptions) {
    this.opts = resolveOptions(options);
    const o = this.opts;
    this.clientId = o.clientId;
    this.clientSecret = o.clientSecret;
    this.accountCode = o.accountCode;
    this.appId = o.appId;
    this.appKey = o.appKey;
    this.accessKey = o.accessKey;
    this.secretKey = o.secretKey;
    this.log = o.logger;
    this.faults = o.faults;
    this.faultRng = new Rng(mix(o.seedH, 0xfa0175));
    this.signKey = createHmac('sha256', 'mimecast-simulator').update(String(o.seedH)).digest();
    this.signer = new TokenSigner(this.signKey);
    this.lastPublishEnd = o.startTime;
    this.catalog = new Catalog({
      seedH: o.seedH,
      accountCode: o.accountCode,
      recordsPerBlob: o.recordsPerBlob,
      manifestPath: o.manifestPath,
      cacheDir: o.cacheDir,
    });
    this.ciCatalog = o.cloudIntegrated
      ? new Catalog({
          // Its own seed for offsets, record times and blob faults, so ci files do not mirror the cg ones.
          seedH: mix(o.seedH, 0xc1c1),
          accountCode: o.accountCode,
          recordsPerBlob: o.recordsPerBlob,
          // The same manifest as the Cloud Gateway records: both are the siem stream.
          manifestPath: o.manifestPath,
          cacheDir: o.cacheDir,
          model: new CiRecordFactory(o.seedH, o.accountCode),
        })
      : undefined;
    const stores = {} as Record<LogStreamName, LogStore>;
    for (const name of LOG_STREAMS) {
      stores[name] = new LogStore({
        seedH: o.seedH,
        name,
        manifestPath: o.manifestDir === undefined ? undefined : join(o.manifestDir, `${name}.ndjson`),
        // Late arrival concerns the paged functions that collectors read by time window.
        lateArrivalMs: name === 'siem_v1' || name === 'threat_intel' ? 0 : o.lateArrivalMs,
        lateShare: o.lateArrivalShare,
      });
    }
    this.stores = stores;
    this.siemV1 = new SiemV1Files(stores.siem_v1, o.siemV1RecordsPerFile, o.siemV1FileMs);
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => this.onRequest(req, res);
    this.server = o.tls === undefined ? createServer({ keepAlive: true }, onRequest) : createHttpsServer({ keepAlive: true, cert: o.tls.cert, key: o.tls.key }, onRequest);
  }

  async start(): Promise<void> {
    const { backlogRecords, backlogHours, startTime } = this.opts;
    const t0 = startTime - backlogHours * 3_600_000;
    if (backlogRecords > 0) await this.catalog.publish(backlogRecords, t0, startTime, this.publishFaults());
    // One Cloud Integrated record per five SIEM records, over the same window.
    await this.ciCatalog?.publish(Math.round(backlogRecords * CI_SHARE), t0, startTime, this.publishFaults());
    for (const name of LOG_STREAMS) await this.publishInto(name, this.opts.streamRecords[name], t0, startTime);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address() as AddressInfo;
    const host = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
    const scheme = this.opts.tls === undefined ? 'http' : 'https';
    this.url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
    if (this.opts.publishIntervalMs > 0 && this.opts.recordsPerInterval > 0) {
      this.publishTimer = setInterval(() => {
        void this.publish(this.opts.recordsPerInterval).catch((err: unknown) => {
          this.log.error({ err }, 'simulator publish failed');
        });
      }, this.opts.publishIntervalMs);
      this.publishTimer.unref();
    }
    this.log.info(
      { url: this.url, accountCode: this.accountCode, clientId: this.clientId, appId: this.appId, backlogRecords },
      'mimecast simulator listening',
    );
  }

  setFaults(f: SimulatorFaults): void {
    this.faults = { ...f };
  }

  currentFaults(): SimulatorFaults {
    return this.faults;
  }

  private async publishInto(name: LogStreamName, n: number, t0: number, t1: number): Promise<void> {
    if (n <= 0) return;
    const store = this.stores[name];
    const render =
      name === 'siem_v1'
        ? (i: number, t: number): string => siemV1ManifestLine(this, i, t)
        : (i: number, t: number): string => JSON.stringify(logRecord(name, store.seedOf(i), t));
    const first = await store.publish(n, t0, t1, render);
    if (name === 'siem_v1') this.siemV1.addRange(first, store.count);
  }

  /** Records of `key` to go with `records` new SIEM records at `share` per record; the fraction is carried over. */
  private shareOf(key: LogStreamName | 'cloud_integrated', records: number, share: number): number {
    const want = (this.carry.get(key) ?? 0) + records * share;
    // The epsilon keeps float error (7 × 0.2 five times is 1.9999999999999996) from holding a record back.
    const n = Math.floor(want + 1e-9);
    this.carry.set(key, Math.max(0, want - n));
    return n;
  }

  /** The window [t0, t1] of the next publication; t0 is the end of the previous one so times never go back. */
  private window(): [number, number] {
    const now = Date.now();
    const t0 = Math.min(this.lastPublishEnd, now);
    return [t0, Math.max(now, t0)];
  }

  publish(records: number): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.closed) return;
      const [t0, t1] = this.window();
      const blobs = await this.catalog.publish(records, t0, t1, this.publishFaults());
      const ci = this.ciCatalog === undefined ? 0 : this.shareOf('cloud_integrated', records, CI_SHARE);
      if (ci > 0) await this.ciCatalog?.publish(ci, t0, t1, this.publishFaults());
      for (const name of LOG_STREAMS) await this.publishInto(name, this.shareOf(name, records, this.opts.streamShare[name]), t0, t1);
      this.lastPublishEnd = t1;
      this.log.debug({ records, blobs: blobs.length }, 'simulator published records');
    };
    return this.chain(run);
  }

  publishStream(name: LogStreamName, records: number): Promise<void> {
    return this.chain(async () => {
      if (this.closed) return;
      const [t0, t1] = this.window();
      await this.publishInto(name, records, t0, t1);
      this.lastPublishEnd = t1;
    });
  }

  private chain(run: () => Promise<void>): Promise<void> {
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

  publishedCount(name: LogStreamName): number {
    return this.stores[name].count;
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
    const ci = this.ciCatalog?.counters;
    const cloudIntegrated = {} as SimulatorStats['published']['cloudIntegrated'];
    CI_TYPES.forEach((t, i) => {
      cloudIntegrated[t] = { records: ci?.records[i] ?? 0, blobs: ci?.blobs[i] ?? 0 };
    });
    const f = this.counts.faults;
    const faults: Record<FaultCounterName, number> = {
      rateLimit429: f.rateLimit429 ?? 0,
      serverError500: f.serverError500 ?? 0,
      slowReply: f.slowReply ?? 0,
      earlyTokenExpiry: f.earlyTokenExpiry ?? 0,
      expiredBlob: f.expiredBlob ?? 0,
      truncatedGzip: f.truncatedGzip ?? 0,
      nonJsonLines: c.junkBlobs,
      replayRecords: c.replayBlobs,
      streamReplay: f.streamReplay ?? 0,
      truncatedFile: f.truncatedFile ?? 0,
      corruptZip: f.corruptZip ?? 0,
      apiFail200: f.apiFail200 ?? 0,
      oversizedLine: f.oversizedLine ?? 0,
      redirectBlob: f.redirectBlob ?? 0,
      bindingExpired: f.bindingExpired ?? 0,
      wrongRegion: f.wrongRegion ?? 0,
      unlicensed: f.unlicensed ?? 0,
    };
    const streams = {} as Record<LogStreamName, number>;
    for (const name of LOG_STREAMS) streams[name] = this.stores[name].count;
    return {
      requests: { ...this.counts.requests },
      responses: { ...this.counts.responses },
      faults,
      rateLimited: this.counts.rateLimited,
      tokensIssued: this.counts.tokensIssued,
      published: { records, blobs, byType, cloudIntegrated, streams, siemV1Files: this.siemV1.files.length },
      duplicateRecords: c.duplicateRecords,
      junkLines: c.junkLines,
    };
  }

  blobFiles(): string[] {
    const out: string[] = [];
    if (this.opts.cacheDir === undefined) return out;
    for (const catalog of [this.catalog, this.ciCatalog]) {
      if (catalog === undefined) continue;
      for (const list of catalog.blobs) for (const desc of list) out.push(catalog.renderToDisk(desc));
    }
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
      this.ciCatalog?.close();
      for (const name of LOG_STREAMS) this.stores[name].close();
      await closedServer;
      await this.publishChain;
      this.log.info('mimecast simulator closed');
    })();
    return this.closing;
  }

  // ---- helpers for the endpoint modules ----

  roll(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.faultRng.next() < p;
  }

  countFault(name: FaultCounterName): void {
    this.counts.faults[name] = (this.counts.faults[name] ?? 0) + 1;
  }

  /**
   * The regional API URL discover-authentication answers: a host name like Mimecast's (`--public-host`, else the
   * name the client used, else `localhost` for a loopback address; another bare address stays as it is).
   */
  regionUrl(req: IncomingMessage): string {
    const scheme = this.opts.tls === undefined ? 'http' : 'https';
    const port = new URL(this.url).port;
    if (this.opts.publicHost !== undefined) return `${scheme}://${this.opts.publicHost}:${port}`;
    const addressed = new URL(`${scheme}://${req.headers.host ?? this.url.replace(/^https?:\/\//, '')}`).hostname;
    const bare = addressed.replace(/^\[|\]$/g, '');
    if (isIP(bare) === 0) return `${scheme}://${addressed}:${port}`;
    if (bare === '::1' || bare.startsWith('127.')) return `${scheme}://localhost:${port}`;
    return `${scheme}://${addressed}:${port}`;
  }

  /** `http://host:port` as the client addressed us (keeps the client's host spelling in URLs we hand out). */
  baseUrl(req: IncomingMessage): string {
    const scheme = this.opts.tls === undefined ? 'http' : 'https';
    return `${scheme}://${req.headers.host ?? this.url.replace(/^https?:\/\//, '')}`;
  }

  issueToken(owner: string, expiresAt: number): string {
    const accessToken = randomBytes(24).toString('base64url');
    const now = Date.now();
    if (this.tokens.size >= 10_000) {
      for (const [k, v] of this.tokens) if (v.expiresAt < now - 3_600_000) this.tokens.delete(k);
    }
    this.tokens.set(accessToken, { owner, expiresAt });
    this.counts.tokensIssued++;
    return accessToken;
  }

  private checkBearer(token: string): { owner: string } | HttpReply {
    const tok = this.tokens.get(token);
    if (tok === undefined) return failReply(401, 'unauthorized', 'unknown or invalid access token');
    if (Date.now() >= tok.expiresAt) return failReply(401, 'token_expired', 'the access token has expired');
    return { owner: tok.owner };
  }

  /** Auth for the /siem/v1 endpoints: a 2.0 bearer token only; then licence, quota and the injected 429/500. */
  bearerAuth(req: IncomingMessage, stream: string): AuthResult {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined) return { ok: false, reply: failReply(401, 'unauthorized', 'missing Authorization: Bearer token') };
    const who = this.checkBearer(bearer);
    if (who instanceof HttpReply) return { ok: false, reply: who };
    const gate = this.gate(who.owner);
    if (gate.reply !== undefined) return { ok: false, reply: gate.reply };
    if (this.opts.unlicensed.has(stream)) {
      this.countFault('unlicensed');
      return { ok: false, reply: siemError(403, 'not_licensed', `the account is not licensed for ${stream}`) };
    }
    return { ok: true, owner: who.owner, headers: gate.headers };
  }

  /** Auth for /api/* functions: a 2.0 bearer token or a 1.0 HMAC signature over the request path. */
  apiAuth(req: IncomingMessage, path: string, streams: readonly string[]): AuthResult {
    const auth = (req.headers.authorization ?? '').trim();
    let owner: string;
    if (/^Bearer\s/i.test(auth)) {
      const who = this.checkBearer(auth.slice(7).trim());
      if (who instanceof HttpReply) return { ok: false, reply: who };
      owner = who.owner;
    } else if (auth.startsWith('MC ')) {
      const expired = this.roll(this.faults.bindingExpired);
      const v = verifyV1(req, path, this, { bindingExpired: expired });
      if (!v.ok) {
        if (expired && v.reply.status === 418) this.countFault('bindingExpired');
        return v;
      }
      if (this.opts.wrongRegion !== undefined) {
        this.countFault('wrongRegion');
        return {
          ok: false,
          reply: v1Fail(401, 'err_audit_log_incorrect_region', `This account is hosted in another region; use ${this.opts.wrongRegion}`),
        };
      }
      owner = v.owner;
    } else {
      return { ok: false, reply: v1Fail(401, 'err_xdk_authorization_missing', 'The Authorization header is missing or not supported') };
    }
    const gate = this.gate(owner);
    if (gate.reply !== undefined) return { ok: false, reply: gate.reply };
    const denied = streams.find((s) => this.opts.unlicensed.has(s));
    if (denied !== undefined) {
      this.countFault('unlicensed');
      return { ok: false, reply: v1Fail(403, 'err_ttp_not_licensed', `The account is not licensed for this product (${denied})`, { headers: gate.headers }) };
    }
    return { ok: true, owner, headers: gate.headers };
  }

  /** Shared gate for API calls: the real quota first, then the injected 429 and 500. */
  gate(owner: string): { reply?: HttpReply; headers: Headers } {
    const headers: Headers = {};
    const rl = this.opts.rateLimit;
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
      this.countFault('rateLimit429');
      return { reply: this.tooMany(rl?.limit ?? 100, 200 + this.faultRng.int(1301)), headers };
    }
    if (this.roll(this.faults.serverError500)) {
      this.countFault('serverError500');
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
    const route = ROUTES.find((r) => r.path === path);
    if (route !== undefined) {
      this.counts.requests[route.counter]++;
      if (req.method !== route.method) {
        return route.v1 === true
          ? v1Fail(405, 'err_method_not_allowed', `use ${route.method}`, { httpStatus: 405 })
          : failReply(405, 'method_not_allowed', `use ${route.method}`);
      }
      await this.maybeSlow();
      return route.handler(this, req, url);
    }
    if (path.startsWith('/blobs/')) {
      this.counts.requests.blob++;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return new HttpReply(405, s3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.'), { 'Content-Type': XML_TYPE });
      }
      return blobEndpoint(this, url);
    }
    this.counts.requests.other++;
    return failReply(404, 'not_found', `no such endpoint: ${req.method ?? 'GET'} ${path}`);
  }

  private async maybeSlow(): Promise<void> {
    const max = this.faults.slowReplyMs ?? 0;
    if (max <= 0 || !this.roll(this.faults.slowReplyRate ?? 1)) return;
    this.countFault('slowReply');
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
}

/** The credentials and account code a seed yields when none are given (what the CLI prints). */
export function defaultCredentials(seed: number | string = 1): {
  clientId: string;
  clientSecret: string;
  accountCode: string;
  appId: string;
  appKey: string;
  accessKey: string;
  secretKey: string;
} {
  const o = resolveOptions({ seed });
  return { clientId: o.clientId, clientSecret: o.clientSecret, accountCode: o.accountCode, appId: o.appId, appKey: o.appKey, accessKey: o.accessKey, secretKey: o.secretKey };
}
