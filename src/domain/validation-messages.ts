import type { z } from 'zod';

/**
 * Turns zod issues into one line per bad field, `path: problem`, in the words an
 * operator editing a JSON file needs. A missing field is reported as required, and
 * an unknown field is named on its own path.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(document)';
    if (issue.code === 'unrecognized_keys') {
      const parent = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
      return issue.keys.map((key) => `${parent}${key}: unknown field; check its spelling or remove it`);
    }
    if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
      return [`${field}: is required`];
    }
    return [`${field}: ${issue.message}`];
  });
}
