// A small forward HTTP proxy for tests: CONNECT tunnels (https targets) and absolute-URI requests (http targets),
// an optional Basic Proxy-Authorization check answering 407, and a record of everything it forwarded.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface ForwardProxyOptions {
  /** Demand `Proxy-Authorization: Basic base64(user:password)`; anything else is answered 407. */
  auth?: { user: string; password: string };
  /**
   * Names only this proxy can resolve (name → loopback address): a target URL using one cannot be reached by a
   * client directly, so a request that arrives proves it went through the proxy.
   */
  hosts?: Record<string, string>;
}

export interface ProxiedRequest {
  /** `CONNECT` (a tunnel) or the forwarded request's method. */
  method: string;
  /** `host:port` for CONNECT, the absolute URI otherwise. */
  target: string;
  /** The Proxy-Authorization header as received (undefined: none). */
  proxyAuthorization: string | undefined;
  /** What the proxy answered itself (407, 403, 502), or 200 for a tunnel / the upstream's status. */
  status: number;
}

export interface ForwardProxy {
  /** `http://127.0.0.1:port`. */
  readonly url: string;
  /** The proxy URL with credentials in it, percent-encoded as a URL needs them. */
  urlWith(user: string, password: string): string;
  /** Every request the proxy received, in order. */
  readonly requests: ProxiedRequest[];
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export async function startForwardProxy(opts: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket | Duplex>();
  const expected = opts.auth === undefined ? undefined : `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')}`;

  /** The loopback address a target host maps to, or undefined: the proxy refuses anything but loopback. */
  const resolve = (host: string): string | undefined => {
    const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
    const mapped = opts.hosts?.[bare];
    if (mapped !== undefined) return mapped;
    return LOOPBACK.has(bare) ? bare : undefined;
  };
  const authorized = (req: IncomingMessage): boolean => expected === undefined || req.headers['proxy-authorization'] === expected;
  const record = (req: IncomingMessage, target: string, status: number): void => {
    requests.push({ method: req.method ?? '', target, proxyAuthorization: req.headers['proxy-authorization'], status });
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const raw = req.url ?? '';
    let target: URL;
    try {
      target = new URL(raw);
    } catch {
      record(req, raw, 400);
      res.writeHead(400).end('a proxy takes absolute URIs');
      return;
    }
    if (!authorized(req)) {
      record(req, raw, 407);
      res.writeHead(407, { 'Proxy-Authenticate': 'Basic realm="test"', 'Content-Length': '0' }).end();
      return;
    }
    const address = resolve(target.hostname);
    if (address === undefined || target.protocol !== 'http:') {
      record(req, raw, 403);
      res.writeHead(403, { 'Content-Length': '0' }).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = httpRequest(
      { host: address, port: Number(target.port || 80), method: req.method, path: `${target.pathname}${target.search}`, headers },
      (up) => {
        record(req, raw, up.statusCode ?? 0);
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      record(req, raw, 502);
      if (!res.headersSent) res.writeHead(502, { 'Content-Length': '0' }).end();
      else res.destroy();
    });
    req.pipe(upstream);
  });

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const target = req.url ?? '';
    client.on('error', () => undefined);
    if (!authorized(req)) {
      record(req, target, 407);
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const m = /^(.+):(\d+)$/.exec(target);
    const address = m === null ? undefined : resolve(m[1] ?? '');
    if (m === null || address === undefined) {
      record(req, target, 403);
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    let established = false;
    const upstream = connect(Number(m[2]), address, () => {
      established = true;
      record(req, target, 200);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    // An end on either side is passed on by pipe (so a TLS alert written just before it still arrives); only an
    // error cuts the other side at once.
    upstream.on('close', () => sockets.delete(upstream));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => {
      if (established) {
        client.destroy();
        return;
      }
      record(req, target, 502);
      client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    });
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    urlWith(user, password) {
      return `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
    },
    requests,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      sockets.clear();
      await closed;
    },
  };
}
