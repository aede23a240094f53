import { DomainError } from './errors.js';

/** Fixed at genesis (`signet init`); every decision reads it from the log's first event. */
export interface Policy {
  /** Master keys of the FreePBX model: they may do anything an administrator may. */
  readonly rootKeys: readonly { readonly fingerprint: string; readonly key: string }[];
  readonly waitingPeriodDays: number;
  readonly authorizationsRequired: number;
  readonly rsaMinBits: number;
  readonly allowEd25519: boolean;
  /** A signing key must carry a user ID with this comment (MyBB: "CODE SIGNING KEY"); empty: no rule. */
  readonly signingKeyComment: string;
  /** Commands issued further than this from the log's clock are refused. */
  readonly commandWindowSeconds: number;
}

export const DEFAULT_POLICY: Omit<Policy, 'rootKeys'> = {
  waitingPeriodDays: 14,
  authorizationsRequired: 1,
  rsaMinBits: 4096,
  allowEd25519: false,
  signingKeyComment: 'CODE SIGNING KEY',
  commandWindowSeconds: 300,
};

/** The key facts the policy judges (from libs/pgp, passed in). */
export interface KeyPolicyFacts {
  readonly fingerprint: string;
  readonly algorithm: string;
  readonly bits: number | null;
  readonly userIds: readonly { readonly comment: string }[];
  readonly selfSignatureDigests: readonly string[];
}

export function checkKeyStrength(facts: KeyPolicyFacts, policy: Policy): void {
  if (facts.algorithm === 'rsa') {
    if ((facts.bits ?? 0) < policy.rsaMinBits)
      throw new DomainError(
        'WEAK_KEY',
        `key ${facts.fingerprint} is RSA-${facts.bits}; this log requires RSA of at least ${policy.rsaMinBits} bits`,
      );
  } else if (facts.algorithm === 'ed25519') {
    if (!policy.allowEd25519)
      throw new DomainError(
        'WEAK_KEY',
        `key ${facts.fingerprint} is Ed25519, which this log's policy does not accept; use RSA-${policy.rsaMinBits}`,
      );
  } else {
    throw new DomainError(
      'WEAK_KEY',
      `key ${facts.fingerprint} uses ${facts.algorithm}, which this log does not accept`,
    );
  }
  if (facts.selfSignatureDigests.some((d) => d === 'SHA1' || d === 'MD5' || d === 'RIPEMD160')) {
    throw new DomainError(
      'SHA1_REFUSED',
      `key ${facts.fingerprint} binds its user IDs with SHA-1; re-sign them with cert-digest-algo SHA512`,
    );
  }
}

export function checkSigningKeyUserId(facts: KeyPolicyFacts, policy: Policy): void {
  if (policy.signingKeyComment && !facts.userIds.some((u) => u.comment === policy.signingKeyComment)) {
    throw new DomainError(
      'MISSING_USER_ID',
      `a package signing key needs a user ID with the comment "${policy.signingKeyComment}" (gpg --full-gen-key, Comment: ${policy.signingKeyComment})`,
    );
  }
}

export function checkPolicy(policy: Policy): void {
  const ok =
    Number.isInteger(policy.waitingPeriodDays) &&
    policy.waitingPeriodDays >= 0 &&
    Number.isInteger(policy.authorizationsRequired) &&
    policy.authorizationsRequired >= 1 &&
    Number.isInteger(policy.rsaMinBits) &&
    policy.rsaMinBits >= 2048 &&
    Number.isInteger(policy.commandWindowSeconds) &&
    policy.commandWindowSeconds > 0;
  if (!ok) throw new DomainError('BAD_POLICY', 'the policy has an out-of-range value');
}
