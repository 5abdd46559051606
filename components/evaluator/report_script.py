"""The Evaluator report's inline style and script: per-slice bars with a metric selector, a
sortable slice table, baseline vs candidate per slice, ROC / PR curves and the calibration
plot, all drawn from the JSON embedded in the page (no network, no library)."""

from __future__ import annotations

import json
from typing import Any

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:26px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
th.sort{cursor:pointer}th.asc:after{content:" \\25B2"}th.desc:after{content:" \\25BC"}
.ok{color:#176b2c;font-weight:bold}.bad{color:#b00020;font-weight:bold}.warn{color:#8a5a00}
.muted{color:#666;font-size:12px}.row{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start}
.controls{margin:8px 0;display:flex;gap:16px}svg text{font-size:10px;fill:#444}
.worse{background:#ffe0e0}.better{background:#e2f4e6}"""

SCRIPT = r"""
const E = JSON.parse(document.getElementById('evaluation').textContent);
const COLOR = {candidate:'#4e79a7', baseline:'#f28e2b'};
function esc(s){return String(s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;',
  '"':'&quot;',"'":'&#39;'}[c]));}
function fmt(x, count){
  if (x === null || x === undefined) return '&ndash;';
  if (count) return Math.round(x).toLocaleString('en-US');
  const a = Math.abs(x);
  if (a !== 0 && a < 1e-4) return x.toExponential(2);
  return x.toLocaleString('en-US',{minimumFractionDigits:4, maximumFractionDigits:4});
}
const isCount = m => m.includes('count');
function metricOf(s, model, m){return ((s[model]||{}).metrics||{})[m];}
function options(id, values, chosen){
  const el = document.getElementById(id);
  el.innerHTML = values.map(v=>`<option${v===chosen?' selected':''}>${esc(v)}</option>`).join('');
  return el;
}
function sliceBars(m){
  const S = E.slices, models = E.has_baseline ? ['candidate','baseline'] : ['candidate'];
  const vals = S.flatMap(s=>models.map(k=>metricOf(s,k,m))).filter(v=>v!==null&&v!==undefined);
  const top = Math.max(...vals.map(Math.abs), 1e-12), L = 170, W = 560, row = 8*models.length+8;
  let p = '';
  S.forEach((s,i)=>{
    const y0 = 4 + i*row, name = s.slice.length > 28 ? s.slice.slice(0,27)+'\u2026' : s.slice;
    p += `<text x="${L-6}" y="${y0+row/2+2}" text-anchor="end">${esc(name)}</text>`;
    models.forEach((k,j)=>{const v = metricOf(s,k,m); if (v===null||v===undefined) return;
      const w = (W-L-70)*Math.abs(v)/top;
      p += `<rect x="${L}" y="${y0+j*8}" width="${w.toFixed(1)}" height="7" fill="${COLOR[k]}">`+
        `<title>${esc(s.slice)} ${k}: ${fmt(v, isCount(m))}</title></rect>`+
        `<text x="${L+w+4}" y="${y0+j*8+7}">${fmt(v, isCount(m))}</text>`;});
  });
  return `<svg width="${W}" height="${S.length*row+8}">${p}</svg>`;
}
let sortCol = null, sortDir = 1;
function sliceTable(){
  const cols = ['slice','example_count', ...E.metrics.filter(m=>m!=='example_count')];
  const rows = E.slices.slice();
  if (sortCol !== null) rows.sort((a,b)=>{
    const x = sortCol==='slice' ? a.slice : metricOf(a,'candidate',sortCol);
    const y = sortCol==='slice' ? b.slice : metricOf(b,'candidate',sortCol);
    if (x===null||x===undefined) return 1; if (y===null||y===undefined) return -1;
    return (x<y?-1:x>y?1:0)*sortDir;});
  const head = cols.map(c=>`<th class="sort${c===sortCol?(sortDir>0?' asc':' desc'):''}" `+
    `data-c="${esc(c)}">${esc(c==='example_count'?'examples':c)}</th>`).join('');
  const body = rows.map(s=>'<tr>'+cols.map(c=>c==='slice'?`<td>${esc(s.slice)}</td>`:
    `<td>${fmt(metricOf(s,'candidate',c), isCount(c))}</td>`).join('')+'</tr>').join('');
  const t = document.getElementById('slice-table');
  t.innerHTML = `<thead><tr>${head}</tr></thead><tbody>${body}</tbody>`;
  t.querySelectorAll('th').forEach(th=>th.onclick=()=>{
    sortDir = th.dataset.c === sortCol ? -sortDir : 1; sortCol = th.dataset.c; sliceTable();});
}
function compareTable(m){
  if (!E.has_baseline) return '<p class="muted">No comparable baseline model.</p>';
  const lower = E.lower_is_better.includes(m);
  return '<table><tr><th>slice</th><th>examples</th><th>candidate</th><th>baseline</th>'+
    '<th>candidate &minus; baseline</th></tr>' + E.slices.map(s=>{
      const c = metricOf(s,'candidate',m), b = metricOf(s,'baseline',m);
      const d = (c===null||c===undefined||b===null||b===undefined) ? null : c - b;
      const cls = d===null||d===0 ? '' : (d>0) !== lower ? 'better' : 'worse';
      return `<tr><td>${esc(s.slice)}</td><td>${fmt(s.example_count,true)}</td>`+
        `<td>${fmt(c,isCount(m))}</td><td>${fmt(b,isCount(m))}</td>`+
        `<td class="${cls}">${d===null?'&ndash;':(d>0?'+':'')+fmt(d,isCount(m))}</td></tr>`;
    }).join('') + '</table>';
}
function lineChart(series, xl, yl, diagonal, dots){
  const W = 300, H = 260, L = 36, B = 30, w = W-L-10, h = H-B-10;
  const X = x=>L+x*w, Y = y=>10+(1-y)*h;
  let p = `<rect x="${L}" y="10" width="${w}" height="${h}" fill="none" stroke="#bbb"/>`;
  [0,0.5,1].forEach(t=>{p += `<text x="${X(t)}" y="${H-B+12}" text-anchor="middle">${t}</text>`+
    `<text x="${L-4}" y="${Y(t)+3}" text-anchor="end">${t}</text>`;});
  p += `<text x="${L+w/2}" y="${H-4}" text-anchor="middle">${xl}</text>`+
    `<text x="10" y="${10+h/2}" transform="rotate(-90 10 ${10+h/2})" text-anchor="middle">`+
    `${yl}</text>`;
  if (diagonal) p += `<line x1="${X(0)}" y1="${Y(0)}" x2="${X(1)}" y2="${Y(1)}" `+
    'stroke="#999" stroke-dasharray="4 3"/>';
  series.forEach(s=>{
    const pts = s.xs.map((x,i)=>[x,s.ys[i]]).filter(([x,y])=>x!==null&&y!==null);
    if (dots) pts.forEach(([x,y],i)=>{p += `<circle cx="${X(x).toFixed(1)}" `+
      `cy="${Y(y).toFixed(1)}" r="${s.r?s.r[i]:3}" fill="${s.color}" fill-opacity=".7">`+
      `<title>${s.tips?s.tips[i]:''}</title></circle>`;});
    else p += `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${
      pts.map(([x,y])=>X(x).toFixed(1)+','+Y(y).toFixed(1)).join(' ')}"/>`;
  });
  const legend = series.map(s=>`<span style="color:${s.color}">&#9632;</span> ${esc(s.name)}`)
    .join(' &nbsp; ');
  return `<div><svg width="${W}" height="${H}">${p}</svg><div class="muted">${legend}</div></div>`;
}
function curves(){
  const s = E.slices[+document.getElementById('curve-slice').value];
  const cls = document.getElementById('curve-class').value;
  const models = ['candidate','baseline'].filter(k=>s[k]);
  const got = models.map(k=>[k, (((s[k].curves||{}).classes)||{})[cls]]).filter(x=>x[1]);
  const out = document.getElementById('curves');
  if (!got.length){out.innerHTML = '<p class="muted">No curve: this slice holds one class '+
    'only.</p>'; return;}
  const roc = got.map(([k,c])=>({name:`${k} (AUC ${fmt(auc(c))})`, color:COLOR[k],
    xs:c.fpr, ys:c.tpr}));
  const pr = got.map(([k,c])=>({name:k, color:COLOR[k], xs:c.recall, ys:c.precision}));
  const cal = models.map(k=>{const t = (s[k].calibration||[]).filter(b=>b.count);
    const most = Math.max(...t.map(b=>b.count), 1);
    return {name:`${k} (top-label confidence)`, color:COLOR[k], xs:t.map(b=>b.mean_confidence),
      ys:t.map(b=>b.accuracy), r:t.map(b=>2+6*Math.sqrt(b.count/most)), tips:t.map(b=>
      `${b.lower.toFixed(2)}-${b.upper.toFixed(2)}: ${fmt(b.count,true)} examples, `+
      `confidence ${fmt(b.mean_confidence)}, accuracy ${fmt(b.accuracy)}`)};});
  out.innerHTML = '<div class="row">' +
    lineChart(roc,'false positive rate','true positive rate',true,false) +
    lineChart(pr,'recall','precision',false,false) +
    lineChart(cal,'mean confidence','accuracy',true,true) + '</div>';
}
function auc(c){let a = 0; for (let i = 1; i < c.fpr.length; i++)
  a += (c.fpr[i]-c.fpr[i-1])*(c.tpr[i]+c.tpr[i-1])/2; return a;}
if (E.metrics.length){
  const pick = options('metric', E.metrics.filter(m=>m!=='example_count'), E.default_metric);
  const draw = ()=>{document.getElementById('slice-bars').innerHTML = sliceBars(pick.value);
    document.getElementById('compare').innerHTML = compareTable(pick.value);};
  pick.onchange = draw; draw(); sliceTable();
}
if (E.curve_classes.length){
  const sl = document.getElementById('curve-slice');
  sl.innerHTML = E.slices.map((s,i)=>`<option value="${i}">${esc(s.slice)}</option>`).join('');
  const cl = options('curve-class', E.curve_classes, E.curve_classes[0]);
  sl.onchange = curves; cl.onchange = curves; curves();
}
"""


def embed_json(value: Any) -> str:
    """``value`` as JSON safe inside a ``<script>`` element."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
