// A small line chart on a canvas: the last minute of one measure, one sample a second, with
// its scale written beside it (top, middle, zero; a minute ago, now). Samples are kept per
// measure for the page's life, so coming back to a view shows the minute already seen.

import { h } from './dom.js';

/** How far back a chart reaches (ms). */
const SPAN = 60_000;
/** Samples of every measure seen in this page, by key: `[{ t, v }]`. */
const history = new Map();

export class Chart {
  /**
   * @param {string} title    what is measured ("CPU")
   * @param {(v: number, max: number) => string} format  a reading as text
   * @param {string} key      the measure's name in the page's history ("node:ID:cpu")
   * @param {(v: number) => string} tick  a value of the scale as text
   */
  constructor(title, format, key, tick = format) {
    Object.assign(this, { title, format, key, tick, max: 1 });
    if (!history.has(key)) history.set(key, []);
    this.values = history.get(key);
    this.canvas = h('canvas', { role: 'img', 'aria-label': `${title}: no sample yet` });
    this.output = h('output', { class: 'reading' }, '–');
    this.scale = [h('span', { class: 'y-max' }), h('span', { class: 'y-mid' }), h('span', { class: 'y-zero' })];
    this.el = h('figure', { class: 'chart', 'data-samples': String(this.values.length) },
      h('figcaption', null, title, ' ', this.output),
      h('div', { class: 'plot' }, h('div', { class: 'y-axis', 'aria-hidden': 'true' }, this.scale), this.canvas),
      h('div', { class: 'x-axis', 'aria-hidden': 'true' }, h('span', null, '60 s ago'), h('span', null, 'now')));
    this.prune();
    if (this.values.length) this.show(this.values.at(-1).v, this.values.at(-1).max);
  }

  /** Add a sample; `max` is the top of the scale (100 for percentages, the total or the
   * reservation for memory), 0 to scale to the highest sample. */
  push(value, max) {
    this.values.push({ t: Date.now(), v: value, max });
    this.prune();
    this.show(value, max);
  }

  prune() {
    const old = Date.now() - SPAN;
    while (this.values.length && this.values[0].t < old) this.values.shift();
  }

  show(value, max) {
    this.max = max > 0 ? max : Math.max(1, ...this.values.map((s) => s.v));
    const text = this.format(value, this.max);
    this.output.textContent = text;
    this.canvas.setAttribute('aria-label', `${this.title}: ${text}`);
    this.el.setAttribute('data-samples', String(this.values.length));
    this.scale[0].textContent = this.tick(this.max);
    this.scale[1].textContent = this.tick(this.max / 2);
    this.scale[2].textContent = this.tick(0);
    // Drawn once laid out (a chart made before its view is in the page has no size yet).
    requestAnimationFrame(() => this.draw());
  }

  draw() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext('2d');
    const style = getComputedStyle(canvas);
    ctx.clearRect(0, 0, width, height);
    ctx.strokeStyle = style.borderColor;
    ctx.lineWidth = 1;
    for (const f of [0, 0.5, 1]) {
      const y = Math.min(height - 0.5, Math.round(height * f) + 0.5);
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(width, y);
      ctx.stroke();
    }
    if (!this.values.length) return;
    const now = Date.now();
    const x = (t) => width - ((now - t) / SPAN) * width;
    const y = (v) => height - Math.min(1, Math.max(0, v / this.max)) * (height - 2 * ratio) - ratio;
    ctx.beginPath();
    this.values.forEach((s, i) => (i ? ctx.lineTo(x(s.t), y(s.v)) : ctx.moveTo(x(s.t), y(s.v))));
    ctx.strokeStyle = style.color;
    ctx.lineWidth = 2 * ratio;
    ctx.stroke();
    ctx.lineTo(x(this.values.at(-1).t), height);
    ctx.lineTo(x(this.values[0].t), height);
    ctx.closePath();
    ctx.globalAlpha = 0.15;
    ctx.fillStyle = style.color;
    ctx.fill();
    ctx.globalAlpha = 1;
  }
}

/**
 * Call `tick` now and every `seconds` until the view is left; errors go to `onError`. A
 * refusal or a missing resource (403, 404) stops the polling: asking again will not change
 * the answer (signing in re-renders the view).
 */
export function every(ctx, seconds, tick, onError) {
  let timer;
  const run = async () => {
    try {
      await tick();
      onError(null);
    } catch (err) {
      if (err.name === 'AbortError') return;
      const final = err.status === 403 || err.status === 404;
      if (final) err.message = `${err.message} (No longer checking.)`;
      onError(err);
      if (final) return;
    }
    if (!ctx.signal.aborted) timer = setTimeout(run, seconds * 1000);
  };
  ctx.onLeave(() => clearTimeout(timer));
  run();
}

export const percent = (v) => `${v.toFixed(1)} %`;
