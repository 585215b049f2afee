// Without htmx (it failed to load), a changed menu submits the form the plain way; with
// it, the form's hx-get swaps the results in place. No inline handlers: CSP.
if ("htmx" in window) {
  document.documentElement.classList.add("js"); // scrolling replaces the "Next" link
  // htmx sends the menus' current choices with a search; these copies of the choices
  // the page was rendered with would go stale as soon as a menu changes in place.
  for (const copy of document.querySelectorAll("[data-nojs]")) {
    copy.remove();
  }
}
document.addEventListener("change", (event) => {
  const target = event.target;
  if (
    target instanceof HTMLSelectElement &&
    target.dataset.autosubmit !== undefined &&
    !("htmx" in window)
  ) {
    target.form?.submit();
  }
});
