// Charts of the analytics pages. The data comes from a <script type="application/json"> block
// (Django's json_script: data, never executed, so the strict CSP holds); each chart has a table
// beside it with the same figures, so the page is complete without JavaScript.
(() => {
  if (!window.Chart) return;
  const fmt = (iso) => {
    const d = new Date(iso);
    return d.toISOString().slice(5, 16).replace("T", " ");
  };
  const common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: "index", intersect: false },
    scales: { x: { ticks: { maxTicksLimit: 8 } }, y: { beginAtZero: true } },
  };
  // Lines without dots, except a series with a single value (one busy bucket): a line needs two.
  const dots = (values) => (values.filter((v) => v !== null && v !== undefined).length === 1 ? 4 : 0);
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const source = document.getElementById(canvas.dataset.source);
    if (!source) return;
    const data = JSON.parse(source.textContent);
    const labels = data.labels.map(fmt);
    const datasets =
      canvas.dataset.chart === "traffic"
        ? [
            { type: "bar", label: "Calls", data: data.calls, backgroundColor: "#0d6efd88" },
            { type: "line", label: "Errors", data: data.errors, borderColor: "#dc3545", pointRadius: 0 },
          ]
        : [
            { label: "p50", data: data.p50, borderColor: "#198754", pointRadius: dots(data.p50), spanGaps: true },
            { label: "p95", data: data.p95, borderColor: "#fd7e14", pointRadius: dots(data.p95), spanGaps: true },
            { label: "p99", data: data.p99, borderColor: "#dc3545", pointRadius: dots(data.p99), spanGaps: true },
          ];
    new window.Chart(canvas, { type: canvas.dataset.chart === "traffic" ? "bar" : "line", data: { labels, datasets }, options: common });
  });
})();
