import { expect } from 'vitest';
import { ConfigError, type ConfigProblem, configFromEnv } from '@signet/store';

/** The problems configFromEnv reports for an environment (none: it was accepted), each time as BAD_CONFIG. */
export function configProblems(env: NodeJS.ProcessEnv): ConfigProblem[] {
  try {
    configFromEnv(env);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('BAD_CONFIG');
    return [...(error as ConfigError).problems];
  }
}
