// Dashboard: the /api/stats totals and an SVG line chart of the last analyses' scores, built with DOM calls (no inline style).

import { byId, formatNumber, h, replace, scoreBand, svg } from './dom.js';

const W = 400;
const H = 230;
const PAD = { left: 34, right: 8, top: 22, bottom: 50 };

/**
 * The trend chart for `trend` (oldest first), or an empty-state paragraph.
 * @param {Array<{label?: string, timestamp?: string, score?: number, total_issues?: number, security_issues?: number, complexity_issues?: number}>} trend
 */
export function trendChart(trend) {
  const points = (Array.isArray(trend) ? trend : []).filter((p) => typeof p?.score === 'number');
  if (points.length === 0) return h('p', { class: 'empty', text: 'No analyses yet. Upload a file to start the trend.' });

  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const inset = 18; // keeps the first and last points clear of the axis labels
  const x = (i) => PAD.left + inset + (points.length === 1 ? (plotW - 2 * inset) / 2 : ((plotW - 2 * inset) * i) / (points.length - 1));
  const y = (score) => PAD.top + plotH * (1 - Math.min(100, Math.max(0, score)) / 100);
  const label = (p, i) => (typeof p.label === 'string' && p.label ? p.label : `Analysis ${i + 1}`);

  const desc = points.map((p, i) => `${label(p, i)}: ${p.score}`).join('; ');
  const chart = svg(
    'svg',
    {
      viewBox: `0 0 ${W} ${H}`,
      class: 'trend-svg',
      role: 'img',
      'aria-labelledby': 'trend-svg-title trend-svg-desc',
      preserveAspectRatio: 'xMidYMid meet',
    },
    svg('title', { id: 'trend-svg-title', text: `Scores of the last ${points.length} analyses` }),
    svg('desc', { id: 'trend-svg-desc', text: desc }),
  );

  // Horizontal grid and the score axis.
  for (const v of [0, 25, 50, 75, 100]) {
    chart.append(
      svg('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      svg('text', { class: 'axis-label', x: PAD.left - 8, y: y(v) + 4, 'text-anchor': 'end', text: String(v) }),
    );
  }

  if (points.length > 1) {
    chart.append(svg('polyline', { class: 'trend-line', points: points.map((p, i) => `${x(i)},${y(p.score)}`).join(' ') }));
  }

  // Up to four points fit their full "Analysis #n" label; more get "#n" under an "Analysis" axis title.
  const compact = points.length > 4;
  points.forEach((p, i) => {
    const cx = x(i);
    const cy = y(p.score);
    const when = p.timestamp ? new Date(p.timestamp) : null;
    const whenText = when && !Number.isNaN(when.getTime()) ? `, ${when.toLocaleString()}` : '';
    const full = label(p, i);
    chart.append(
      svg(
        'g',
        { class: `point band-${scoreBand(p.score)}`, 'data-label': full, 'data-score': p.score },
        svg('title', { text: `${full}: score ${p.score}, ${p.total_issues ?? 0} quality, ${p.security_issues ?? 0} security, ${p.complexity_issues ?? 0} complexity issues${whenText}` }),
        svg('circle', { cx, cy, r: 5 }),
        svg('text', { class: 'point-value', x: cx, y: cy - 10, 'text-anchor': 'middle', text: String(p.score) }),
      ),
      svg('text', {
        class: 'x-label',
        x: cx,
        y: H - PAD.bottom + 18,
        'text-anchor': 'middle',
        text: compact ? full.replace(/^Analysis\s*/, '') || String(i + 1) : full,
      }),
    );
  });
  if (compact) {
    chart.append(svg('text', { class: 'axis-title', x: PAD.left + plotW / 2, y: H - PAD.bottom + 40, 'text-anchor': 'middle', text: 'Analysis' }));
  }
  return chart;
}

/** Fills the stat cards and the chart. */
export function renderStats(stats) {
  const total = typeof stats?.total_analyses === 'number' ? stats.total_analyses : 0;
  byId('stat-total').textContent = formatNumber(total);
  byId('stat-avg').textContent =
    total > 0 && typeof stats?.avg_score === 'number' ? stats.avg_score.toFixed(1) : '—';
  byId('stat-security').textContent = formatNumber(stats?.total_security_issues ?? 0);
  byId('stat-quality').textContent = formatNumber(stats?.total_quality_issues ?? 0);
  const avgBand = total > 0 ? scoreBand(stats?.avg_score) : 'unknown';
  byId('stat-avg').dataset.band = avgBand;
  replace(byId('trend-chart'), trendChart(stats?.trend_data));
  byId('dashboard').dataset.loaded = 'true';
}
