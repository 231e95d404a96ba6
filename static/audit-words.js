// gama-vr-relay admin page: the operator's changes the relay writes down (README, "Admin API"), in
// the page's language: said in Recent changes (audit.js) and on a kept session's timeline.

import { t } from './i18n.js';

// The changes the relay writes down, by kind (README, "Admin API") → their words in the page's
// language, from their params; null when a param is missing. A tool's command is gama-server's name
// for it (load, play…): it stays as it is. Anything else shows the relay's own words.
const KINDS = {
  launch: () => t('audit.action_launch'),
  launch_anyway: () => t('audit.action_launch_anyway'),
  pause: () => t('audit.action_pause'),
  resume: () => t('audit.action_resume'),
  stop: () => t('audit.action_stop'),
  rescan: () => t('audit.action_rescan'),
  remove: (p) => (p.player == null ? null : t('audit.action_remove', { player: String(p.player) })),
  console: (p) => (p.expr == null ? null : t('audit.action_console', { expr: p.expr })),
  select: (p) => {
    if (p.index == null) return null;
    const index = String(p.index);
    return p.model == null ? t('audit.action_select_index', { index }) : t('audit.action_select', { index, model: p.model });
  },
  delete_session: (p) => (p.session == null ? null : t('audit.action_delete_session', { session: p.session })),
  tool: (p) => (p.command == null ? null : p.model == null ? p.command : `${p.command} ${p.model}`),
  tool_left: (p) => (Array.isArray(p.experiments) ? t('audit.action_tool_left', { experiments: p.experiments.join(', ') }) : null),
  screen_focus: (p) => (p.serial == null ? t('audit.action_screen_focus_none') : t('audit.action_screen_focus', { serial: String(p.serial) })),
  tool_left_kept: (p) => (p.experiment == null || p.model == null ? null : t('audit.action_tool_left_kept', { experiment: p.experiment, model: p.model })),
};

/** An operator change's action in the page's language (entry: {action, kind, params}). */
export function auditAction(entry) {
  const words = KINDS[entry?.kind]?.(entry.params ?? {});
  return words ?? entry?.action ?? '';
}
