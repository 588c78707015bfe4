// The node:http plumbing the in-repo receivers share: a port that survives stop()/start(), bodies read with a cap, gzip, faults.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { gunzip } from 'node:zlib';

/** What a receiver's handler answers; `drop` destroys the connection instead of replying. */
export type Reply =
  | { kind: 'reply'; status: number; body: string; headers?: Record<string, string> }
  | { kind: 'drop' };

export function jsonReply(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return {
    kind: 'reply',
    status,
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json; charset=UTF-8', ...headers },
  };
}

/**
 * A request body: the bytes on the wire, and the decoded bytes (gunzipped when `Content-Encoding: gzip`), with
 * their text made when first asked for (the benchmark's light receivers frame the bytes and never decode them).
 */
export type Body =
  | { kind: 'ok'; wireBytes: number; bytes: Buffer; readonly text: string }
  | { kind: 'too_large'; wireBytes: number }
  | { kind: 'bad_encoding'; wireBytes: number };

/** Largest output chunk of a request body's gunzip. */
const GUNZIP_CHUNK_MAX = 1024 * 1024;

/**
 * Reads the whole body. Past `maxBytes` on the wire the rest is still drained (so the client reads our 413 instead
 * of a reset), but not kept. A gzip body whose decoded size passes `maxBytes * 20` counts as too large too: a
 * receiver must not be a gzip bomb's victim, not even a test one.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Body> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > maxBytes) return resolve({ kind: 'too_large', wireBytes: size });
      const raw = Buffer.concat(chunks);
      const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
      if (encoding === '' || encoding === 'identity') return resolve(okBody(size, raw));
      if (encoding !== 'gzip') return resolve({ kind: 'bad_encoding', wireBytes: size });
      // Output chunks sized to the body (JSON lines inflate ~8x): at zlib's default 16 KB a benchmark batch of a few MB
      // took hundreds of round trips through the event loop, a seventh of this receiver's time.
      const chunkSize = Math.min(GUNZIP_CHUNK_MAX, Math.max(16 * 1024, raw.length * 10));
      gunzip(raw, { maxOutputLength: Math.max(maxBytes * 20, 1024), chunkSize }, (err, out) => {
        if (err === null) return resolve(okBody(size, out));
        const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        resolve(tooBig ? { kind: 'too_large', wireBytes: size } : { kind: 'bad_encoding', wireBytes: size });
      });
    });
  });
}

function okBody(wireBytes: number, bytes: Buffer): Body {
  let text: string | undefined;
  return {
    kind: 'ok',
    wireBytes,
    bytes,
    get text(): string {
      text ??= bytes.toString('utf8');
      return text;
    },
  };
}

export type Handler = (req: IncomingMessage, url: URL) => Promise<Reply>;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One loopback HTTP server whose port stays the same across `stop()` and `start()`: an outage test needs the
 * receiver to go away and come back where the sink was pointed. `stop()` also cuts open keep-alive connections,
 * as a restarted process would.
 */
export class ReceiverServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;

  constructor(private readonly handler: Handler) {}

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Listens on `port` (0: one from the OS the first time, then the same one again). Idempotent. */
  async start(port = this.boundPort): Promise<void> {
    if (this.server !== undefined) return;
    const server = createServer((req, res) => void this.serve(req, res));
    server.keepAliveTimeout = 5_000;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    this.boundPort = typeof addr === 'object' && addr !== null ? addr.port : port;
    this.server = server;
  }

  /** Closes the listener and destroys every open connection (requests in flight see a reset). Idempotent. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let reply: Reply;
    try {
      reply = await this.handler(req, new URL(req.url ?? '/', 'http://127.0.0.1'));
    } catch (err) {
      reply = jsonReply(500, { error: `receiver failed: ${err instanceof Error ? err.message : String(err)}` });
    }
    if (reply.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (res.destroyed) return;
    res.writeHead(reply.status, { 'Content-Length': String(Buffer.byteLength(reply.body)), ...reply.headers });
    res.end(reply.body);
  }
}
