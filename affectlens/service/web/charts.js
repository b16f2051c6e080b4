// Plain SVG charts for per-minute series: no library, nothing fetched at run time.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const CHART = { width: 720, height: 200, left: 40, right: 10, top: 10, bottom: 24 };

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function chartFrame(minutes, maxValue, yLabel) {
  const svg = svgElement("svg", { viewBox: `0 0 ${CHART.width} ${CHART.height}`, role: "img" });
  const innerW = CHART.width - CHART.left - CHART.right;
  const innerH = CHART.height - CHART.top - CHART.bottom;
  const x = (i) => CHART.left + (minutes.length > 1 ? (i / (minutes.length - 1)) * innerW : 0);
  const y = (v) => CHART.top + innerH - (maxValue > 0 ? (v / maxValue) * innerH : 0);
  svg.append(svgElement("line", { x1: CHART.left, y1: y(0), x2: CHART.width - CHART.right,
                                  y2: y(0), class: "axis" }));
  svg.append(svgElement("text", { x: 2, y: CHART.top + 10, class: "tick" }, yLabel));
  svg.append(svgElement("text", { x: 2, y: y(0), class: "tick" }, "0"));
  const ticks = Math.min(6, minutes.length);
  for (let t = 0; t < ticks; t++) {
    const i = Math.round((t / Math.max(1, ticks - 1)) * (minutes.length - 1));
    const when = new Date(minutes[i]);
    // The browser's locale (AM/PM where it has it); the first label starts at its tick, the
    // last ends at it, so neither is cut off at the chart's edge.
    const label = when.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    const anchor = i === 0 ? "start" : i === minutes.length - 1 ? "end" : "middle";
    svg.append(svgElement("text", { x: x(i), y: CHART.height - 6, class: "tick",
                                    "text-anchor": anchor }, label));
  }
  return { svg, x, y };
}

function legend(names, colours) {
  const list = document.createElement("ul");
  list.className = "legend";
  names.forEach((name, i) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colours[i % colours.length];
    item.append(swatch, document.createTextNode(name));
    list.append(item);
  });
  return list;
}

const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"];

// Lines, one per named series of equal length.
function lineChart(container, minutes, series) {
  const names = Object.keys(series);
  const maxValue = Math.max(1, ...names.flatMap((n) => series[n]));
  const { svg, x, y } = chartFrame(minutes, maxValue, String(maxValue));
  names.forEach((name, k) => {
    const points = series[name].map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    svg.append(svgElement("polyline", { points: points.join(" "), fill: "none",
                                        stroke: COLOURS[k % COLOURS.length],
                                        "stroke-width": 2, "data-series": name }));
  });
  container.replaceChildren(svg, legend(names, COLOURS));
}

// Stacked shares per minute (each column sums to 1 where there is anything).
function shareChart(container, minutes, series) {
  const names = Object.keys(series);
  const { svg, x, y } = chartFrame(minutes, 1, "100%");
  const step = minutes.length > 1 ? x(1) - x(0) : 10;
  minutes.forEach((_, i) => {
    const total = names.reduce((sum, n) => sum + series[n][i], 0);
    if (total === 0) return;
    let below = 0;
    names.forEach((name, k) => {
      const share = series[name][i] / total;
      if (share === 0) return;
      svg.append(svgElement("rect", {
        x: (x(i) - step / 2).toFixed(1), y: y(below + share).toFixed(1),
        width: Math.max(1, step).toFixed(1), height: (y(below) - y(below + share)).toFixed(1),
        fill: COLOURS[k % COLOURS.length],
      }));
      below += share;
    });
  });
  container.replaceChildren(svg, legend(names, COLOURS));
}

window.charts = { lineChart, shareChart };
