// The one HTTP client setup, for Mimecast calls and HTTP sinks alike: an undici dispatcher with keep-alive, silence
// timeouts, HTTP/1.1, TLS verification on by default (extra CA, client certificate) and an optional proxy.
import { Agent, EnvHttpProxyAgent, ProxyAgent, type Dispatcher } from 'undici';

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
  /** Client certificate and key (PEM) for mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the server certificate must carry, when it differs from the URL's host. */
  servername?: string;
  /**
   * `http://host:port` of a proxy for every request; `'env'` follows HTTPS_PROXY / HTTP_PROXY / NO_PROXY (as undici
   * reads them); absent: direct.
   */
  proxy?: string | 'env';
}

export const HTTP_DEFAULTS = Object.freeze({
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 60_000,
  keepAliveTimeoutMs: 30_000,
  connections: 16,
});

interface TlsOptions {
  timeout: number;
  rejectUnauthorized: boolean;
  ca?: string | Buffer | (string | Buffer)[];
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
}

function tlsOptions(opts: HttpAgentOptions): TlsOptions {
  const tls: TlsOptions = {
    timeout: opts.connectTimeoutMs ?? HTTP_DEFAULTS.connectTimeoutMs,
    rejectUnauthorized: opts.rejectUnauthorized ?? true,
  };
  if (opts.ca !== undefined) tls.ca = typeof opts.ca === 'string' || Buffer.isBuffer(opts.ca) ? opts.ca : [...opts.ca];
  if (opts.cert !== undefined) tls.cert = opts.cert;
  if (opts.key !== undefined) tls.key = opts.key;
  if (opts.servername !== undefined) tls.servername = opts.servername;
  return tls;
}

/** True when the environment names a proxy (HTTPS_PROXY / HTTP_PROXY, either case). */
export function envProxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((k) => (env[k] ?? '') !== '');
}

export function createHttpAgent(opts: HttpAgentOptions = {}): Dispatcher {
  const connect = tlsOptions(opts);
  const common = {
    headersTimeout: opts.headersTimeoutMs ?? HTTP_DEFAULTS.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs ?? HTTP_DEFAULTS.bodyTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? HTTP_DEFAULTS.keepAliveTimeoutMs,
    connections: opts.connections ?? HTTP_DEFAULTS.connections,
    // The gateway, S3 and the receivers all speak HTTP/1.1; h2 in undici 7 changes timeout and reset semantics we rely on.
    allowH2: false,
  };
  if (opts.proxy === 'env') return new EnvHttpProxyAgent({ ...common, connect, requestTls: connect });
  if (opts.proxy !== undefined) return new ProxyAgent({ ...common, uri: opts.proxy, requestTls: connect });
  return new Agent({ ...common, connect });
}
