import libmime from 'libmime';

/** Activities of the sample event; they run on the event's own worker. */
export const sampleEventActivities = {
  /**
   * Returns the mail (base64) with `prefix` put in front of its Subject. The new
   * subject is RFC 2047-encoded and folded by libmime; every other byte is kept.
   */
  async prefixSubject(rawBase64: string, prefix: string): Promise<string> {
    const raw = Buffer.from(rawBase64, 'base64').toString('binary');
    const headerEnd = raw.indexOf('\r\n\r\n');
    const header = raw.slice(0, headerEnd);
    const body = raw.slice(headerEnd);
    const lines = header.split('\r\n');
    const start = lines.findIndex((line) => /^subject:/i.test(line));
    if (start === -1) throw new Error('The composed mail has no Subject header');
    let end = start + 1;
    while (end < lines.length && /^[ \t]/.test(lines[end])) end += 1;

    const current = libmime.decodeWords(lines.slice(start, end).join('').replace(/^subject:\s*/i, ''));
    const folded = libmime.foldLines(`Subject: ${libmime.encodeWords(`${prefix} ${current}`, 'Q', 52)}`, 76).replace(/\r?\n/g, '\r\n');
    lines.splice(start, end - start, ...folded.split('\r\n'));
    return Buffer.from(lines.join('\r\n') + body, 'binary').toString('base64');
  },
};

export type SampleEventActivities = typeof sampleEventActivities;
