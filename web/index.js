// /view/: the stored SEG series (QIDO-RS), each linked to its first instance's page.
import { getJSON, say, el, url } from './common.js';

const tag = (o, t) => (o[t] && o[t].Value && o[t].Value[0]) || '';
const name = (v) => (typeof v === 'object' && v ? v.Alphabetic || '' : v);

async function main() {
  const body = document.querySelector('#series tbody');
  let series;
  try {
    series = await getJSON('series?Modality=SEG&includefield=0008103E&includefield=00100010&includefield=00080020');
  } catch (e) {
    say('Cannot list the stored series: ' + e.message, 'error');
    return;
  }
  if (!series.length) {
    say('No SEG series are stored yet. Store one with STOW-RS (POST /studies), or open a file with view/files/….');
    return;
  }
  for (const s of series) {
    const study = tag(s, '0020000D'), se = tag(s, '0020000E');
    const row = el('tr', {}, el('td', { text: name(tag(s, '00100010')) || '—' }),
      el('td', { text: tag(s, '00080020') || '—' }), el('td'), el('td', { class: 'num', text: '…' }),
      el('td', { class: 'num', text: String(tag(s, '00201209') || '') }));
    body.append(row);
    getJSON(`studies/${study}/series/${se}/instances`).then(async (insts) => {
      const sop = insts.length ? tag(insts[0], '00080018') : '';
      const r = `studies/${study}/series/${se}/instances/${sop}`;
      row.children[2].append(el('a', { href: url('view/' + r), text: tag(s, '0008103E') || '(no description)' }));
      try {
        const idx = await getJSON(r + '/segments');
        row.children[3].textContent = String(idx.segments.filter((g) => g.number > 0).length);
      } catch (_) { row.children[3].textContent = '?'; }
    }).catch((e) => { row.children[2].textContent = 'cannot list instances: ' + e.message; });
  }
}
main().catch((e) => say(String(e.message || e), 'error'));
