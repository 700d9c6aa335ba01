// The try-it console (templates/console/partials/): fills the form from the OpenAPI examples,
// sends through the portal's relay (same origin, CSRF header), shows the answer.
// The console key never reaches this page: the relay adds it server-side.
(function () {
  "use strict";

  var BODYLESS = { GET: true, HEAD: true, OPTIONS: true };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function post(url, csrf, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(payload || {})
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === 0) {
        return response.json().then(function (data) { return { ok: response.ok, status: response.status, data: data }; });
      }
      var message = response.status === 404 ? "Not found (or not yours)." : "The portal answered " + response.status + ".";
      if (response.redirected || response.status === 302) message = "Your session ended: sign in again.";
      return { ok: false, status: response.status, data: { error: { message: message } } };
    });
  }

  function init(root) {
    var endpoints = JSON.parse(document.getElementById(root.dataset.endpoints).textContent);
    var part = function (role) { return root.querySelector("[data-role=" + role + "]"); };
    var csrf = root.dataset.csrf;
    var app = part("app");
    var fields = [];
    var opened = {};

    function current() { return endpoints[Number(part("endpoint").value)] || endpoints[0]; }

    function render() {
      var endpoint = current();
      var params = part("params");
      params.textContent = "";
      fields = [];
      endpoint.params.forEach(function (param, i) {
        var id = "console-param-" + i;
        var col = el("div", { "class": "col-sm-6" });
        var label = el("label", { "class": "form-label small mb-1", "for": id }, param.name + " (" + param.in + (param.required ? ", required" : "") + ")");
        var input = el("input", { "class": "form-control form-control-sm", id: id, type: "text", autocomplete: "off", spellcheck: "false" });
        input.value = param.example || "";
        if (param.description) input.setAttribute("title", param.description);
        input.addEventListener("input", showUrl);
        col.appendChild(label);
        col.appendChild(input);
        params.appendChild(col);
        fields.push({ param: param, input: input });
      });
      var bodyless = BODYLESS[endpoint.method];
      part("body-group").hidden = !!bodyless;
      part("body").value = bodyless ? "" : endpoint.body;
      part("headers").value = "Accept: application/json" + (!bodyless && endpoint.content_type ? "\nContent-Type: " + endpoint.content_type : "");
      part("method").textContent = endpoint.method;
      showUrl();
    }

    function path() {
      var endpoint = current();
      var values = {};
      fields.forEach(function (f) { if (f.param.in === "path") values[f.param.name] = f.input.value; });
      return endpoint.path.replace(/\{([^}/]+)\}/g, function (_, name) {
        return values[name] ? encodeURIComponent(values[name]) : "{" + name + "}";
      });
    }

    function query() {
      return fields.filter(function (f) { return f.param.in === "query" && (f.input.value !== "" || f.param.required); })
        .map(function (f) { return [f.param.name, f.input.value]; });
    }

    function headers() {
      var list = [];
      part("headers").value.split("\n").forEach(function (line) {
        var at = line.indexOf(":");
        if (line.trim() && at > 0) list.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
      });
      fields.forEach(function (f) { if (f.param.in === "header" && f.input.value !== "") list.push([f.param.name, f.input.value]); });
      return list;
    }

    function showUrl() {
      var q = query().map(function (p) { return encodeURIComponent(p[0]) + "=" + encodeURIComponent(p[1]); }).join("&");
      part("url").textContent = path() + (q ? "?" + q : "");
    }

    function state(text) { part("state").textContent = text; }

    function openSession() {
      if (!app) return;
      var option = app.options[app.selectedIndex];
      var session = part("session");
      session.textContent = "Preparing a console key…";
      opened[option.dataset.close] = true;
      post(option.dataset.open, csrf).then(function (answer) {
        if (!answer.ok) { session.textContent = answer.data.error.message; return; }
        var until = new Date(answer.data.expires_at);
        session.textContent = "Console key ready (valid until " + until.toLocaleTimeString() + "; renewed as needed).";
      }).catch(function () { session.textContent = "Could not reach the portal."; });
    }

    function show(answer) {
      var box = part("answer");
      var badge = part("status");
      box.hidden = false;
      badge.textContent = String(answer.status);
      badge.className = "badge " + (answer.status < 300 ? "text-bg-success" : answer.status < 500 ? "text-bg-warning" : "text-bg-danger");
      part("timing").textContent = answer.time_ms + " ms · " + answer.size + " bytes" + (answer.truncated ? " (truncated)" : "") + " · via " + answer.via;
      part("notes").textContent = (answer.notes || []).join(" ");
      part("answer-headers").textContent = answer.headers.map(function (h) { return h[0] + ": " + h[1]; }).join("\n");
      var body = answer.body;
      if (!answer.truncated && /json/.test(answer.content_type || "")) {
        try { body = JSON.stringify(JSON.parse(body), null, 2); } catch (e) { /* shown as received */ }
      }
      part("answer-body").textContent = body;
    }

    function send() {
      var endpoint = current();
      var missing = fields.filter(function (f) { return f.param.required && f.param.in === "path" && !f.input.value; });
      if (missing.length) { state("Fill in " + missing.map(function (f) { return f.param.name; }).join(", ") + "."); return; }
      var url = app ? app.options[app.selectedIndex].dataset.send : root.dataset.send;
      var payload = { method: endpoint.method, path: path(), query: query(), headers: headers(), body: part("body").value };
      if (root.dataset.version) payload.version = Number(root.dataset.version);
      var button = part("send");
      button.disabled = true;
      state("Sending…");
      post(url, csrf, payload).then(function (answer) {
        if (answer.ok) { state(""); show(answer.data); }
        else { state((answer.data.error && answer.data.error.message) || "Refused (" + answer.status + ")."); }
      }).catch(function () { state("Could not reach the portal."); })
        .finally(function () { button.disabled = false; });
    }

    part("endpoint").addEventListener("change", render);
    part("send").addEventListener("click", send);
    if (app) {
      app.addEventListener("change", openSession);
      // Leaving the page ends the session: the key is revoked at once (else it expires by itself).
      window.addEventListener("pagehide", function () {
        var form = new FormData();
        form.append("csrfmiddlewaretoken", csrf);
        Object.keys(opened).forEach(function (url) { navigator.sendBeacon(url, form); });
      });
    }
    render();
    openSession();
  }

  document.querySelectorAll("[data-console]").forEach(init);
})();
