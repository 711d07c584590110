// promptstage admin UI: small enhancements on top of htmx. Every action works without this file.
// No inline handlers anywhere (the Content-Security-Policy forbids them): behaviour is wired
// here from data- attributes.
(function () {
  "use strict";

  // <button data-copy="#snippet">: copy the text of the element the selector names.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
      });
    }
  });

  // <dialog> opened by htmx: a fragment swapped into #dialog opens as a modal; its
  // [data-close] buttons close it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.target.closest && event.target.closest("dialog");
    if (dialog && !dialog.open) dialog.showModal();
  });
  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-close]");
    if (!close) return;
    var dialog = close.closest("dialog");
    if (dialog) { event.preventDefault(); dialog.close(); }
  });
})();
