// `POST /api/account/get-account`: the simulated account's settings, with its live user count.
import type { RouteTable } from '../core/routes.js';
import { HttpReply } from '../http.js';
import { directoryOf } from './directory.js';
import { ok, readAdmin } from './envelope.js';

export function registerAccount(routes: RouteTable): void {
  routes.add({
    method: 'POST',
    path: '/api/account/get-account',
    counter: 'api',
    v1: true,
    handler: async (ctx, req, url) => {
      const r = await readAdmin(ctx, req, url.pathname, 1);
      if (r instanceof HttpReply) return r;
      const dir = directoryOf(ctx);
      const userCount = [...dir.users.values()].filter((u) => u.aliasFor === undefined && !u.accountDisabled).length;
      return ok(
        [
          {
            region: 'sim',
            archive: true,
            gateway: true,
            passphrase: '',
            supportCode: ctx.opts.accountCode.slice(-4),
            maxRetention: 90,
            maxRetentionConfirmed: true,
            minRetentionEnabled: false,
            automatedSegmentPurge: true,
            type: 'full',
            policyInheritance: false,
            databaseCode: 'simterm1',
            searchReason: false,
            contentAdministratorDefaultView: 'Metadata',
            adminSessionTimeout: 60,
            exportApi: false,
            exgestAllowQuery: false,
            exgestAllowExtraction: true,
            expressAccount: false,
            cybergraphV2Enabled: false,
            accountCode: ctx.opts.accountCode,
            accountName: 'Simulated Corp',
            adminEmail: '',
            contactEmail: 'it-ops@corp.example',
            contactName: 'IT Operations',
            telephone: '+44 20 0000 0000',
            domain: '',
            userCount,
            mimecastId: '01-0000-00001',
            packages: ['Mimecast Platform [1033]', 'URL Protection (Site) [1043]', 'Attachment Protection [1045]', 'Impersonation Protection [1052]'],
          },
        ],
        [],
        r.headers,
      );
    },
  });
}
