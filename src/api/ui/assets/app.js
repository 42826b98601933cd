// simgate status page: live sections over server-sent events, local times, texts on request.
// The server renders every section; this script only swaps them in. No framework.
"use strict";
(function () {
  var live = document.getElementById("live");
  var url = document.body.getAttribute("data-live");
  // Texts the user chose to see, by message id: kept across section updates.
  var shown = {};

  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var d = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(d)) {
        times[i].textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
        times[i].title = d.toLocaleString();
      }
    }
  }

  function setText(id, text) {
    var out = document.getElementById("t-" + id);
    var link = document.querySelector('[data-reveal="' + CSS.escape(id) + '"]');
    if (out) out.textContent = text === undefined ? "" : text;
    if (link) {
      link.textContent = text === undefined ? "Show text" : "Hide text";
      link.setAttribute("aria-expanded", text === undefined ? "false" : "true");
    }
  }

  function swap(name, html) {
    var box = document.getElementById("live-" + name);
    if (!box) return;
    // Keep open <details> open and shown texts shown.
    var open = [];
    var details = box.querySelectorAll("details[id]");
    for (var i = 0; i < details.length; i++) if (details[i].open) open.push(details[i].id);
    var closed = [];
    for (i = 0; i < details.length; i++) if (!details[i].open) closed.push(details[i].id);
    box.innerHTML = html;
    for (i = 0; i < open.length; i++) {
      var d = document.getElementById(open[i]);
      if (d) d.open = true;
    }
    for (i = 0; i < closed.length; i++) {
      var c = document.getElementById(closed[i]);
      if (c) c.open = false;
    }
    for (var id in shown) setText(id, shown[id]);
    localTimes(box);
  }

  document.addEventListener("click", function (e) {
    var link = e.target.closest ? e.target.closest("[data-reveal]") : null;
    if (!link) return;
    e.preventDefault();
    var id = link.getAttribute("data-reveal");
    if (id in shown) {
      delete shown[id];
      setText(id);
      return;
    }
    fetch(link.getAttribute("href"), { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.text();
    }).then(function (text) {
      shown[id] = text;
      setText(id, text);
    }, function () {
      setText(id, "(could not load the text)");
    });
  });

  localTimes(document);
  if (!url || !window.EventSource) return;
  var source = new EventSource(url);
  var names = ["modems", "traffic", "messages", "verifications", "webhooks", "activity"];
  names.forEach(function (name) {
    source.addEventListener(name, function (e) { swap(name, e.data); });
  });
  // The session ended (logout elsewhere, expiry, restart): show the login form.
  source.addEventListener("logout", function () {
    source.close();
    window.location.reload();
  });
  source.addEventListener("open", function () {
    live.textContent = "Live";
    live.className = "small on";
  });
  source.addEventListener("error", function () {
    live.textContent = "Reconnecting…";
    live.className = "small off";
    // Refused (401: the session is gone), not merely cut: the reload shows the login form.
    if (source.readyState === EventSource.CLOSED) setTimeout(function () { window.location.reload(); }, 2000);
  });
})();
