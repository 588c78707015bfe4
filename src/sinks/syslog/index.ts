// The syslog sink kind: RFC 5424/3164 messages over UDP, TCP or TLS (RFC 5425), payload in the sink's format.
import type { SinkKind } from '../common.js';
import type { SyslogSinkConfig } from './config.js';
import { SyslogSink } from './sink.js';

export { syslogSinkSchema, type SyslogSinkConfig } from './config.js';

export const syslogSink: SinkKind<SyslogSinkConfig> = {
  type: 'syslog',
  // The sink renders `format` itself: the message's severity comes from the ECS document, which a rendered CEF or
  // LEEF line no longer is.
  rendersFormat: true,
  create: (cfg, ctx) => new SyslogSink(cfg, ctx.logger),
};
