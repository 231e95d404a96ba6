// gama-vr-relay admin page: the learning packages. The catalog the relay found (GET /api/models),
// read again when its version changes, drawn as cards in folders; a model is selected from its card,
// and what is wrong in a package is listed in the page's language.

import { $, el, guard, isEnabled, setEnabled, show } from './dom.js';
import { t } from './i18n.js';
import { icon } from './icons.js';
import { withToken } from './token.js';
import { api } from './api.js';
import { errorText, saidText } from './said.js';
import { showMessage } from './messages.js';
import { live } from './page-state.js';
import { limitsText } from './status.js';
import { run } from './controls.js';

/** What is wrong in a learning package (GET /api/models `problems`), in the page's language. */
const PROBLEMS = {
  folder_missing: (p) => t('models.problem.folder_missing', { path: p.path }),
  cannot_list: (p) => t('models.problem.cannot_list', { path: p.path, message: p.message }),
  cannot_read: (p) => t('models.problem.cannot_read', { path: p.path, message: p.message }),
  invalid_json: (p) => t('models.problem.invalid_json', { path: p.path, message: p.message }),
  not_an_object: (p) => t('models.problem.not_an_object', { path: p.path }),
  catalog_without_entries: (p) => t('models.problem.catalog_without_entries', { path: p.path, name: p.name }),
  model_incomplete: (p) => t('models.problem.model_incomplete', { path: p.path, name: p.name }),
  not_a_whole_number: (p) => t('models.problem.not_a_whole_number', { path: p.path, key: p.key, value: p.value }),
  bad_parameters: (p) => t('models.problem.bad_parameters', { path: p.path }),
};

const PROBLEM_PARAMS = {
  folder_missing: ['path'],
  cannot_list: ['path', 'message'],
  cannot_read: ['path', 'message'],
  invalid_json: ['path', 'message'],
  not_an_object: ['path'],
  catalog_without_entries: ['path', 'name'],
  model_incomplete: ['path', 'name'],
  not_a_whole_number: ['path', 'key', 'value'],
  bad_parameters: ['path'],
};

export const catalog = {
  version: null, // the relay's catalog_version of the catalog shown (null: read it again)
  loading: false,
  last: null, // the last answer of GET /api/models, drawn again in another language
};

export async function loadModels(version) {
  if (catalog.loading) return;
  catalog.loading = true;
  try {
    const data = await api('GET', '/api/models');
    catalog.version = version;
    renderCatalog(data);
  } catch (e) {
    if (e.status && e.status !== 401) showMessage('error', () => t('models.read_failed', { reason: errorText(e) }));
  } finally {
    catalog.loading = false;
  }
  // The catalog changed again while it was being read.
  if (live.last && live.last.catalog_version !== catalog.version && !live.waitingForToken && live.up) {
    loadModels(live.last.catalog_version);
  }
}

function modelCard(model, selected) {
  const card = el('article', {
    class: 'model-card',
    dataset: { modelCard: String(model.index), selected: String(selected) },
  });
  if (model.splashscreen) {
    card.append(el('img', { src: withToken(model.splashscreen), alt: '', loading: 'lazy', decoding: 'async' }));
  }
  card.append(el('h3', { text: model.name }));
  card.append(el('p', { text: t('catalog.card', { experiment: model.experiment_name, players: limitsText(model, true) }) }));
  const file = model.model_file_path.split(/[\\/]/).pop();
  if (file) card.append(el('p', { class: 'sub', text: file }));
  const button = el('button', {
    type: 'button',
    class: selected ? 'primary' : '',
    'aria-pressed': String(selected),
    'aria-label': t(selected ? 'catalog.selected_label' : 'catalog.select_label', { model: model.name }),
    dataset: { model: String(model.index) },
  });
  button.append(icon(selected ? 'check' : 'ring'), el('span', { text: t(selected ? 'catalog.selected' : 'catalog.select') }));
  setEnabled(button, live.up && !selected);
  card.append(button);
  return card;
}

function catalogNode(entries, data, path, closedPaths) {
  const list = el('ul', { class: 'models-grid' });
  entries.forEach((entry, i) => {
    const key = `${path}/${i}`;
    if (entry.type === 'catalog') {
      const summary = el('summary', {}, el('span', { text: entry.name }));
      const count = countModels(entry.entries);
      summary.append(el('span', { class: 'muted', text: t('catalog.models', { count }) }));
      const details = el('details', { dataset: { path: key } }, summary, catalogNode(entry.entries ?? [], data, key, closedPaths));
      details.open = !closedPaths.has(key);
      list.append(el('li', { class: 'catalog-entry' }, details));
    } else {
      const model = data.models[entry.model_index];
      if (model) list.append(el('li', {}, modelCard(model, model.selected)));
    }
  });
  return list;
}

function countModels(entries = []) {
  return entries.reduce((n, e) => n + (e.type === 'catalog' ? countModels(e.entries) : 1), 0);
}

export function renderCatalog(data) {
  catalog.last = data;
  const root = $('catalog');
  // Keep what the operator closed and where the keyboard focus was.
  const closedPaths = new Set();
  for (const d of root.querySelectorAll('details[data-path]')) if (!d.open) closedPaths.add(d.dataset.path);
  const focused = root.contains(document.activeElement) ? document.activeElement : null;
  const focusModel = focused?.dataset?.model;
  const focusPath = focused?.tagName === 'SUMMARY' ? focused.parentElement.dataset.path : null;
  const entries = data.catalog?.length
    ? data.catalog
    : data.models.map((m) => ({ type: 'json_settings', name: m.name, model_index: m.index }));
  root.replaceChildren(catalogNode(entries, data, '', closedPaths));
  if (focusModel != null) root.querySelector(`button[data-model="${CSS.escape(focusModel)}"]`)?.focus();
  else if (focusPath != null) root.querySelector(`details[data-path="${CSS.escape(focusPath)}"] > summary`)?.focus();
  show($('models-empty'), data.models.length === 0);
  const problems = data.problems ?? [];
  show($('problems'), problems.length > 0);
  $('problems-list').replaceChildren(
    ...problems.map((p) => el('li', { text: saidText(PROBLEMS, PROBLEM_PARAMS, p.code, p.params, p.text ?? String(p)) })),
  );
}

/** The models' buttons and the rescan button. */
export function wirePackages() {
  $('catalog').addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-model]');
    if (!button || !isEnabled(button)) return;
    const index = button.dataset.model;
    const name = button.closest('.model-card')?.querySelector('h3')?.textContent ?? index;
    const r = await run(
      button,
      { failed: (reason) => t('actions.select_failed', { model: name, reason }), done: () => t('actions.select_done', { model: name }) },
      () => api('POST', `/api/models/${encodeURIComponent(index)}/select`),
    );
    if (r.ok) loadModels(live.last?.catalog_version ?? null);
  });

  guard($('rescan'), async () => {
    const button = $('rescan');
    const r = await run(button, { failed: (reason) => t('actions.rescan_failed', { reason }), done: () => t('actions.rescan_done') }, () =>
      api('POST', '/api/models/rescan'),
    );
    if (r.ok) renderCatalog(r.result);
  });
}
