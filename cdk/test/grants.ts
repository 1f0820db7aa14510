/**
 * Compares what a function declares it calls (settings.json `operations`)
 * with what its role is granted: pure, so its own table test can show that
 * an extra or a missing grant is reported.
 */

export interface GrantDiff {
  /** Granted but not declared: the role can do more than the code calls. */
  readonly extra: string[];
  /** Declared but not granted: the call would fail with AccessDenied. */
  readonly missing: string[];
}

export function compareGrants(declared: Iterable<string>, granted: Iterable<string>): GrantDiff {
  const d = new Set(declared);
  const g = new Set(granted);
  return {
    extra: [...g].filter((a) => !d.has(a)).sort(),
    missing: [...d].filter((a) => !g.has(a)).sort(),
  };
}

/** One line per difference, naming the function and the action; empty when they match. */
export function grantProblems(fn: string, diff: GrantDiff): string[] {
  return [
    ...diff.extra.map((a) => `${fn}: its role is granted ${a}, which its code does not call (settings.json operations.${fn})`),
    ...diff.missing.map((a) => `${fn}: its code calls ${a}, which its role is not granted`),
  ];
}
