/**
 * modelhub.v1.AdminService: operator calls. They need one of the admin tokens (--admin-token-file, --admin-tokens);
 * a caller's token is not enough, and without admin tokens every admin call is refused.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { AdminServiceServer } from '../../../gen/modelhub/v1/admin.js';
import type { TransportContext } from '../../core/transport-context.js';
import { Code, ServiceError } from '../../errors.js';
import { tokenRefusal, type TokenVerifier } from '../../security/tokens.js';
import { unary } from './handle.js';

export function adminService(context: TransportContext, adminTokens: TokenVerifier | undefined): AdminServiceServer {
  return {
    reloadWeights: unary(context, 'ReloadWeights', async (_request, call) => {
      requireAdmin(adminTokens, call.metadata);
      const result = await context.reloadWeights('admin');
      Object.assign(call.log, { changed: result.changed, sha256: result.sha256 });
      return {
        changed: result.changed,
        weightsSha256: result.sha256,
        previousWeightsSha256: result.previousSha256,
        loadSeconds: result.loadMs / 1000,
      };
    }),
  };
}

function requireAdmin(adminTokens: TokenVerifier | undefined, metadata: Metadata): void {
  if (!adminTokens) {
    throw new ServiceError(
      Code.PERMISSION_DENIED,
      'admin calls are off on this server: start it with --admin-token-file or --admin-tokens (XCEPTION_ADMIN_TOKENS)',
    );
  }
  const values = metadata.get('authorization');
  // Several values are ambiguous: none of them counts.
  const value = values.length === 1 ? String(values[0]) : values.length === 0 ? undefined : '';
  const refusal = tokenRefusal(values.length > 1 ? 'invalid' : adminTokens.check(value));
  if (refusal) throw new ServiceError(refusal.code, `${refusal.message} (admin calls need an admin token)`);
}
