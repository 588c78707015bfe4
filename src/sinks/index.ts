// Builds a sink from its config entry.
import type { Sink } from '../core/contracts.js';
import type { SinkConfig } from '../config/schema.js';
import type { Logger } from '../telemetry/logger.js';
import { FileSink } from './file/sink.js';
import { StdoutSink } from './stdout/sink.js';

export function createSink(cfg: SinkConfig, logger: Logger): Sink {
  switch (cfg.type) {
    case 'file':
      return new FileSink(cfg, logger.child({ sink: cfg.name }));
    case 'stdout':
      return new StdoutSink(cfg.name);
  }
}
