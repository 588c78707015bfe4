// The stdout sink kind: one line per event on standard output.
import { z } from 'zod';
import { sinkCommon, type SinkKind } from '../common.js';
import { StdoutSink } from './sink.js';

export const stdoutSinkSchema = z.strictObject({
  ...sinkCommon,
  type: z.literal('stdout'),
});

export type StdoutSinkConfig = z.output<typeof stdoutSinkSchema>;

export const stdoutSink: SinkKind<StdoutSinkConfig> = {
  type: 'stdout',
  create: (cfg) => new StdoutSink(cfg.name),
};
