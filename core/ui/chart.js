// A small line chart on a canvas: the last minute of one measure, one sample a second.

import { h } from './dom.js';

const KEEP = 60;

export class Chart {
  /**
   * @param {string} title    what is measured ("CPU")
   * @param {(v: number, max: number) => string} format  a value as text
   */
  constructor(title, format) {
    this.title = title;
    this.format = format;
    this.values = [];
    this.max = 1;
    this.count = 0;
    this.canvas = h('canvas', { role: 'img', 'aria-label': `${title}: no sample yet` });
    this.output = h('output', { class: 'reading' }, '–');
    this.el = h('figure', { class: 'chart', 'data-samples': '0' },
      h('figcaption', null, title, ' ', this.output), this.canvas);
  }

  /** Add a sample; `max` is the top of the scale (100 for percentages, the total for memory). */
  push(value, max) {
    this.values.push(value);
    if (this.values.length > KEEP) this.values.shift();
    this.max = max > 0 ? max : Math.max(1, ...this.values);
    this.count += 1;
    const text = this.format(value, this.max);
    this.output.textContent = text;
    this.canvas.setAttribute('aria-label', `${this.title}: ${text}`);
    this.el.setAttribute('data-samples', String(this.count));
    this.draw();
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
    for (const f of [0.25, 0.5, 0.75]) {
      const y = Math.round(height * f) + 0.5;
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(width, y);
      ctx.stroke();
    }
    if (!this.values.length) return;
    const step = width / (KEEP - 1);
    const x0 = width - step * (this.values.length - 1);
    const y = (v) => height - Math.min(1, Math.max(0, v / this.max)) * (height - 2 * ratio) - ratio;
    ctx.beginPath();
    this.values.forEach((v, i) => (i ? ctx.lineTo(x0 + i * step, y(v)) : ctx.moveTo(x0, y(v))));
    ctx.strokeStyle = style.color;
    ctx.lineWidth = 2 * ratio;
    ctx.stroke();
    ctx.lineTo(x0 + (this.values.length - 1) * step, height);
    ctx.lineTo(x0, height);
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
