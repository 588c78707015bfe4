// A local receiver for bench:sinks, in a process of its own: prints `url <base URL>` once it listens, runs until killed.
// Kinds: ndjson (counts lines), splunk_hec, splunk_hec_ack (the in-repo HEC receiver), elasticsearch (the _bulk fake),
// syslog_tcp and syslog_tls CERT_FILE KEY_FILE (the light syslog receiver: `url host:port`).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startBulkReceiver } from '../testkit/bulk-receiver.js';
import { startHecReceiver } from '../testkit/hec-receiver.js';
import { startLightSyslogReceiver } from '../testkit/syslog-receiver.js';

async function main(): Promise<void> {
  const kind = process.argv[2] ?? '';
  let url: string;
  switch (kind) {
    case 'ndjson': {
      const server = createServer((req, res) => {
        req.on('data', () => undefined);
        req.on('end', () => res.writeHead(204).end());
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      break;
    }
    case 'splunk_hec':
    case 'splunk_hec_ack':
      url = (await startHecReceiver({ token: 'bench-hec-token', light: true, ack: kind === 'splunk_hec_ack', maxBodyBytes: 64 * 1024 * 1024 })).url;
      break;
    case 'elasticsearch':
      url = (await startBulkReceiver({ light: true })).url;
      break;
    case 'syslog_tcp':
    case 'syslog_tls': {
      const [certFile, keyFile] = process.argv.slice(3);
      const tls = kind === 'syslog_tls' && certFile !== undefined && keyFile !== undefined ? { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') } : undefined;
      if (kind === 'syslog_tls' && tls === undefined) throw new Error('syslog_tls needs CERT_FILE KEY_FILE');
      url = `127.0.0.1:${(await startLightSyslogReceiver(tls === undefined ? {} : { tls })).port}`;
      break;
    }
    default:
      throw new Error(`unknown receiver kind ${kind}`);
  }
  process.stdout.write(`url ${url}\n`);
  // An orderly exit on the bench's SIGTERM, so `--cpu-prof` (BENCH_RECEIVER_NODE_ARGS) gets to write its profile.
  process.once('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`receiver failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
