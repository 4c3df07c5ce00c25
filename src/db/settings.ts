import type { Knex } from 'knex';

/** Installation-wide settings, stored in the `settings` table. */
export interface InstallationSettings {
  /** Subject tag for tickets; `{number}` is replaced by the ticket number. */
  ticketTagTemplate: string;
  /** Number of the first ticket ever created. */
  firstTicketNumber: number;
}

export const defaultInstallationSettings: InstallationSettings = {
  ticketTagTemplate: '[Ticket#{number}]',
  firstTicketNumber: 100001,
};

export async function readInstallationSettings(db: Knex): Promise<InstallationSettings> {
  const rows: Array<{ key: string; value: unknown }> = await db('settings').select('key', 'value');
  const settings: InstallationSettings = { ...defaultInstallationSettings };
  for (const row of rows) {
    if (row.key === 'ticketTagTemplate' && typeof row.value === 'string') {
      settings.ticketTagTemplate = row.value;
    }
    if (row.key === 'firstTicketNumber' && typeof row.value === 'number') {
      settings.firstTicketNumber = row.value;
    }
  }
  return settings;
}

export async function writeInstallationSetting<K extends keyof InstallationSettings>(db: Knex, key: K, value: InstallationSettings[K]): Promise<void> {
  await db('settings')
    .insert({ key, value: JSON.stringify(value) })
    .onConflict('key')
    .merge();
}
