// The threat-intel source kind: one source per feed.
import type { SourceKind } from '../common.js';
import { threatIntelStreamSchema } from './config.js';
import { ThreatIntelSource } from './source.js';

export { threatIntelStreamSchema, type ThreatIntelStreamConfig } from './config.js';

export const threatIntelSource: SourceKind<'threat_intel', typeof threatIntelStreamSchema> = {
  stream: 'threat_intel',
  schema: threatIntelStreamSchema,
  build(account, ti, api, ctx) {
    const now = ctx.now === undefined ? {} : { now: ctx.now };
    return ti.feeds.map((feedType) => new ThreatIntelSource({ account: account.name, feedType, api, logger: ctx.logger, startFromMs: ctx.startFromMs, ...now }));
  },
};
