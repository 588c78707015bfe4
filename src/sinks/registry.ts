// Every kind of sink, in one list: the config schema and the factory both come from here. A new sink is a folder
// under sinks/ exporting its schema and its SinkKind, plus its line in each of the two lists below.
import { z } from 'zod';
import type { Sink } from '../core/contracts.js';
import type { Logger } from '../telemetry/logger.js';
import { bindSink, type SinkKind } from './common.js';
import { fileSink, fileSinkSchema } from './file/index.js';
import { httpSink, httpSinkSchema } from './http/index.js';
import { kafkaSink, kafkaSinkSchema } from './kafka/index.js';
import { stdoutSink, stdoutSinkSchema } from './stdout/index.js';
import { syslogSink, syslogSinkSchema } from './syslog/index.js';
import type { SinkBinding } from '../core/sink-runner.js';

const SCHEMAS = [fileSinkSchema, stdoutSinkSchema, httpSinkSchema, kafkaSinkSchema, syslogSinkSchema] as const;

export type SinkConfig = z.output<(typeof SCHEMAS)[number]>;
export type SinkType = SinkConfig['type'];

const KINDS: { readonly [T in SinkType]: SinkKind<Extract<SinkConfig, { type: T }>> } = {
  file: fileSink,
  stdout: stdoutSink,
  http: httpSink,
  kafka: kafkaSink,
  syslog: syslogSink,
};

export const SINK_TYPES = Object.keys(KINDS) as SinkType[];

export const SINK_SCHEMA = z.discriminatedUnion('type', SCHEMAS, {
  error: `unknown sink type (this version supports: ${SINK_TYPES.join(', ')})`,
});

/** The sink a config entry describes. */
export function createSink(cfg: SinkConfig, logger: Logger): Sink {
  const kind = KINDS[cfg.type] as SinkKind<SinkConfig>;
  return kind.create(cfg, { logger: logger.child({ sink: cfg.name }) });
}

/** The sink a config entry describes, with its routing, format and batching for the sink runner. */
export function buildSink(cfg: SinkConfig, logger: Logger): SinkBinding {
  return bindSink(createSink(cfg, logger), cfg, KINDS[cfg.type].rendersFormat === true);
}
