// 总览: draws each [data-chart] element's numbers with ECharts. The numbers come as JSON in
// the attribute (no inline script under the CSP); every chart's numbers are in the table
// beside it too. Canvas renderer and rich-text tooltips: HTML tooltips and the SVG
// renderer write style attributes, which the CSP refuses.
(function () {
  "use strict";
  var charts = [];

  function option(spec) {
    var twoAxes = spec.series.some(function (s) { return s.axis === 1; });
    var yAxis = [{ type: "value" }];
    if (twoAxes) yAxis.push({ type: "value", splitLine: { show: false } });
    return {
      // No animation when a machine drives the page (tests, screenshots) or the reader
      // asks for reduced motion: what is drawn is final at once.
      animation: !(navigator.webdriver ||
                   window.matchMedia("(prefers-reduced-motion: reduce)").matches),
      // ECharts' generated description reads every point aloud; ours names the chart
      // and points to the table that holds its numbers.
      aria: { enabled: true, label: { description: spec.description } },
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: spec.categories,
               axisLabel: { hideOverlap: true } },
      yAxis: yAxis,
      series: spec.series.map(function (s) {
        return { name: s.name, type: s.axis === 1 && spec.kind === "bar" ? "line" : spec.kind,
                 yAxisIndex: s.axis || 0, data: s.data, showSymbol: s.data.length < 40 };
      })
    };
  }

  function draw(el) {
    var spec = JSON.parse(el.getAttribute("data-chart"));
    var locale = document.documentElement.lang === "en" ? "EN" : "ZH";
    var chart = window.echarts.init(el, null, { renderer: "canvas", locale: locale });
    chart.on("finished", function () { el.setAttribute("data-chart-ready", "true"); });
    chart.setOption(option(spec));
    charts.push(chart);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.echarts) return;
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), draw);
    window.addEventListener("resize", function () {
      charts.forEach(function (chart) { chart.resize(); });
    });
  });
})();
