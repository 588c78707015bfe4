// The http sink kind: one preset per receiver family (Splunk HEC, Elasticsearch/OpenSearch bulk, generic NDJSON),
// all on one HTTP client setup (client.ts).
import type { Sink } from '../../core/contracts.js';
import type { SinkKind } from '../common.js';
import { HttpTarget } from './client.js';
import type { HttpSinkConfig } from './config.js';
import { ElasticsearchSink } from './elasticsearch.js';
import { NdjsonHttpSink } from './ndjson.js';
import { SplunkHecSink } from './splunk.js';

export { httpSinkSchema, type HttpSinkConfig } from './config.js';

export const httpSink: SinkKind<HttpSinkConfig> = {
  type: 'http',
  create(cfg, ctx): Sink {
    const target = new HttpTarget(cfg, ctx.logger);
    switch (cfg.preset) {
      case 'ndjson':
        return new NdjsonHttpSink(cfg, target);
      case 'splunk_hec':
        return new SplunkHecSink(cfg, target, ctx.logger);
      case 'elasticsearch':
        return new ElasticsearchSink(cfg, target, ctx.logger);
    }
  },
};
