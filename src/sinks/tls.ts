// The TLS keys every sink that speaks TLS takes (http, syslog, kafka), reading their files, and the words for a
// TLS failure: a verification failure or a refused client certificate is the operator's to fix, so it is named.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SinkError } from '../core/errors.js';
import { tlsAlertOf } from '../core/http-agent.js';
import type { Logger } from '../telemetry/logger.js';

export const tlsSchema = z
  .strictObject({
    /** Verify the receiver's certificate. Keep on: off logs a warning at every start. */
    verify: z.boolean().default(true),
    /** Extra CA bundle (PEM) to trust, e.g. the private CA that signed the receiver's certificate. */
    ca_file: z.string().min(1).optional(),
    /** Client certificate (PEM) for mutual TLS; needs key_file. */
    cert_file: z.string().min(1).optional(),
    /** Client key (PEM) for mutual TLS; needs cert_file. */
    key_file: z.string().min(1).optional(),
    /** The name the receiver's certificate must carry, when the URL names it otherwise (an IP address, an alias). */
    server_name: z.string().min(1).optional(),
  })
  .superRefine((t, ctx) => {
    if ((t.cert_file === undefined) !== (t.key_file === undefined)) {
      ctx.addIssue({ code: 'custom', path: [t.cert_file === undefined ? 'cert_file' : 'key_file'], message: 'mutual TLS needs both cert_file and key_file' });
    }
  });

export type TlsConfig = z.output<typeof tlsSchema>;

/** The TLS options of node:tls / undici's connector that a sink's `tls` block stands for. */
export interface TlsConnectOptions {
  rejectUnauthorized: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

/**
 * Reads the files a `tls` block names (SINK_CONFIG naming the key when one cannot be read) and warns, once, when
 * verification is off. `target` names the receiver in that warning.
 */
export function loadTls(cfg: TlsConfig, sink: string, log: Logger, target: string): TlsConnectOptions {
  const read = (file: string, key: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new SinkError('SINK_CONFIG', `sink ${sink}: cannot read tls.${key} ${file}: ${(err as Error).message}`, sink, { cause: err });
    }
  };
  if (!cfg.verify) {
    log.warn({ target }, 'TLS verification is OFF for this sink (tls.verify: false): anyone on the path can read and alter what it sends');
  }
  return {
    rejectUnauthorized: cfg.verify,
    ...(cfg.ca_file === undefined ? {} : { ca: read(cfg.ca_file, 'ca_file') }),
    ...(cfg.cert_file === undefined ? {} : { cert: read(cfg.cert_file, 'cert_file') }),
    ...(cfg.key_file === undefined ? {} : { key: read(cfg.key_file, 'key_file') }),
    ...(cfg.server_name === undefined ? {} : { servername: cfg.server_name }),
  };
}

/** TLS verification failures: only the operator can fix them (a CA file, a server name, a renewed certificate). */
const TLS_HINTS: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the receiver presents a self-signed certificate: trust it with tls.ca_file',
  SELF_SIGNED_CERT_IN_CHAIN: 'the receiver\'s certificate chain ends in a CA this collector does not trust: add it with tls.ca_file',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the receiver\'s certificate cannot be verified (missing intermediate or unknown CA): add the CA with tls.ca_file',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the CA that issued the receiver\'s certificate is not trusted: add it with tls.ca_file',
  UNABLE_TO_GET_ISSUER_CERT: 'the CA that issued the receiver\'s certificate is not trusted: add it with tls.ca_file',
  CERT_HAS_EXPIRED: 'the receiver\'s certificate has expired',
  CERT_NOT_YET_VALID: 'the receiver\'s certificate is not valid yet (check the clocks)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the receiver\'s certificate does not name this host: fix the URL or set tls.server_name',
  CERT_REVOKED: 'the receiver\'s certificate was revoked',
};

/**
 * TLS alerts a receiver sends when it refuses the client certificate (mutual TLS): received from the peer, so the
 * configuration to fix is ours. Handshake failure is the TLS 1.2 answer to a missing certificate, among other things.
 * Keyed by the alert's name (alertName).
 */
const CLIENT_CERT_ALERTS: Readonly<Record<string, string>> = {
  CERTIFICATE_REQUIRED: 'the receiver refused the client certificate: it requires one (mutual TLS): set tls.cert_file and tls.key_file',
  BAD_CERTIFICATE: 'the receiver refused the client certificate (tls.cert_file) as bad: is it signed by a CA the receiver trusts, and is key_file its key?',
  UNKNOWN_CA: 'the receiver refused the client certificate (tls.cert_file): it does not trust the CA that signed it',
  CERTIFICATE_UNKNOWN: 'the receiver refused the client certificate (tls.cert_file): it cannot verify it',
  UNSUPPORTED_CERTIFICATE: 'the receiver refused the client certificate (tls.cert_file): not usable for client authentication (extendedKeyUsage clientAuth?)',
  CERTIFICATE_EXPIRED: 'the receiver refused the client certificate (tls.cert_file): it has expired',
  CERTIFICATE_REVOKED: 'the receiver refused the client certificate (tls.cert_file): it was revoked',
  ACCESS_DENIED: 'the receiver refused the client certificate (tls.cert_file): access denied to it',
  HANDSHAKE_FAILURE:
    'the receiver refused the TLS handshake: most often the receiver refused the client certificate (none in tls.cert_file, or one it does not accept); else no TLS version or cipher in common',
};

export function errnoOf(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 4 && cur instanceof Error; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The alert's name in an OpenSSL error code, whatever the prefix: OpenSSL 3.0 (Node 20) writes
 * `ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE`, OpenSSL 3.5 (Node 24) `ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE`.
 */
function alertName(code: string): string {
  const at = code.lastIndexOf('_ALERT_');
  return at < 0 ? code : code.slice(at + '_ALERT_'.length);
}

/**
 * A TLS failure the operator must fix, in words: a TLS alert refusing our client certificate, or a failed
 * verification of the receiver's certificate. Undefined for anything else (a reset, a timeout: retried).
 */
export function tlsProblemOf(err: unknown): { code: string; kind: 'client_certificate' | 'verification'; hint: string } | undefined {
  const alert = tlsAlertOf(err);
  const refusal = alert === undefined ? undefined : CLIENT_CERT_ALERTS[alertName(alert)];
  if (alert !== undefined && refusal !== undefined) return { code: alert, kind: 'client_certificate', hint: refusal };
  const code = errnoOf(err);
  const hint = code === undefined ? undefined : TLS_HINTS[code];
  if (code !== undefined && hint !== undefined) return { code, kind: 'verification', hint };
  return undefined;
}
