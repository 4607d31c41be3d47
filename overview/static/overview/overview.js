// Draws the overview's charts with the vendored Chart.js (no other host is reached).
// Each canvas gets data-drawn="true" once Chart.js has rendered it.
(function () {
  "use strict";
  function markDrawn(chart) { chart.canvas.dataset.drawn = "true"; }
  var drawnPlugin = { id: "drawnMarker", afterRender: markDrawn };

  function inflow(data) {
    var canvas = document.getElementById("chart-inflow");
    if (!canvas) return;
    new Chart(canvas, {
      type: "bar",
      data: data,
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true, ticks: { maxTicksLimit: 14 } }, y: { stacked: true, beginAtZero: true } },
        plugins: { legend: { position: "bottom" }, title: { display: true, text: "Dead letters per hour, last 7 days" } }
      },
      plugins: [drawnPlugin]
    });
  }

  function sparklines(lines) {
    document.querySelectorAll("canvas.sparkline").forEach(function (canvas) {
      var values = lines[canvas.dataset.group] || [];
      new Chart(canvas, {
        type: "line",
        data: { labels: values.map(function (_, i) { return i; }), datasets: [{ data: values, borderWidth: 1.5, pointRadius: 0, fill: false }] },
        options: {
          animation: false, responsive: false, events: [],
          scales: { x: { display: false }, y: { display: false, beginAtZero: true } },
          plugins: { legend: { display: false }, tooltip: { enabled: false } }
        },
        plugins: [drawnPlugin]
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("overview-charts");
    if (!source || typeof Chart === "undefined") return;
    var charts = JSON.parse(source.textContent);
    inflow(charts.inflow);
    sparklines(charts.sparklines);
  });
})();
