// Renders the reference docs of an API version with the vendored Redoc bundle.
// The spec is fetched as JSON from data-spec-url, never inlined into the page, and Redoc
// sanitises the Markdown inside it (providers write it; visitors read it).
document.addEventListener("DOMContentLoaded", () => {
  const container = document.getElementById("redoc-container");
  if (!container || !window.Redoc) return;
  window.Redoc.init(
    container.dataset.specUrl,
    {
      sanitize: true,
      hideDownloadButton: true,
      // Redoc's floating menu button is position: fixed: embedded in the catalog page it would
      // float over the page's own content at narrow widths.
      hideFab: true,
      expandResponses: "200,201",
      jsonSampleExpandLevel: 2,
      scrollYOffset: 0,
      theme: { typography: { fontSize: "15px" } },
    },
    container,
  );
  // Redoc's code and sample panels scroll when a line is long: give each such region keyboard
  // access (tabindex), as the rest of the portal does (axe: scrollable-region-focusable). Redoc
  // renders late and re-renders panels on tab changes, so watch the container, debounced.
  let pending = 0;
  const focusable = () => {
    pending = 0;
    for (const region of container.querySelectorAll('[role="tabpanel"] > div > div, [role="tabpanel"] pre, pre')) {
      if (region.hasAttribute("tabindex")) continue;
      if (region.scrollWidth > region.clientWidth || region.scrollHeight > region.clientHeight) {
        region.setAttribute("tabindex", "0");
      }
    }
  };
  new MutationObserver(() => {
    if (!pending) pending = window.setTimeout(focusable, 100);
  }).observe(container, { childList: true, subtree: true });
});
