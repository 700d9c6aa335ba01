// Small progressive enhancements; everything works without JavaScript.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const target = document.querySelector(button.dataset.copy);
  if (target && navigator.clipboard) {
    navigator.clipboard.writeText(target.textContent.trim());
    button.textContent = "Copied";
  }
});
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
// "Back" on error pages: the previous page when there is one, else the home page (its href).
document.addEventListener("click", (event) => {
  const link = event.target.closest("[data-back]");
  if (!link || window.history.length < 2) return;
  event.preventDefault();
  window.history.back();
});
// htmx: a form answered with its errors (400/409/…) is swapped in by the responseHandling rules
// in base.html's htmx-config. Here: banners of an earlier answer go before a new form is sent,
// and a failure that has no form to show (404, 500, network) says so instead of doing nothing.
function showAlert(text) {
  const box = document.getElementById("messages");
  if (!box) return;
  const alert = document.createElement("div");
  alert.className = "alert alert-danger";
  alert.setAttribute("role", "alert");
  alert.textContent = text;
  box.replaceChildren(alert);
}
document.addEventListener("htmx:beforeRequest", (event) => {
  const verb = (event.detail.requestConfig && event.detail.requestConfig.verb) || "get";
  if (verb !== "get") document.getElementById("messages")?.replaceChildren();
});
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr ? event.detail.xhr.status : "";
  showAlert(`The request failed (HTTP ${status}). Reload the page and try again.`);
});
document.addEventListener("htmx:sendError", () => {
  showAlert("The server could not be reached. Check your connection and try again.");
});
// A form answered with errors: move the focus to its error summary, so keyboard and screen
// reader users start from the list of problems (each links to its field).
function focusErrorSummary(root) {
  const summary = root.querySelector(".error-summary");
  if (summary) summary.focus();
}
document.addEventListener("DOMContentLoaded", () => focusErrorSummary(document));
document.addEventListener("htmx:afterSettle", (event) => focusErrorSummary(event.detail.elt || document));
// Phones show table rows as blocks (portal.css): each cell gets its column's name as a label.
// A region that scrolls sideways (a wide table, a long snippet) gets keyboard focus to scroll it.
function labelTables(root) {
  for (const table of root.querySelectorAll("table")) {
    const names = [...table.querySelectorAll(":scope > thead > tr > th")].map((th) => th.textContent.trim());
    if (!names.length) continue;
    for (const row of table.querySelectorAll(":scope > tbody > tr")) {
      let column = 0;
      for (const cell of row.children) {
        if (names[column] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", names[column]);
        column += cell.colSpan || 1;
      }
    }
  }
}
function focusScrollable(root) {
  for (const region of root.querySelectorAll(".table-responsive, pre")) {
    if (region.scrollWidth > region.clientWidth && !region.hasAttribute("tabindex")) region.setAttribute("tabindex", "0");
  }
}
document.addEventListener("DOMContentLoaded", () => {
  labelTables(document);
  focusScrollable(document);
});
// A swap may bring rows without their table (a tbody, a row): label the whole page again (cheap;
// labelled cells are skipped).
document.addEventListener("htmx:afterSwap", () => {
  labelTables(document);
  focusScrollable(document);
});
window.addEventListener("resize", () => focusScrollable(document));
