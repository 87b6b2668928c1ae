// dcwatch portal: progressive enhancement only (every page works without it).
document.addEventListener("submit", function (ev) {
  var form = ev.target;
  var btn = ev.submitter || form.querySelector("[type=submit]");
  if (btn && btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) {
    ev.preventDefault();
    return;
  }
  var action = form.querySelector("select[name=action]");
  if (action && action.value === "delete" && btn && btn.dataset.confirmDelete &&
      !window.confirm(btn.dataset.confirmDelete)) {
    ev.preventDefault();
    return;
  }
  if (action && (action.value === "close" || action.value === "close_exclude")) {
    var cls = form.querySelector("select[name=classification]");
    if (cls && !cls.value) {
      ev.preventDefault();
      cls.setCustomValidity("Choose a classification to close the alert");
      cls.reportValidity();
      cls.addEventListener("change", function () { cls.setCustomValidity(""); }, { once: true });
    }
  }
});
