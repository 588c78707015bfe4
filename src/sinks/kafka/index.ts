// The kafka sink kind: events produced to Apache Kafka by an idempotent producer (pure JavaScript client).
import type { SinkKind } from '../common.js';
import type { KafkaSinkConfig } from './config.js';
import { KafkaSink } from './sink.js';

export { kafkaSinkSchema, type KafkaSinkConfig } from './config.js';

export const kafkaSink: SinkKind<KafkaSinkConfig> = {
  type: 'kafka',
  create: (cfg, ctx) => new KafkaSink(cfg, ctx.logger),
};
