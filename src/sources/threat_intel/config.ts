// The `streams.threat_intel` block of an account: which feeds.
import { z } from 'zod';
import { THREAT_FEEDS } from '../../core/contracts.js';

/** The threat-intel feeds (STIX files). */
export const threatIntelStreamSchema = z.strictObject({
  /** Which feeds to collect: malware_customer (seen in this account) and/or malware_grid (seen across Mimecast). */
  feeds: z
    .array(z.enum(THREAT_FEEDS, { error: `expected one of: ${THREAT_FEEDS.join(', ')}` }))
    .min(1)
    .default(['malware_customer'])
    .refine((f) => new Set(f).size === f.length, 'a feed is listed twice'),
});

export type ThreatIntelStreamConfig = z.output<typeof threatIntelStreamSchema>;
