// A scriptable fake Mimecast API 2.0 (OAuth + SIEM batch listing + blob storage) that misbehaves on cue, for the hostile-input suite.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

/** What one request to a blob gets. A blob's script is used in order; its last step repeats. */
export type BlobStep =
  | { kind: 'file' }
  /** Headers, then `bytes` of the file one byte every `everyMs`, then nothing more until the client gives up. */
  | { kind: 'drip'; everyMs: number }
  /** The first `bytes` bytes of the gzip, then the connection is closed. */
  | { kind: 'cut'; bytes: number }
  /** A redirect to `to` (a path on this server, or a full URL). */
  | { kind: 'redirect'; status?: number; to: string }
  | { kind: 'status'; status: number; headers?: Record<string, string> };

export interface HostileBlob {
  name: string;
  /** The gzip bytes served for `file` (and the source of `cut` and `drip`). */
  gz: Buffer;
  script: BlobStep[];
}

/** What one listing request gets; used in order, the last repeats. Absent: the normal listing. */
export type ListingStep = { kind: 'list' } | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string };

export interface HostileOptions {
  clientId?: string;
  clientSecret?: string;
  /** Blobs of the `receipt` type, listed on one page in this order. Other types list nothing. */
  blobs: HostileBlob[];
  listing?: ListingStep[];
}

export interface HostileServer {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Requests seen, in order: `GET /blob/a`, `GET /siem/v1/batch/events/cg`, `POST /oauth/token`... with times. */
  readonly requests: { at: number; what: string }[];
  /** Requests made to one blob so far. */
  blobRequests(name: string): number;
  close(): Promise<void>;
}

let offsetSeq = 0;

/** A valid SIEM 2.0 receipt record, unique per call (partition/offset), its time `at`. */
export function receiptRecord(at: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  offsetSeq += 1;
  return {
    _offset: offsetSeq,
    _partition: 7,
    accountId: 'CUS12A345',
    aggregateId: `agg-${offsetSeq}`,
    processingId: `proc-${offsetSeq}`,
    timestamp: at,
    type: 'receipt',
    action: 'Acc',
    senderEnvelope: `sender${offsetSeq}@example.org`,
    recipients: 'user@example.com',
    subject: `hostile test ${offsetSeq}`,
    senderIp: '192.0.2.10',
    direction: 'Inbound',
    ...extra,
  };
}

/** NDJSON of records, gzipped (optionally with raw lines spliced in at positions). */
export function gzipLines(lines: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of lines) {
    parts.push(typeof l === 'string' ? Buffer.from(l, 'utf8') : l);
    parts.push(Buffer.from('\n'));
  }
  return gzipSync(Buffer.concat(parts));
}

export function recordLines(n: number, at: number): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify(receiptRecord(at + i)));
}

export async function startHostileServer(opts: HostileOptions): Promise<HostileServer> {
  const clientId = opts.clientId ?? 'hostile-client';
  const clientSecret = opts.clientSecret ?? 'hostile-secret-value-0123456789';
  const requests: { at: number; what: string }[] = [];
  const blobCount = new Map<string, number>();
  let listings = 0;
  const open = new Set<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  let base = '';

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  const serveBlob = (blob: HostileBlob, res: ServerResponse): void => {
    const n = blobCount.get(blob.name) ?? 0;
    blobCount.set(blob.name, n + 1);
    const step = blob.script[Math.min(n, blob.script.length - 1)] ?? { kind: 'file' };
    switch (step.kind) {
      case 'file':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.gz.length });
        res.end(blob.gz);
        return;
      case 'cut':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.gz.length });
        res.write(blob.gz.subarray(0, Math.min(step.bytes, blob.gz.length - 1)), () => res.socket?.destroy());
        return;
      case 'drip': {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.gz.length });
        let pos = 0;
        const t = setInterval(() => {
          if (pos >= blob.gz.length - 1 || res.destroyed) {
            clearInterval(t);
            timers.delete(t);
            return;
          }
          res.write(blob.gz.subarray(pos, pos + 1));
          pos += 1;
        }, step.everyMs);
        timers.add(t);
        res.on('close', () => {
          clearInterval(t);
          timers.delete(t);
        });
        return;
      }
      case 'redirect': {
        const to = step.to.startsWith('http') ? step.to : `${base}${step.to}`;
        res.writeHead(step.status ?? 302, { location: to, 'content-length': 0 });
        res.end();
        return;
      }
      case 'status':
        res.writeHead(step.status, { 'content-type': 'text/plain', ...(step.headers ?? {}) });
        res.end(`status ${step.status}`);
        return;
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ at: Date.now(), what: `${req.method ?? 'GET'} ${url.pathname}` });
    if (req.method === 'POST' && url.pathname === '/oauth/token') {
      json(res, 200, { access_token: 'hostile-token', token_type: 'Bearer', expires_in: 1799, scope: '' });
      return;
    }
    if (req.method === 'GET' && (url.pathname === '/siem/v1/batch/events/cg' || url.pathname === '/siem/v1/batch/events/ci')) {
      if (req.headers.authorization !== 'Bearer hostile-token') {
        json(res, 401, { fail: [{ code: 'token_invalid', message: 'bad token' }] });
        return;
      }
      const type = url.searchParams.get('type');
      if (type !== 'receipt') {
        json(res, 200, { value: [], '@nextPage': 'none', isCaughtUp: true });
        return;
      }
      const script = opts.listing ?? [{ kind: 'list' }];
      const step = script[Math.min(listings, script.length - 1)] ?? { kind: 'list' };
      listings += 1;
      if (step.kind === 'status') {
        res.writeHead(step.status, { 'content-type': 'application/json', ...(step.headers ?? {}) });
        res.end(step.body ?? JSON.stringify({ fail: [{ code: 'hostile', message: `status ${step.status}` }] }));
        return;
      }
      // One page with every blob, then an empty caught-up page.
      const first = url.searchParams.get('nextPage') === null;
      json(res, 200, { value: first ? opts.blobs.map((b) => ({ url: `${base}/blob/${b.name}?sig=presigned` })) : [], '@nextPage': 'after-all', isCaughtUp: !first });
      return;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/blob/')) {
      const blob = opts.blobs.find((b) => `/blob/${b.name}` === url.pathname);
      if (blob !== undefined) {
        serveBlob(blob, res);
        return;
      }
    }
    json(res, 404, { fail: [{ code: 'not_found', message: `no ${url.pathname}` }] });
  };

  const server: Server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    // Drain any request body before answering (the token request has one).
    req.on('data', () => undefined);
    req.on('end', () => handle(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;
  return {
    url: base,
    clientId,
    clientSecret,
    requests,
    blobRequests: (name) => blobCount.get(name) ?? 0,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const t of timers) clearInterval(t);
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** The collector's config (YAML) against a hostile server: receipt only, one file sink, status endpoints on a free port. */
export function hostileYaml(server: HostileServer, o: { dataDir: string; output: string; siemExtra?: readonly string[]; accountExtra?: readonly string[] }): string {
  return [
    `data_dir: ${JSON.stringify(o.dataDir)}`,
    'log_level: info',
    'shutdown_timeout: 5s',
    'http:',
    '  listen: 127.0.0.1:0',
    'accounts:',
    '  - name: hostile',
    `    base_url: ${server.url}`,
    `    client_id: ${JSON.stringify(server.clientId)}`,
    `    client_secret: ${JSON.stringify(server.clientSecret)}`,
    '    start_from: 1d',
    '    poll_interval: 1s',
    '    request_timeout: 20s',
    ...(o.accountExtra ?? []).map((l) => `    ${l}`),
    '    streams:',
    '      siem:',
    '        types: [receipt]',
    '        chunk_events: 100',
    ...(o.siemExtra ?? []).map((l) => `        ${l}`),
    'sinks:',
    '  - name: file',
    '    type: file',
    `    path: ${JSON.stringify(o.output)}`,
    '    batch:',
    '      max_events: 100',
    '      max_wait: 100ms',
    '',
  ].join('\n');
}

/** The peak resident memory of a live process, in bytes (Linux `VmHWM`); undefined when it cannot be read. */
export async function peakRss(pid: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(text);
    return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}
