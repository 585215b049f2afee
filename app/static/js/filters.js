// Without htmx (it failed to load), a changed menu submits the form the plain way; with
// it, the form's hx-get swaps the results in place. No inline handlers: CSP.
if ("htmx" in window) {
  document.documentElement.classList.add("js"); // infinite scroll replaces the pager
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
