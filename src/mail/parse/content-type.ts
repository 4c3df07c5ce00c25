/** A Content-Type (or Content-Disposition) value split into its lowercased type and parameters. */
export interface HeaderParams {
  value: string;
  /** Parameter names lowercased; quotes removed. RFC 2231 forms are not joined here. */
  params: Record<string, string>;
}

/** Splits `type/sub; a=b; c="d"` into value and parameters; unparsable parts are skipped. */
export function parseHeaderParams(text: string): HeaderParams {
  const params: Record<string, string> = {};
  const parts = text.match(/(?:"(?:[^"\\]|\\.)*"|[^;"])+/g) ?? [];
  const value = (parts[0] ?? '').trim().toLowerCase();

  for (const part of parts.slice(1)) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    const raw = part.slice(eq + 1).trim();
    params[name] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  }

  return { value, params };
}
