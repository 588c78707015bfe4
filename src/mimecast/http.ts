// The one undici Agent setup for every Mimecast call and blob download: keep-alive, bounded timeouts, HTTP/1.1.
import { Agent } from 'undici';

export interface HttpAgentOptions {
  /** TCP+TLS connect timeout. Default 10 s. */
  connectTimeoutMs?: number;
  /** Time from sending the request to receiving all response headers. Default 30 s. */
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks. Default 60 s. */
  bodyTimeoutMs?: number;
  /** How long an idle keep-alive socket stays open. Default 30 s. */
  keepAliveTimeoutMs?: number;
  /** Sockets per origin. Default 16. */
  connections?: number;
  /** Verify the server certificate. Default true; turn off only for lab setups. */
  rejectUnauthorized?: boolean;
  /** Extra trusted CA certificate(s), PEM. */
  ca?: string | Buffer | readonly (string | Buffer)[];
}

export const HTTP_DEFAULTS = Object.freeze({
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 60_000,
  keepAliveTimeoutMs: 30_000,
  connections: 16,
});

export function createHttpAgent(opts: HttpAgentOptions = {}): Agent {
  const connect: { timeout: number; rejectUnauthorized: boolean; ca?: string | Buffer | (string | Buffer)[] } = {
    timeout: opts.connectTimeoutMs ?? HTTP_DEFAULTS.connectTimeoutMs,
    rejectUnauthorized: opts.rejectUnauthorized ?? true,
  };
  if (opts.ca !== undefined) connect.ca = typeof opts.ca === 'string' || Buffer.isBuffer(opts.ca) ? opts.ca : [...opts.ca];
  return new Agent({
    connect,
    headersTimeout: opts.headersTimeoutMs ?? HTTP_DEFAULTS.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs ?? HTTP_DEFAULTS.bodyTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? HTTP_DEFAULTS.keepAliveTimeoutMs,
    connections: opts.connections ?? HTTP_DEFAULTS.connections,
    // The gateway and S3 both speak HTTP/1.1; h2 in undici 7 changes timeout and reset semantics we rely on.
    allowH2: false,
  });
}
