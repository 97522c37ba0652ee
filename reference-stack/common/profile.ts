import { DEFAULT_STACK_PROFILE, isStackProfile, STACK_PROFILE_ENV, STACK_PROFILES, type StackProfile } from '../../harness/contract/profiles.ts';
import type { ErrorStyle } from './http.ts';

/**
 * The profile every reference-stack service reads at start (HSI_PROFILE): `reference` (default)
 * or `hsi-current`, which behaves like the real HSI's current sources (reference-stack/README.md,
 * "Profile hsi-current").
 */
export class ProfileError extends Error {
  override name = 'ProfileError';
}

export function loadProfile(env: NodeJS.ProcessEnv = process.env): StackProfile {
  const raw = (env[STACK_PROFILE_ENV] ?? '').trim();
  if (raw === '') return DEFAULT_STACK_PROFILE;
  if (!isStackProfile(raw)) throw new ProfileError(`invalid environment: ${STACK_PROFILE_ENV}: expected one of ${STACK_PROFILES.join(', ')}`);
  return raw;
}

/** FastAPI answers errors as `{"detail": ...}`; the reference stack as `{error, detail}`. */
export function errorStyleFor(profile: StackProfile): ErrorStyle {
  return profile === 'hsi-current' ? 'detail' : 'reference';
}

export type { StackProfile };
