// The simulator's HTTP(S) server: builds the core (options, account, auth, quota, faults), registers the endpoint modules and dispatches.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type AddressInfo } from 'node:net';
import { CI_TYPES, SIEM_TYPES } from '../core/contracts.js';
import type { Logger } from '../telemetry/logger.js';
import { registerAdmin } from './admin/index.js';
import { Account } from './core/account.js';
import { Auth } from './core/auth.js';
import type { SimContext } from './core/context.js';
import { Faults } from './core/faults.js';
import { resolveOptions, type ResolvedOptions } from './core/options.js';
import { Quota } from './core/quota.js';
import { RouteTable } from './core/routes.js';
import { registerDiscover } from './discover.js';
import { HttpReply, failReply, v1Fail } from './http.js';
import { LOG_STREAMS, type LogStreamName } from './logstore.js';
import { registerPaged } from './paged.js';
import { registerStream } from './stream.js';
import { registerThreatIntel } from './threatintel.js';
import { TokenSigner } from './tokens.js';
import { registerV1Siem } from './v1siem.js';
import { registerV2Siem } from './v2siem.js';
import type { FaultCounterName, RequestCounterName, RunningSimulator, SimulatorFaults, SimulatorOptions, SimulatorStats } from './types.js';

export { defaultCredentials } from './core/options.js';

/** Every endpoint module, each registering its routes into the table. */
const ENDPOINTS: readonly ((routes: RouteTable) => void)[] = [registerV2Siem, registerStream, registerDiscover, registerV1Siem, registerThreatIntel, registerPaged, registerAdmin];

export class Simulator implements RunningSimulator, SimContext {
  url = '';
  readonly clientId: string;
  readonly clientSecret: string;
  readonly accountCode: string;
  readonly appId: string;
  readonly appKey: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly opts: ResolvedOptions;
  readonly account: Account;
  readonly auth: Auth;
  readonly quota: Quota;
  readonly faults: Faults;
  readonly signKey: Buffer;
  readonly signer: TokenSigner;
  private readonly routes = new RouteTable();
  private readonly server: Server;
  private readonly log: Logger;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly counts = {
    requests: { token: 0, batch: 0, batchCi: 0, blob: 0, other: 0, stream: 0, discover: 0, siemLogs: 0, threatIntel: 0, api: 0 } as Record<RequestCounterName, number>,
    responses: {} as Record<string, number>,
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
    this.faults = new Faults(o.seedH, o.faults);
    this.quota = new Quota(o, this.faults);
    this.auth = new Auth(o, this.quota, this.faults);
    this.signKey = createHmac('sha256', 'mimecast-simulator').update(String(o.seedH)).digest();
    this.signer = new TokenSigner(this.signKey);
    this.account = new Account(o, this.faults);
    for (const register of ENDPOINTS) register(this.routes);
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => this.onRequest(req, res);
    this.server = o.tls === undefined ? createServer({ keepAlive: true }, onRequest) : createHttpsServer({ keepAlive: true, cert: o.tls.cert, key: o.tls.key }, onRequest);
  }

  async start(): Promise<void> {
    await this.account.publishBacklog();
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
    this.account.startPublishing();
    this.log.info(
      { url: this.url, accountCode: this.accountCode, clientId: this.clientId, appId: this.appId, backlogRecords: this.opts.backlogRecords },
      'mimecast simulator listening',
    );
  }

  setFaults(f: SimulatorFaults): void {
    this.faults.set(f);
  }

  publish(records: number): Promise<void> {
    return this.account.publish(records);
  }

  publishStream(name: LogStreamName, records: number): Promise<void> {
    return this.account.publishStream(name, records);
  }

  stopPublishing(): void {
    this.account.stopPublishing();
  }

  publishedRecords(): number {
    return this.account.catalog.published;
  }

  publishedCount(name: LogStreamName): number {
    return this.account.stores[name].count;
  }

  stats(): SimulatorStats {
    const c = this.account.catalog.counters;
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
    const ci = this.account.ciCatalog?.counters;
    const cloudIntegrated = {} as SimulatorStats['published']['cloudIntegrated'];
    CI_TYPES.forEach((t, i) => {
      cloudIntegrated[t] = { records: ci?.records[i] ?? 0, blobs: ci?.blobs[i] ?? 0 };
    });
    const f = (name: FaultCounterName): number => this.faults.counted(name);
    const faults: Record<FaultCounterName, number> = {
      rateLimit429: f('rateLimit429'),
      serverError500: f('serverError500'),
      slowReply: f('slowReply'),
      earlyTokenExpiry: f('earlyTokenExpiry'),
      expiredBlob: f('expiredBlob'),
      truncatedGzip: f('truncatedGzip'),
      nonJsonLines: c.junkBlobs,
      replayRecords: c.replayBlobs,
      streamReplay: f('streamReplay'),
      truncatedFile: f('truncatedFile'),
      corruptZip: f('corruptZip'),
      apiFail200: f('apiFail200'),
      oversizedLine: f('oversizedLine'),
      redirectBlob: f('redirectBlob'),
      bindingExpired: f('bindingExpired'),
      wrongRegion: f('wrongRegion'),
      unlicensed: f('unlicensed'),
    };
    const streams = {} as Record<LogStreamName, number>;
    for (const name of LOG_STREAMS) streams[name] = this.account.stores[name].count;
    return {
      requests: { ...this.counts.requests },
      responses: { ...this.counts.responses },
      faults,
      rateLimited: this.quota.rateLimited,
      tokensIssued: this.auth.tokensIssued,
      published: { records, blobs, byType, cloudIntegrated, streams, siemV1Files: this.account.siemV1.files.length },
      duplicateRecords: c.duplicateRecords,
      junkLines: c.junkLines,
    };
  }

  blobFiles(): string[] {
    const out: string[] = [];
    if (this.opts.cacheDir === undefined) return out;
    for (const catalog of [this.account.catalog, this.account.ciCatalog]) {
      if (catalog === undefined) continue;
      for (const list of catalog.blobs) for (const desc of list) out.push(catalog.renderToDisk(desc));
    }
    return out;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.account.stopPublishing();
      this.faults.release();
      const closedServer = new Promise<void>((resolve) => {
        this.server.close(() => resolve());
      });
      this.server.closeAllConnections();
      // A large publication in progress stops at its next yield once the account is closed.
      this.account.close();
      await closedServer;
      await this.account.drained();
      this.log.info('mimecast simulator closed');
    })();
    return this.closing;
  }

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

  baseUrl(req: IncomingMessage): string {
    const scheme = this.opts.tls === undefined ? 'http' : 'https';
    return `${scheme}://${req.headers.host ?? this.url.replace(/^https?:\/\//, '')}`;
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
    const route = this.routes.find(path);
    if (route !== undefined) {
      this.counts.requests[route.counter]++;
      if (req.method !== route.method) {
        return route.v1 === true
          ? v1Fail(405, 'err_method_not_allowed', `use ${route.method}`, { httpStatus: 405 })
          : failReply(405, 'method_not_allowed', `use ${route.method}`);
      }
      await this.faults.maybeSlow();
      return route.handler(this, req, url);
    }
    const prefix = this.routes.findPrefix(path);
    if (prefix !== undefined) {
      this.counts.requests[prefix.counter]++;
      return prefix.handler(this, req, url);
    }
    this.counts.requests.other++;
    return failReply(404, 'not_found', `no such endpoint: ${req.method ?? 'GET'} ${path}`);
  }
}
