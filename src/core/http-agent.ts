// The one HTTP client setup, for Mimecast calls and HTTP sinks alike: an undici dispatcher with keep-alive, silence
// timeouts, HTTP/1.1, TLS verification on by default (extra CA, client certificate) and an optional proxy.
import type { Socket } from 'node:net';
import { Agent, buildConnector, EnvHttpProxyAgent, Pool, ProxyAgent, type Dispatcher } from 'undici';

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

/** TLS alerts a peer sent, by the local end of the socket that got them (`address:port`); the newest few only. */
const tlsAlerts = new Map<string, string>();
const MAX_TLS_ALERTS = 64;

function socketKey(address: unknown, port: unknown): string | undefined {
  return typeof address === 'string' && typeof port === 'number' ? `${address}:${port}` : undefined;
}

/**
 * Remembers the TLS alert a peer sends on a socket (`ERR_SSL_..._ALERT_...`). Undici may report such a connection as
 * just `other side closed` (the end is read before the alert is decoded), and with TLS 1.3 a receiver refusing the
 * client certificate says so only by that alert, after the handshake: tlsAlertOf finds it again by the socket.
 */
function watchAlerts(connector: buildConnector.connector): buildConnector.connector {
  return (options, callback) => {
    connector(options, (...args) => {
      // On a failed connect undici passes no socket at all (undefined, despite its types).
      const socket = args[1] as Socket | null | undefined;
      if (socket !== null && socket !== undefined) {
        const key = socketKey(socket.localAddress, socket.localPort);
        socket.on('error', (err: Error & { code?: unknown }) => {
          if (key === undefined || typeof err.code !== 'string' || !/^ERR_SSL_.*ALERT/.test(err.code)) return;
          tlsAlerts.set(key, err.code);
          for (const old of tlsAlerts.keys()) {
            if (tlsAlerts.size <= MAX_TLS_ALERTS) break;
            tlsAlerts.delete(old);
          }
        });
      }
      callback(...args);
    });
  };
}

/**
 * The TLS alert (an `ERR_SSL_..._ALERT_...` code) behind a failed request: the error's own code, or the alert the
 * peer sent on the socket undici names in the error (`other side closed` after an alert).
 */
export function tlsAlertOf(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 4 && cur instanceof Error; i++) {
    const { code, socket } = cur as { code?: unknown; socket?: { localAddress?: unknown; localPort?: unknown } };
    if (typeof code === 'string' && /^ERR_SSL_.*ALERT/.test(code)) return code;
    const key = socketKey(socket?.localAddress, socket?.localPort);
    const seen = key === undefined ? undefined : tlsAlerts.get(key);
    if (seen !== undefined) return seen;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The status a proxy answered instead of opening the way to the target (CONNECT not 200, or 407 to a forwarded
 * request), or undefined when the error is not that. Undici carries that status only in its error text, so this is
 * the one place that reads it.
 */
export function proxyRefusalOf(err: unknown): number | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 4 && cur instanceof Error; i++) {
    const m = /^Proxy response \((\d{3})\) !== 200 when HTTP Tunneling$|^Proxy Authentication Required \((407)\)$/.exec(cur.message);
    if (m !== null) return Number(m[1] ?? m[2]);
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Pools whose connections report TLS alerts to tlsAlertOf, for Agent and ProxyAgent alike. */
function poolFactory(origin: string | URL, options: object): Dispatcher {
  const o = options as Pool.Options;
  // The connector Pool would build itself from these options (TLS options, connect timeout, no h2).
  const connect = typeof o.connect === 'function' ? o.connect : buildConnector({ allowH2: false, ...(o.connect ?? {}) });
  return new Pool(origin, { ...o, connect: watchAlerts(connect) });
}

export function createHttpAgent(opts: HttpAgentOptions = {}): Dispatcher {
  const connect = tlsOptions(opts);
  const common = {
    factory: poolFactory,
    headersTimeout: opts.headersTimeoutMs ?? HTTP_DEFAULTS.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs ?? HTTP_DEFAULTS.bodyTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? HTTP_DEFAULTS.keepAliveTimeoutMs,
    connections: opts.connections ?? HTTP_DEFAULTS.connections,
    // The gateway, S3 and the receivers all speak HTTP/1.1; h2 in undici 7 changes timeout and reset semantics we rely on.
    allowH2: false,
  };
  // https targets go through a CONNECT tunnel, TLS (and the client certificate) end to end inside it; http targets
  // as absolute-URI requests, as curl and most clients send them: proxies commonly refuse CONNECT to ports other
  // than 443 (squid's default), so a tunnel to http://receiver:8088 would be refused where a plain request passes.
  const proxied = { ...common, requestTls: connect, proxyTunnel: false };
  if (opts.proxy === 'env') return new EnvHttpProxyAgent({ ...proxied, connect });
  if (opts.proxy !== undefined) return new ProxyAgent({ ...proxied, uri: opts.proxy });
  return new Agent({ ...common, connect });
}
