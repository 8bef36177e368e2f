// Deployment panel: what /api/info says about the running version and instance, and the /api/health status with its checks.

import { byId, h, replace, show, timeEl } from './dom.js';

/** An identifier in monospace, or a plain dash when unset. */
function code(value) {
  const text = show(value);
  return text === '—' ? text : h('code', { text });
}

/** A long id (digest, commit) shortened for display, with the full value in the tooltip. */
function shortId(value, keep) {
  const text = show(value);
  if (text === '—' || text.length <= keep) return code(value);
  const shown = text.startsWith('sha256:') ? `sha256:${text.slice(7, 7 + keep)}…` : `${text.slice(0, keep)}…`;
  return h('code', { title: text, text: shown });
}

/** Fills the deployment list from an /api/info answer. */
export function renderInfo(info) {
  const d = info?.deployment ?? {};
  const env = info?.environment ?? {};
  const row = (term, value, key) =>
    h('div', { 'data-key': key }, h('dt', { text: term }), h('dd', {}, typeof value === 'object' && value !== null ? value : show(value)));
  const features = Array.isArray(info?.features) ? info.features.filter((f) => typeof f === 'string') : [];
  replace(
    byId('deployment-info'),
    row('Version', show(info?.version), 'version'),
    row('Environment', show(d.active_environment), 'active_environment'),
    row('Deployed by', show(d.deployed_by), 'deployed_by'),
    row('Image tag', code(d.image_tag), 'image_tag'),
    row('Image digest', shortId(d.image_digest, 12), 'image_digest'),
    row('Git commit', shortId(d.git_commit, 10), 'git_commit'),
    row('Deployed', d.deployed_at ? timeEl(d.deployed_at) : '—', 'deployed_at'),
    row('Instance', code(d.instance_id), 'instance_id'),
    row('Availability zone', show(d.availability_zone), 'availability_zone'),
    row('Region', show(env.region), 'region'),
    row('Node.js', show(env.node), 'node'),
    features.length
      ? row('Features', h('ul', { class: 'chips' }, ...features.map((f) => h('li', { text: f }))), 'features')
      : null,
  );
  byId('footer-version').textContent = info?.version ? `v${String(info.version).replace(/^v/, '')}` : '';
}

const STATUS_TEXT = { healthy: 'Healthy', unhealthy: 'Unhealthy', draining: 'Draining', unreachable: 'Unreachable', unknown: 'Unknown' };

/** A check value of unknown shape as [status, detail]. */
function describeCheck(value) {
  if (value === null || value === undefined) return ['unknown', ''];
  if (typeof value !== 'object') return [String(value), ''];
  const status =
    typeof value.status === 'string' ? value.status
      : value.ok === true || value.healthy === true ? 'ok'
        : value.ok === false || value.healthy === false ? 'failing'
          : 'unknown';
  const detail = [value.message, value.error, value.detail, value.details].find((v) => typeof v === 'string') ?? '';
  return [status, detail];
}

/**
 * Shows a health answer, or `null` when the server could not be reached.
 * @param {any} health
 */
export function renderHealth(health) {
  const status = health && typeof health.status === 'string' ? health.status : health ? 'unknown' : 'unreachable';
  const text = STATUS_TEXT[status] ?? status;
  for (const id of ['health-status', 'health-badge']) byId(id).dataset.status = status;
  byId('health-status').textContent = text;
  byId('health-badge-text').textContent = text.toLowerCase();
  replace(byId('health-time'), health?.timestamp ? h('span', {}, 'checked ', timeEl(health.timestamp)) : '');

  const checks = health?.checks && typeof health.checks === 'object' ? Object.entries(health.checks) : [];
  replace(
    byId('health-checks'),
    ...checks.map(([name, value]) => {
      const [st, detail] = describeCheck(value);
      return h(
        'li',
        { 'data-status': st },
        h('span', { class: 'check-name', text: name.replace(/_/g, ' ') }),
        h('span', { class: 'pill small', text: st }),
        detail ? h('span', { class: 'muted check-detail', text: detail }) : null,
      );
    }),
  );
}
