// Keyboard-first judging: every control on the judging page has a key (listed on the page).
// Listeners are delegated on the document, so they keep working after htmx swaps in the next item.
(function () {
  "use strict";
  var CHOICE_KEYS = { "1": "-2", "2": "-1", "3": "0", "4": "1", "5": "2" };
  var REASON_KEYS = { r: "relevance", i: "intent", v: "diversity", m: "missing", o: "other" };
  var selected = -1;

  function $(selector) { return document.querySelector(selector); }
  function cards() { return Array.prototype.slice.call(document.querySelectorAll("#judge-panel .product")); }
  function form() { return document.getElementById("judge-form"); }
  function isTyping(target) {
    return target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && /^(text|search|number|email|password)$/.test(target.type)));
  }

  function select(index) {
    var all = cards();
    if (!all.length) { return; }
    selected = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (card, i) { card.classList.toggle("selected", i === selected); });
    all[selected].focus({ preventScroll: false });
    all[selected].scrollIntoView({ block: "nearest" });
  }

  function selectedCard() { var all = cards(); return selected >= 0 ? all[selected] : null; }

  function jumpToSide(side) {
    var all = cards();
    var current = selectedCard();
    var rank = current ? Array.prototype.indexOf.call(current.parentNode.children, current) : 0;
    var list = all.filter(function (card) { return card.id.indexOf("card-" + side + "-") === 0; });
    if (!list.length) { return; }
    select(all.indexOf(list[Math.min(rank, list.length - 1)]));
  }

  function mark(grade) {
    var card = selectedCard();
    if (!card) { flash("Select a product first with j / k."); return; }
    var radio = card.querySelector('.marks input[value="' + grade + '"]');
    if (radio) { radio.checked = true; }
  }

  function clearMark() {
    var card = selectedCard();
    if (!card) { return; }
    card.querySelectorAll(".marks input").forEach(function (radio) { radio.checked = false; });
  }

  function choose(value) {
    var radio = form() && form().querySelector('input[name="choice"][value="' + value + '"]');
    if (radio) { radio.checked = true; radio.focus({ preventScroll: true }); }
  }

  // A key pressed right after a swap can come before htmx has wired the new form (it does so when the swap
  // settles); without this the form would be posted as a plain form and the page reloaded. process() is a no-op
  // for an element htmx has already wired.
  function wired(element) {
    if (element && window.htmx) { window.htmx.process(element.form || element); }
    return element;
  }

  function submit() {
    var f = form();
    if (!f) { return; }
    if (!f.querySelector('input[name="choice"]:checked')) { flash("Choose 1–5 first."); return; }
    wired(f).requestSubmit(document.getElementById("submit-button"));
  }

  function click(id) {
    var button = wired(document.getElementById(id));
    if (button && !button.disabled) { button.click(); }
  }

  function toggle(selector) { var d = $(selector); if (d) { d.open = !d.open; } }

  function flash(message, isError) {
    var panel = document.getElementById("judge-panel");
    if (!panel) { return; }
    var note = panel.querySelector(".key-hint") || document.createElement("p");
    note.className = "key-hint " + (isError ? "error" : "notice");
    note.setAttribute("role", isError ? "alert" : "status");
    note.textContent = message;
    panel.insertBefore(note, panel.querySelector(".judge-form") || panel.firstChild);
  }

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("judge-panel")) { return; }
    var target = event.target;
    if (isTyping(target)) {
      if (event.key === "Escape") { target.blur(); document.getElementById("judge-panel").focus(); event.preventDefault(); }
      else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); submit(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.shiftKey && /^Digit[0-3]$/.test(event.code)) { event.preventDefault(); mark(event.code.slice(-1)); return; }
    var key = event.key;
    var handled = true;
    if (!event.shiftKey && CHOICE_KEYS[key] !== undefined) { choose(CHOICE_KEYS[key]); }
    else if (key === "Enter") {
      if (target && (target.tagName === "BUTTON" || target.tagName === "A" || target.tagName === "SUMMARY")) { return; }
      submit();
    }
    else if (key === "s") { click("skip-button"); }
    else if (key === "u") { click("undo-button"); }
    else if (key === "c") { var c = document.getElementById("comment"); if (c) { c.focus(); } }
    else if (REASON_KEYS[key]) {
      var box = form() && form().querySelector('input[name="reasons"][value="' + REASON_KEYS[key] + '"]');
      if (box) { box.checked = !box.checked; }
    }
    else if (key === "j" || key === "ArrowDown") { select(selected + 1); }
    else if (key === "k" || key === "ArrowUp") { select(selected - 1); }
    else if (key === "h" || key === "ArrowLeft") { jumpToSide("l"); }
    else if (key === "l" || key === "ArrowRight") { jumpToSide("r"); }
    else if (key === "e") { var card = selectedCard(); var d = card && card.querySelector("details"); if (d) { d.open = !d.open; } }
    else if (key === "Backspace") { clearMark(); }
    else if (key === "g") { toggle("details.instructions"); }
    else if (key === "?") { toggle("#shortcuts"); }
    else { handled = false; }
    if (handled) { event.preventDefault(); }
  });

  // A fresh item: nothing selected, keyboard focus on the panel (not on a stale, removed element).
  document.body.addEventListener("htmx:afterSwap", function () {
    var panel = document.getElementById("judge-panel");
    if (panel) { selected = -1; panel.focus({ preventScroll: true }); window.scrollTo(0, 0); }
  });

  // htmx swaps nothing when a request fails, so without this a failed submit, skip or undo would pass
  // silently. The panel says what happened: a plain-text answer is the server's own explanation (the database
  // was busy, say); anything else is named by its status.
  function fromPanel(event) {
    var elt = event.detail && event.detail.elt;
    return Boolean(elt && elt.closest && elt.closest("#judge-panel"));
  }
  document.body.addEventListener("htmx:responseError", function (event) {
    if (!fromPanel(event)) { return; }
    var xhr = event.detail.xhr;
    var plain = /^text\/plain/.test(xhr.getResponseHeader("Content-Type") || "");
    flash(plain && xhr.responseText ? xhr.responseText.trim() :
      "The server could not do this (HTTP " + xhr.status + "). Please try again; if it keeps failing, reload the page.",
      true);
  });
  document.body.addEventListener("htmx:sendError", function (event) {
    if (!fromPanel(event)) { return; }
    flash("No answer came from the server. Check your connection and try again.", true);
  });
})();
