// Draws the overview's charts with the vendored Chart.js (no other host is reached).
// Each canvas gets data-drawn="true" once Chart.js has rendered it.
(function () {
  "use strict";
  function markDrawn(chart) { chart.canvas.dataset.drawn = "true"; }
  var drawnPlugin = { id: "drawnMarker", afterRender: markDrawn };

  function inflow(data) {
    var canvas = document.getElementById("chart-inflow");
    if (!canvas) return;
    data.datasets.forEach(function (set) { set.barPercentage = 0.9; set.categoryPercentage = 1.0; });
    new Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: data.datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: {
          x: { stacked: true, ticks: { maxTicksLimit: 24, maxRotation: 0, autoSkip: true },
               title: { display: Boolean(data.axis), text: data.axis } },
          y: { stacked: true, beginAtZero: true }
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 14 } },
          title: { display: true, text: data.title || "Dead letters per hour" },
          tooltip: { callbacks: { footer: function (items) {
            var fp = items.length ? data.datasets[items[0].datasetIndex].fingerprint : "";
            return fp && fp !== "other" ? "fingerprint " + fp : "";
          } } }
        }
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
