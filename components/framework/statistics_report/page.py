"""The statistics report's page: inline CSS and JavaScript that draw the embedded figures.

No external asset and no network access: the page opens from the MLflow UI, a file browser
or an email attachment. The figures are one JSON object in a ``<script
type="application/json" id="figures">`` element; the overview table is built from it at
load, each feature's charts only when its card scrolls into view.
"""

from __future__ import annotations

import html
import json
from typing import Any

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:20px;color:#222}
h1{font-size:21px;margin:0 0 4px}h2{font-size:17px;margin-top:26px;border-bottom:1px solid #ddd}
.muted{color:#666;font-size:12px}.controls{margin:10px 0;display:flex;gap:14px;flex-wrap:wrap}
table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border:1px solid #ddd;padding:2px 7px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;cursor:pointer;position:sticky;top:0}td.l,th.l{text-align:left}
th.sorted-asc:after{content:" \\25B2"}th.sorted-desc:after{content:" \\25BC"}
td.miss1{background:#fff3cd}td.miss2{background:#ffd8a8}td.miss3{background:#ffb3b3}
td.drift{background:#ffe0e0}a{color:#1f5fa8}
.cards{display:flex;flex-direction:column;gap:12px}
.card{border:1px solid #e3e3e3;border-radius:6px;padding:8px 12px;min-height:150px}
.card h3{font-size:14px;margin:2px 0 6px}.row{display:flex;gap:20px;flex-wrap:wrap}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
svg text{font-size:10px;fill:#444}
"""

SCRIPT = r"""
const D = JSON.parse(document.getElementById('figures').textContent);
const SPLITS = Object.keys(D.splits);
const PALETTE = ['#4e79a7','#f28e2b','#59a14f','#e15759','#76b7b2','#edc948'];
const COLS = [
  ['name','feature','l'],['type','type','l'],['count','count'],['missing_pct','missing %'],
  ['mean','mean'],['std','std'],['zeros_pct','zeros %'],['min','min'],['median','median'],
  ['max','max'],['distinct','distinct'],['top','top value','l'],['linf','L-inf'],['js','JS']];
let split = SPLITS[0], sortKey = null, sortDir = 1;
function esc(s){return String(s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;',
  '"':'&quot;',"'":'&#39;'}[c]));}
function fmt(x, count){
  if (x === null || x === undefined) return '&ndash;';
  if (typeof x !== 'number') return esc(x);
  if (count || Number.isInteger(x) && Math.abs(x) < 1e15) return x.toLocaleString('en-US');
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e9 || a < 1e-4)) return x.toExponential(3);
  return x.toLocaleString('en-US',{maximumSignificantDigits:5});
}
function cell(f, key){
  const s = f.splits[split] || {};
  if (key === 'name' || key === 'type' || key === 'linf' || key === 'js') return f[key];
  return s[key];
}
function sortedFeatures(){
  const idx = D.features.map((f,i)=>i);
  if (sortKey === null) return idx;
  return idx.sort((a,b)=>{
    const x = cell(D.features[a],sortKey), y = cell(D.features[b],sortKey);
    if (x === undefined || x === null) return (y === undefined || y === null) ? 0 : 1;
    if (y === undefined || y === null) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
  });
}
function missClass(p){return !p ? '' : p >= 50 ? 'miss3' : p >= 10 ? 'miss2' : 'miss1';}
function renderTable(){
  const filter = document.getElementById('filter').value.toLowerCase();
  const head = COLS.map(([k,t,c])=>{
    const s = k === sortKey ? (sortDir > 0 ? ' sorted-asc' : ' sorted-desc') : '';
    return `<th class="${c||''}${s}" data-key="${k}">${t}</th>`;}).join('');
  const rows = [];
  for (const i of sortedFeatures()){
    const f = D.features[i];
    if (filter && !f.name.toLowerCase().includes(filter)) continue;
    const s = f.splits[split];
    if (!s){rows.push(`<tr><td class="l"><a href="#f${i}">${esc(f.name)}</a></td>`+
      `<td class="l" colspan="13">not in split ${esc(split)}</td></tr>`); continue;}
    const d = s.distinct === undefined ? null :
      (s.distinct_exact ? fmt(s.distinct,1) : '~' + fmt(s.distinct,1));
    rows.push('<tr>' +
      `<td class="l"><a href="#f${i}">${esc(f.name)}</a></td><td class="l">${esc(f.type)}`+
      `${f.kind==='categorical'&&f.type==='INT'?' (cat.)':''}</td><td>${fmt(s.count,1)}</td>`+
      `<td class="${missClass(s.missing_pct)}">${fmt(s.missing_pct)}</td>`+
      ['mean','std','zeros_pct','min','median','max'].map(k=>`<td>${fmt(s[k])}</td>`).join('')+
      `<td>${d===null?'&ndash;':d}</td>`+
      `<td class="l">${s.top===undefined?'&ndash;':esc(s.top)}</td>`+
      `<td class="${f.linf>0.1?'drift':''}">${fmt(f.linf)}</td>`+
      `<td class="${f.js>0.1?'drift':''}">${fmt(f.js)}</td></tr>`);
  }
  const t = document.getElementById('overview');
  t.innerHTML = `<thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody>`;
  t.querySelectorAll('th').forEach(th=>th.onclick=()=>{
    const k = th.dataset.key; sortDir = k === sortKey ? -sortDir : 1; sortKey = k;
    renderTable();});
}
function legend(){return '<div class="legend muted">' + SPLITS.map((s,i)=>
  `<span style="background:${PALETTE[i%PALETTE.length]}"></span>${esc(s)}`).join('')+'</div>';}
function scale(values, log){
  const all = Object.values(values).flat().filter(v=>v>0);
  const top = Math.max(...all, 1e-12), low = Math.min(...all, 1) / 2;
  if (!log) return v => v / top;
  return v => v <= 0 ? 0 : (Math.log10(v) - Math.log10(low)) / (Math.log10(top) - Math.log10(low));
}
function shares(counts){const out={};for (const [s,c] of Object.entries(counts)){
  const t = c.reduce((a,b)=>a+b,0); out[s] = c.map(v=>t ? v/t : 0);} return out;}
function histogramSvg(h, log){
  const W = 380, H = 160, n = h.edges.length - 1, sh = shares(h.counts), y = scale(sh, log);
  const names = Object.keys(sh), gw = (W - 20) / Math.max(n,1), bw = gw * 0.85 / names.length;
  let p = '';
  for (let g = 0; g < n; g++) names.forEach((s,k)=>{
    const v = sh[s][g], hh = (H - 34) * y(v), x = 10 + g*gw + k*bw;
    p += `<rect x="${x.toFixed(1)}" y="${(H-20-hh).toFixed(1)}" width="${bw.toFixed(1)}" `+
      `height="${hh.toFixed(1)}" fill="${PALETTE[SPLITS.indexOf(s)%PALETTE.length]}"><title>`+
      `${esc(s)} [${fmt(h.edges[g])}, ${fmt(h.edges[g+1])}]: ${(v*100).toFixed(2)}% `+
      `(${fmt(h.counts[s][g],1)})</title></rect>`;});
  p += `<line x1="10" x2="${W-10}" y1="${H-20}" y2="${H-20}" stroke="#999"/>`;
  p += `<text x="10" y="${H-6}">${fmt(h.edges[0])}</text>`;
  p += `<text x="${W/2}" y="${H-6}" text-anchor="middle">${fmt((h.edges[0]+h.edges[n])/2)}</text>`;
  p += `<text x="${W-10}" y="${H-6}" text-anchor="end">${fmt(h.edges[n])}</text>`;
  p += `<text x="10" y="10">${log ? 'share of values (log scale)' : 'share of values'}</text>`;
  return `<svg width="${W}" height="${H}" class="hist">${p}</svg>`;
}
function categorySvg(c){
  const names = Object.keys(c.counts), sh = shares(c.counts), y = scale(sh, false);
  const row = 6*names.length + 6, W = 420, L = 120, H = row*c.values.length + 4;
  let p = '';
  c.values.forEach((v,g)=>{
    const y0 = 2 + g*row, t = v.length > 20 ? v.slice(0,19)+'\u2026' : v;
    p += `<text x="${L-4}" y="${(y0+row/2+3).toFixed(1)}" text-anchor="end">${esc(t)}</text>`;
    names.forEach((s,k)=>{const w = (W-L-10)*y(sh[s][g]);
      p += `<rect x="${L}" y="${y0+k*6}" width="${w.toFixed(1)}" height="5" fill="${
        PALETTE[SPLITS.indexOf(s)%PALETTE.length]}"><title>${esc(s)} ${esc(v)}: `+
        `${(sh[s][g]*100).toFixed(2)}% (${fmt(c.counts[s][g],1)})</title></rect>`;});});
  return `<svg width="${W}" height="${H}" class="cats">${p}</svg>`;
}
function quantileTable(f){
  const rows = Object.entries(f.splits).filter(([s,v])=>v.q);
  if (!rows.length) return '';
  const head = D.quantile_ranks.map(r=>`<th>${r}%</th>`).join('');
  return `<table class="quantiles"><tr><th class="l">quantiles</th>${head}</tr>` +
    rows.map(([s,v])=>`<tr><td class="l">${esc(s)}</td>${v.q.map(x=>`<td>${fmt(x)}</td>`)
    .join('')}</tr>`).join('') + '</table>';
}
function splitTable(f){
  const keys = f.kind === 'numeric' ? ['count','missing','mean','std','min','median','max',
    'zeros_pct','nonfinite'] : ['count','missing','distinct','top','top_count','avg_len'];
  return '<table><tr><th class="l">split</th>' + keys.map(k=>`<th>${k.replace('_pct',' %')
    .replace('nonfinite','NaN/Inf').replace('_',' ')}</th>`).join('') + '</tr>' +
    Object.entries(f.splits).map(([s,v])=>`<tr><td class="l">${esc(s)}</td>` + keys.map(k=>
    `<td>${fmt(v[k], ['count','missing','nonfinite','distinct','top_count'].includes(k))}</td>`)
    .join('') + '</tr>').join('') + '</table>';
}
function renderCard(card){
  const f = D.features[+card.dataset.i];
  let charts = '';
  if (f.cats) charts += '<div>' + (f.int_categories ? 'integer values (counts from the ' +
    'quantile sketch)' : 'top values') + '<br>' + categorySvg(f.cats) + '</div>';
  else if (f.hist) charts += `<div><label><input type="checkbox" class="log" ${f.hist.skewed ?
    'checked' : ''}> log scale${f.hist.skewed ? ' (skewed)' : ''}</label><br>` +
    `<span class="chart">${histogramSvg(f.hist, f.hist.skewed)}</span></div>`;
  const list = f.list ? `, ${f.list[0]}&ndash;${f.list[1]} values per row` : '';
  card.innerHTML = `<h3>${esc(f.name)} <span class="muted">${esc(f.type)} (${esc(f.arrow)})`+
    `${list}</span></h3><div class="row"><div>${splitTable(f)}${quantileTable(f)}</div>`+
    `${charts}</div>`;
  const box = card.querySelector('input.log');
  if (box) box.onchange = () => {
    card.querySelector('.chart').innerHTML = histogramSvg(f.hist, box.checked);};
}
function renderCards(){
  const box = document.getElementById('cards');
  box.innerHTML = D.features.map((f,i)=>`<div class="card" id="f${i}" data-i="${i}">`+
    `<h3>${esc(f.name)}</h3></div>`).join('');
  const seen = new IntersectionObserver(entries=>entries.forEach(e=>{
    if (e.isIntersecting){seen.unobserve(e.target); renderCard(e.target);}}),
    {rootMargin:'400px'});
  box.querySelectorAll('.card').forEach(c=>seen.observe(c));
}
const sel = document.getElementById('split');
sel.innerHTML = SPLITS.map(s=>`<option>${esc(s)}</option>`).join('');
sel.onchange = () => {split = sel.value; renderTable();};
document.getElementById('filter').oninput = renderTable;
document.getElementById('legend').innerHTML = legend();
renderTable(); renderCards();
"""


def embed_json(value: Any) -> str:
    """``value`` as JSON safe inside a ``<script>`` element (no ``</script>`` break-out)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(title: str, subtitle: str, figures: dict[str, Any], body: str) -> str:
    """The complete self-contained HTML document.

    Args:
        title: Page title (pipeline, run, artifact).
        subtitle: One line under it (already HTML).
        figures: What :func:`~.figures.report_figures` returned.
        body: Server-rendered HTML placed above the overview (split figures).
    """
    controls = ("<div class='controls'><label>split shown <select id='split'></select></label>"
                "<label>filter <input id='filter' placeholder='feature name'></label>"
                "<span class='muted'>click a column to sort; missing % is highlighted from 0 "
                "(yellow) to &ge; 50% (red); distances &gt; 0.1 in red</span></div>")
    compared = figures.get("compared")
    distance_note = (f"L-inf and JS compare {html.escape(compared[0])} with "
                     f"{html.escape(compared[1])} (JS: Jensen-Shannon divergence, base 2)."
                     if compared else "One split: no distance columns.")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><div class='muted'>{subtitle}</div>{body}"
            f"<h2>Features</h2><p class='muted'>{distance_note}</p>{controls}"
            "<table id='overview'></table><div id='legend'></div><h2>Feature details</h2>"
            "<div id='cards' class='cards'></div>"
            f"<script type='application/json' id='figures'>{embed_json(figures)}</script>"
            f"<script>{SCRIPT}</script></body></html>")
