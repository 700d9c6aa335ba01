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
