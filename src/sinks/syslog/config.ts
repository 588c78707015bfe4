// The syslog sink's config keys: where (host, port, transport, TLS), how messages are built (RFC, framing, header
// fields, structured data id) and the limits (message size, timeouts).
import { z } from 'zod';
import { durationIn, sizeIn } from '../../config/common.js';
import { sinkCommon } from '../common.js';
import { tlsSchema } from '../tls.js';

export const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** Syslog facilities by name (RFC 5424 table 1); `facility` takes a name or its number. */
export const FACILITIES: Readonly<Record<string, number>> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, security: 13, console: 14, solaris_cron: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

/** Default `max_message_size` on UDP: the size RFC 5426 says every receiver should take (2048 octets). */
export const UDP_DEFAULT_MAX_MESSAGE = 2048;
/** Default `max_message_size` on TCP/TLS: 64KB, what syslog-ng takes by default and rsyslog with `maxMessageSize="64k"`. */
export const STREAM_DEFAULT_MAX_MESSAGE = 64 * 1024;
/** The largest UDP payload over IPv4. */
export const UDP_MAX_DATAGRAM = 65_507;

/** RFC 5424 header field: printable US-ASCII (33–126), at most `max` characters. */
function headerField(max: number, what: string) {
  return z
    .string()
    .min(1)
    .max(max)
    .regex(/^[\x21-\x7e]+$/, `${what} must be printable ASCII without spaces (RFC 5424)`);
}

export const syslogSinkSchema = z
  .strictObject({
    ...sinkCommon,
    type: z.literal('syslog'),
    /** The receiver's host name or address. */
    host: z.string().min(1),
    /** The receiver's port. Default 514 on udp and tcp, 6514 on tls (RFC 5425). */
    port: z.number().int().min(1).max(65_535).optional(),
    /**
     * `udp` (fire-and-forget: events can be lost without anyone knowing), `tcp` or `tls` (RFC 5425). Default tcp.
     */
    transport: z.enum(TRANSPORTS, { error: `expected one of: ${TRANSPORTS.join(', ')}` }).default('tcp'),
    /** With transport tls: verification (on by default), CA, client certificate and key, server name. */
    tls: tlsSchema.prefault({}),
    /** `5424` (structured header, RFC 3339 time, structured data; default) or `3164` (BSD syslog). */
    rfc: z.union([z.literal(5424), z.literal(3164)], { error: 'expected 5424 or 3164' }).default(5424),
    /**
     * On tcp and tls: `octet_counting` (`LEN SP MSG`, RFC 6587/5425; default) or `lf` (one message per line, for
     * receivers that only take that). UDP sends one message per datagram and takes no framing.
     */
    framing: z.enum(['octet_counting', 'lf'], { error: 'expected octet_counting or lf' }).optional(),
    /** APP-NAME (RFC 5424, ≤48 printable ASCII) / TAG (RFC 3164). Default mimecast-collector. */
    app_name: headerField(48, 'app_name').default('mimecast-collector'),
    /** HOSTNAME in every message (≤255 printable ASCII). Default: this machine's host name. */
    hostname: headerField(255, 'hostname').optional(),
    /** Facility: a name (kern, user, ..., local0–local7) or its number 0–23. Default local0. */
    facility: z
      .union([z.number().int().min(0).max(23), z.string()])
      .transform((v, ctx) => {
        if (typeof v === 'number') return v;
        const n = FACILITIES[v.toLowerCase()];
        if (n === undefined) {
          ctx.addIssue({ code: 'custom', message: `unknown facility "${v}" (expected 0–23 or one of: ${Object.keys(FACILITIES).join(', ')})` });
          return z.NEVER;
        }
        return n;
      })
      .default(16),
    /**
     * SD-ID of the structured data element carrying account, stream, log_type and event_id (RFC 5424 only).
     * Default `mimecast@32473` (32473 is the enterprise number IANA reserves for examples and documentation, RFC 5612);
     * set your own `name@<your PEN>` where the receiver checks it.
     */
    sd_id: z
      .string()
      .max(32)
      .regex(/^[\x21-\x7e]+$/, 'printable ASCII')
      .refine((s) => !/[= \]"]/.test(s), 'an SD-ID cannot contain =, space, ] or "')
      .default('mimecast@32473'),
    /**
     * Largest message (header and payload, framing excluded) in bytes. UDP: 480B–65507B, default 2KB (RFC 5426);
     * a longer message is truncated, counted and warned about. TCP/TLS: 480B–16MB, default 64KB; an event whose
     * message would be longer is not sent but dead-lettered with the reason. Must not exceed what the receiver takes
     * (rsyslog `maxMessageSize`, default 8k; syslog-ng `log-msg-size`, default 64KiB).
     */
    max_message_size: sizeIn('480B', '16MB').optional(),
    /** Longest wait for a TCP connection (and TLS handshake). 1s–5m, default 10s. */
    connect_timeout: durationIn('1s', '5m').prefault('10s'),
    /** Longest time writing one batch may take until the socket took it all; past it the batch is sent again. 1s–10m, default 30s. */
    write_timeout: durationIn('1s', '10m').prefault('30s'),
    /**
     * TCP/TLS: how long the connection must stay up after a batch was written before the batch counts as delivered.
     * Syslog has no acknowledgement: a receiver that stops drops what it had not read yet with its socket, and the
     * sender only learns of it when the connection breaks. A batch whose connection breaks within settle_time is sent
     * again (same event ids: the receiver may see an event twice, never miss one). It should cover the time the
     * receiver takes to read what sits in its socket buffer. 0s–1m, default 250ms; 0s acknowledges on write.
     */
    settle_time: durationIn('0s', '1m').prefault('250ms'),
    /**
     * Batches in flight at once (waiting to be written, written, or settling); the offset still moves in order. With
     * settle_time, throughput is at most concurrency × batch.max_events per settle_time, and the events of that many
     * batches are held in memory. 1–64, default 32 (128,000 events/s of 1,000-event batches at 250ms).
     */
    concurrency: z.number().int().min(1).max(64).default(32),
  })
  .superRefine((c, ctx) => {
    if (c.transport === 'udp' && c.framing !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['framing'], message: 'framing applies to tcp and tls; udp sends one message per datagram' });
    }
    const t = c.tls;
    if (c.transport !== 'tls' && (t.ca_file !== undefined || t.cert_file !== undefined || t.key_file !== undefined || t.server_name !== undefined || !t.verify)) {
      // A tls block with transport tcp would send in clear text what the operator meant to protect.
      ctx.addIssue({ code: 'custom', path: ['tls'], message: `tls settings apply to transport: tls only (this sink sends over ${c.transport} in clear text): set transport: tls, or remove them` });
    }
    if (c.transport === 'udp' && c.max_message_size !== undefined && c.max_message_size > UDP_MAX_DATAGRAM) {
      ctx.addIssue({ code: 'custom', path: ['max_message_size'], message: `a UDP datagram carries at most ${UDP_MAX_DATAGRAM} bytes` });
    }
  });

export type SyslogSinkConfig = z.output<typeof syslogSinkSchema>;

/** The settings once defaults that depend on the transport are filled in. */
export interface SyslogSettings {
  port: number;
  framing: 'octet_counting' | 'lf' | 'datagram';
  maxMessageSize: number;
}

export function syslogSettings(c: SyslogSinkConfig): SyslogSettings {
  return {
    port: c.port ?? (c.transport === 'tls' ? 6514 : 514),
    framing: c.transport === 'udp' ? 'datagram' : (c.framing ?? 'octet_counting'),
    maxMessageSize: c.max_message_size ?? (c.transport === 'udp' ? UDP_DEFAULT_MAX_MESSAGE : STREAM_DEFAULT_MAX_MESSAGE),
  };
}
