// A light syslog receiver over TCP or TLS for bench:sinks and tests: counts the frames it reads (octet-counted or
// LF-terminated, told apart per frame as rsyslog does) and keeps nothing else unless asked to.
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

/** Splits a byte stream into syslog frames: `LEN SP MSG` when a frame starts with a digit, else up to LF. */
export class FrameCounter {
  frames = 0;
  /** Bytes of the octet-counted message still to skip. */
  private skip = 0;
  /** Digits of a length read so far ('' when not inside a length). */
  private len = '';
  /** Inside an LF-framed message. */
  private inLine = false;
  /** Messages kept (when `keep`), as text. */
  readonly kept: string[] = [];
  private partial: Buffer[] = [];

  constructor(private readonly keep = false) {}

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        if (this.keep) this.partial.push(chunk.subarray(i, i + n));
        this.skip -= n;
        i += n;
        if (this.skip === 0) this.done();
        continue;
      }
      if (this.inLine) {
        const nl = chunk.indexOf(0x0a, i);
        const end = nl < 0 ? chunk.length : nl;
        if (this.keep) this.partial.push(chunk.subarray(i, end));
        i = end;
        if (nl >= 0) {
          i += 1;
          this.inLine = false;
          this.done();
        }
        continue;
      }
      const c = chunk[i] as number;
      if (c >= 0x30 && c <= 0x39) {
        this.len += String.fromCharCode(c);
      } else if (c === 0x20 && this.len !== '') {
        this.skip = Number(this.len);
        this.len = '';
        if (this.skip === 0) this.done();
      } else if (c !== 0x0a && c !== 0x0d) {
        this.inLine = true;
        if (this.keep) this.partial.push(chunk.subarray(i, i + 1));
      }
      i += 1;
    }
  }

  private done(): void {
    this.frames += 1;
    if (this.keep) this.kept.push(Buffer.concat(this.partial).toString('utf8'));
    this.partial = [];
  }
}

export interface LightSyslogReceiver {
  port: number;
  /** Frames read so far over every connection. */
  frames(): number;
  /** The messages, when started with `keep`. */
  messages(): string[];
  close(): Promise<void>;
}

export async function startLightSyslogReceiver(options: { tls?: { cert: string; key: string }; keep?: boolean } = {}): Promise<LightSyslogReceiver> {
  const counters: FrameCounter[] = [];
  const sockets = new Set<Socket>();
  const onConnection = (sock: Socket): void => {
    const counter = new FrameCounter(options.keep === true);
    counters.push(counter);
    sockets.add(sock);
    sock.on('data', (b: Buffer) => counter.push(b));
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
  };
  const server: Server = options.tls === undefined ? createTcpServer(onConnection) : createTlsServer({ cert: options.tls.cert, key: options.tls.key }, onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    frames: () => counters.reduce((n, c) => n + c.frames, 0),
    messages: () => counters.flatMap((c) => c.kept),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
