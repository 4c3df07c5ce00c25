/**
 * Address patterns for the autoresponse exception list. Pure: no I/O.
 */

import { normaliseAddress } from './text.js';

/** One usable pattern: the text as configured and the anchored expression built from it. */
export interface AddressPatternMatcher {
  pattern: string;
  regex: RegExp;
}

/** Compiled patterns plus one message per pattern that could not be used. */
export interface CompiledAddressPatterns {
  matchers: AddressPatternMatcher[];
  errors: string[];
}

/**
 * Translates `*` (any run) and `?` (exactly one character) and escapes every other character.
 * The result uses only syntax that both JavaScript RegExp and RE2 accept, so routing rules
 * compile it with their linear-time engine.
 */
export function globToRegExpSource(glob: string): string {
  let source = '';

  for (const character of glob) {
    if (character === '*') source += '.*';
    else if (character === '?') source += '.';
    else source += character.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }

  return source;
}

/** Builds the anchored expression for one trimmed, lowercased pattern, or returns an error message. */
function compileOne(pattern: string, original: string): RegExp | string {
  if (pattern === '') {
    return 'An autoresponse exception pattern is empty: remove it or write an address such as "noreply@*" or a domain such as "example.com".';
  }
  if (/\s/.test(pattern)) {
    return `Autoresponse exception pattern ${JSON.stringify(original)} contains whitespace: write one address or domain per pattern.`;
  }

  const atCount = pattern.split('@').length - 1;
  if (atCount > 1) {
    return `Autoresponse exception pattern ${JSON.stringify(original)} contains more than one "@": write one address such as "noreply@*" or one domain.`;
  }

  if (atCount === 1 && !pattern.startsWith('@')) {
    return new RegExp(`^${globToRegExpSource(pattern)}$`, 'isu');
  }

  const domain = pattern.startsWith('@') ? pattern.slice(1) : pattern;
  if (domain === '') {
    return `Autoresponse exception pattern ${JSON.stringify(original)} has no domain after "@": write a domain such as "@example.com".`;
  }
  if (!domain.includes('.') && !/[*?]/.test(domain)) {
    return `Autoresponse exception pattern ${JSON.stringify(original)} is neither an address nor a domain: write "${domain}@*" to match that local part at any domain, or a domain with a dot such as "example.com".`;
  }

  // A domain matches addresses at exactly that domain; `*.example.com` reaches subdomains.
  return new RegExp(`^[^@]*@${globToRegExpSource(domain)}$`, 'isu');
}

/**
 * Compiles autoresponse exception patterns. Forms, all case-insensitive:
 * - a full address with wildcards, anchored to the whole address: `noreply@*`,
 *   `no?reply@*`, `*@relay.example.net`, `service@payments.example.com`;
 * - a domain, `example.com` or `@example.com`, matching any address at exactly that
 *   domain, with `*.example.com` for its subdomains.
 * `*` matches any run of characters, `?` exactly one; every other character is literal.
 * There is no substring matching: `service@payments.example.com` does not match
 * `service.desk@example.com`.
 *
 * @returns the usable patterns, and one error message per unusable pattern.
 */
export function compilePatterns(patterns: string[]): CompiledAddressPatterns {
  const matchers: AddressPatternMatcher[] = [];
  const errors: string[] = [];

  for (const original of patterns) {
    const compiled = compileOne(normaliseAddress(original), original);
    if (typeof compiled === 'string') errors.push(compiled);
    else matchers.push({ pattern: original, regex: compiled });
  }

  return { matchers, errors };
}

/**
 * Returns the first pattern (as configured) that matches the whole address, or null.
 * The address is trimmed and compared case-insensitively.
 */
export function matchesAnyPattern(address: string, compiled: Pick<CompiledAddressPatterns, 'matchers'>): string | null {
  const normalised = normaliseAddress(address);
  if (normalised === '') return null;

  const matcher = compiled.matchers.find((candidate) => candidate.regex.test(normalised));
  return matcher?.pattern ?? null;
}
