// Lifecycle actions of the browsable API. Each page load gets its own idempotency key
// per action, so a double click replays instead of acting twice; the version the page
// shows is sent as If-Match, so acting on a stale page is refused (412).
// (Forms use data-verb/data-target, not data-method: DRF's ajax-form.js would submit those forms too.)
(function () {
  "use strict";
  var pageKey = (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
    : String(Date.now()) + Math.random().toString(16).slice(2);
  var csrf = JSON.parse(document.getElementById("drf_csrf").textContent);

  function send(method, url, headers, body) {
    headers["Idempotency-Key"] = pageKey + ":" + method + ":" + url;
    headers[csrf.csrfHeaderName] = csrf.csrfToken;
    headers["Accept"] = "application/json";
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(url, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw data; }
        return {response: response, data: data};
      });
    });
  }

  function showError(problem) {
    var box = document.getElementById("action-error");
    box.textContent = (problem.title || "Error") + ": " + (problem.detail || "")
      + (problem.code ? " (" + problem.code + ")" : "");
    box.style.display = "block";
  }

  // DRF's own AJAX forms (raw data tab) get a key too.
  if (window.jQuery) {
    jQuery.ajaxSetup({beforeSend: function (xhr, settings) {
      if (settings.type !== "GET") {
        xhr.setRequestHeader("Idempotency-Key", pageKey + ":" + settings.type + ":" + settings.url);
      }
    }});
  }

  // Choosing a tenant switches to it, and "Log out" posts its form: no inline handlers,
  // which the Content-Security-Policy refuses.
  var tenant = document.getElementById("tenant-select");
  if (tenant) {
    tenant.addEventListener("change", function () { tenant.form.submit(); });
  }

  var logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", function (event) {
      event.preventDefault();
      document.getElementById("logoutForm").submit();
    });
  }

  var create = document.getElementById("create-order");
  if (create) {
    create.addEventListener("click", function () {
      send("POST", "/orders", {}, {}).then(function (result) {
        window.location = result.response.headers.get("Location");
      }, showError);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.order-action"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {};
      var total = form.querySelector("[name=totalCents]");
      if (total) { body.totalCents = parseInt(total.value, 10); }
      var version = form.querySelector("[name=version]").value;
      send(form.dataset.verb, form.dataset.target, {"If-Match": '"' + version + '"'}, body)
        .then(function () { window.location.reload(); }, showError);
    });
  });
})();
