// A campaign's controls ask first: starting calls people, cancelling cannot be undone.
document.querySelectorAll(".campaign-control-forms form[data-confirm]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});
