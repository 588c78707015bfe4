// What an endpoint handler sees of the simulator: options, the account, auth, quota, faults and URL helpers.
import type { IncomingMessage } from 'node:http';
import type { TokenSigner } from '../tokens.js';
import type { Account } from './account.js';
import type { Auth } from './auth.js';
import type { Faults } from './faults.js';
import type { ResolvedOptions } from './options.js';
import type { Quota } from './quota.js';

export interface SimContext {
  readonly opts: ResolvedOptions;
  readonly account: Account;
  readonly auth: Auth;
  readonly quota: Quota;
  readonly faults: Faults;
  /** Signs and checks the opaque page/file tokens the simulator hands out. */
  readonly signer: TokenSigner;
  /** Key of the HMACs in pre-signed download URLs. */
  readonly signKey: Buffer;
  /** The regional API URL discover-authentication answers (a host name like Mimecast's). */
  regionUrl(req: IncomingMessage): string;
  /** `http://host:port` as the client addressed us (keeps the client's host spelling in URLs we hand out). */
  baseUrl(req: IncomingMessage): string;
}
