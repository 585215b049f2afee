// Submit the catalog's filter form as soon as a menu changes (no inline handlers: CSP).
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined) {
    target.form?.submit();
  }
});
