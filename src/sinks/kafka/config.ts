// The kafka sink's config keys: brokers, the topic template, compression, TLS, SASL, timeouts and the message size limit.
import zlib from 'node:zlib';
import { z } from 'zod';
import { LOG_TYPES, STREAM_NAMES } from '../../core/contracts.js';
import { durationIn, sizeIn } from '../../config/common.js';
import { sinkCommon } from '../common.js';
import { tlsSchema } from '../tls.js';

/** The placeholders a `topic` template may hold, filled in per event. */
export const TOPIC_PLACEHOLDERS = ['stream', 'log_type', 'account'] as const;
export type TopicPlaceholder = (typeof TOPIC_PLACEHOLDERS)[number];

/** Characters of a Kafka topic name (the broker refuses any other). */
export const TOPIC_LEGAL = /^[a-zA-Z0-9._-]*$/;
/** Longest topic name the broker takes. */
export const MAX_TOPIC_CHARS = 249;
/** Longest account name (config `name`): what `{account}` may add to a topic name. */
const MAX_ACCOUNT_CHARS = 64;

/** The longest value each placeholder can take: stream and log-type names are fixed lists, accounts are `name`s. */
const LONGEST: Readonly<Record<TopicPlaceholder, number>> = {
  stream: Math.max(...STREAM_NAMES.map((s) => s.length)),
  log_type: Math.max(...LOG_TYPES.map((s) => s.length)),
  account: MAX_ACCOUNT_CHARS,
};

/**
 * What is wrong with a `topic` template (undefined: nothing): an unknown `{placeholder}`, a character a topic name
 * cannot hold, or a name that could grow past 249 characters. Every value a placeholder takes (stream, log type,
 * account name) is itself made of legal characters, so a valid template always gives a valid topic name.
 */
export function topicTemplateProblem(template: string): string | undefined {
  const used = [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1] ?? '');
  const unknown = used.filter((p) => !(TOPIC_PLACEHOLDERS as readonly string[]).includes(p));
  if (unknown.length > 0) return `unknown placeholder {${unknown[0] ?? ''}} (expected ${TOPIC_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`;
  const literal = template.replace(/\{[^{}]*\}/g, '');
  if (/[{}]/.test(literal)) return 'unbalanced "{" or "}"';
  const bad = /[^a-zA-Z0-9._-]/.exec(literal);
  if (bad !== null) return `topic names cannot contain ${JSON.stringify(bad[0])} (only letters, digits, ".", "_" and "-")`;
  if (template === '.' || template === '..') return 'not a valid topic name';
  if (template.startsWith('__')) return 'names starting with "__" are Kafka\'s internal topics';
  const longest = literal.length + used.reduce((n, p) => n + LONGEST[p as TopicPlaceholder], 0);
  if (longest > MAX_TOPIC_CHARS) return `the topic name can reach ${longest} characters; Kafka takes at most ${MAX_TOPIC_CHARS}`;
  return undefined;
}

/** `host:port` of a broker. */
const brokerAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/, 'expected host:port (e.g. kafka-1.example:9092)')
  .refine((s) => {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    return port >= 1 && port <= 65535;
  }, 'the port must be 1-65535');

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** Compression codecs; zstd needs Node's zstd (Node 22.15+ / 24). */
export const KAFKA_COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

/** Whether this Node has zstd (added in Node 22.15). */
export const ZSTD_AVAILABLE = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';

export const saslSchema = z.strictObject({
  /** `plain`, `scram-sha-256` or `scram-sha-512` (as the broker's listener has it in sasl.enabled.mechanisms). */
  mechanism: z.enum(SASL_MECHANISMS, { error: `expected one of: ${SASL_MECHANISMS.join(', ')}` }),
  username: z.string({ error: 'sasl needs a username' }).min(1),
  /** The password (prefer password_file or ${ENV}; masked by validate, redacted in logs). */
  password: z.string({ error: 'sasl needs a password: set password_file (or password, e.g. ${KAFKA_PASSWORD})' }).min(1),
});

export const kafkaSinkSchema = z
  .strictObject({
    ...sinkCommon,
    type: z.literal('kafka'),
    /** Bootstrap brokers, `host:port` each (any few of the cluster: the rest are learnt from them). */
    brokers: z
      .array(brokerAddress)
      .min(1, 'list at least one broker (host:port)')
      .refine((b) => new Set(b).size === b.length, 'a broker is listed twice'),
    /**
     * Where each event goes: a topic name with `{stream}`, `{log_type}` and `{account}` filled in per event. Default
     * `mimecast.{stream}`: one topic per stream (mimecast.siem, mimecast.audit...).
     */
    topic: z
      .string()
      .min(1)
      .superRefine((t, ctx) => {
        const problem = topicTemplateProblem(t);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .default('mimecast.{stream}'),
    /** The client id the brokers see (quotas, logs). Default `mimecast-collector`. */
    client_id: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, ".", "_" or "-"')
      .max(255)
      .default('mimecast-collector'),
    /**
     * Record batches compressed with `gzip`, `snappy`, `lz4` or `zstd` (zstd needs Node 22.15+), or sent as they are
     * (`none`, default). JSON logs shrink 5-10x, at some CPU on this side.
     */
    compression: z.enum(KAFKA_COMPRESSIONS, { error: `expected one of: ${KAFKA_COMPRESSIONS.join(', ')}` }).default('none'),
    /** TLS to the brokers (an `SSL` / `SASL_SSL` listener): present (even `tls: {}`) turns it on. */
    tls: tlsSchema.optional(),
    /** SASL authentication (`SASL_PLAINTEXT`, or `SASL_SSL` with `tls`). */
    sasl: saslSchema.optional(),
    /** Longest a produce request (or a metadata call) may take before the send is retried. 1s–10m, default 30s. */
    request_timeout: durationIn('1s', '10m').prefault('30s'),
    /**
     * The largest record batch the brokers take (their `message.max.bytes` / the topic's `max.message.bytes`,
     * 1048588 by default). An event larger than this is dead-lettered without being sent; a send is split into
     * record batches below it. 1KB–64MB, default 1MB.
     */
    max_message_bytes: sizeIn('1KB', '64MB').prefault('1MB'),
    /**
     * Batches handed to the sink at once: each takes its partitions' sequence numbers when it is written, so they are
     * at the brokers together (up to 5 produce requests per broker connection), in journal order per partition.
     * 1–64, default 2.
     */
    concurrency: z.number().int().min(1).max(64).default(2),
  })
  .superRefine((c, ctx) => {
    if (c.compression === 'zstd' && !ZSTD_AVAILABLE) {
      ctx.addIssue({ code: 'custom', path: ['compression'], message: `zstd needs Node 22.15 or later (this is Node ${process.versions.node}): use lz4, snappy or gzip` });
    }
  });

export type KafkaSinkConfig = z.output<typeof kafkaSinkSchema>;
