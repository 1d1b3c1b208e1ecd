/** Addresses → grpc-js targets: one address as is, several as one ipv4:/ipv6: multi-address target. */
import { describe, expect, it } from 'vitest';
import { Code, resolveTarget } from '../../src/client/index.js';

describe('resolveTarget', () => {
  it('passes one address through, for DNS resolution or an explicit scheme', () => {
    expect(resolveTarget('localhost:50051')).toBe('localhost:50051');
    expect(resolveTarget(' model.svc.cluster.local:50051 ')).toBe('model.svc.cluster.local:50051');
    expect(resolveTarget('dns:///model:50051')).toBe('dns:///model:50051');
    expect(resolveTarget(['unix:/run/xception.sock'])).toBe('unix:/run/xception.sock');
  });

  it('joins several IPv4 or IPv6 addresses, given as a list or a comma list', () => {
    expect(resolveTarget(['10.0.0.1:50051', '10.0.0.2:50052'])).toBe('ipv4:10.0.0.1:50051,10.0.0.2:50052');
    expect(resolveTarget('10.0.0.1:1, 10.0.0.2:1,')).toBe('ipv4:10.0.0.1:1,10.0.0.2:1');
    expect(resolveTarget('[::1]:50051,[fd00::2]:50051')).toBe('ipv6:[::1]:50051,[fd00::2]:50051');
  });

  it('refuses what grpc-js cannot dial as one target, as INVALID_ARGUMENT', () => {
    const refused = (address: string | string[], message: RegExp) =>
      expect(() => resolveTarget(address)).toThrow(
        expect.objectContaining({ code: Code.INVALID_ARGUMENT, details: expect.stringMatching(message) }),
      );
    refused('', /no server address/);
    refused('a.example:1,b.example:1', /one DNS name/);
    refused('10.0.0.1:1,[::1]:1', /all be IPv4 or all IPv6/);
    refused('10.0.0.1,10.0.0.2:1', /"10\.0\.0\.1" is not host:port/);
    refused(['10.0.0.1:1', 'dns:b:1'], /plain host:port/);
  });
});
