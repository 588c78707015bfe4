// A loopback port nobody listens on, for a server a test or a benchmark starts (the collector's status server, a broker).
import { createServer } from 'node:net';

/**
 * Asks the OS for a free port (listen on 0, read it, close). A random port in a fixed range could be the one the
 * simulator was just given (its port comes from the same ephemeral range), and the collector then fails to start.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}
