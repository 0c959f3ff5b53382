// Keeps /dashboard live. Served by the edge itself (CSP: script-src 'self'); no dependencies.
// Commands and bulkheads come from /hystrix.stream (the Hystrix format), middle tiers from
// /dashboard/instances.stream. Text is always set with textContent, never parsed as HTML.
"use strict";

(function () {
  const live = document.getElementById("live");
  const windowSecs = Number(live.dataset.window) || 10;

  function cell(row, field) {
    return row.querySelector('[data-field="' + field + '"]');
  }

  function setText(element, text) {
    if (element && element.textContent !== text) element.textContent = text;
  }

  function commandRow(name) {
    const body = document.querySelector("#commands tbody");
    for (const row of body.rows) {
      if (row.dataset.command === name) return row;
    }
    // A command the page did not know yet: copy the first row's shape.
    const template = body.rows[0];
    if (!template) return null;
    const row = template.cloneNode(true);
    row.dataset.command = name;
    row.cells[0].textContent = name;
    body.appendChild(row);
    return row;
  }

  function showCommand(c) {
    const row = commandRow(c.name);
    if (!row) return;
    let state = "closed";
    if (c.isCircuitBreakerOpen) state = "open";
    const badge = cell(row, "circuit").firstElementChild;
    if (badge) {
      badge.className = "circuit circuit-" + state;
      setText(badge, state);
    }
    const calls = c.requestCount + c.rollingCountSemaphoreRejected +
      c.rollingCountShortCircuited + c.rollingCountResponsesFromCache;
    setText(cell(row, "rate"), (calls / windowSecs).toFixed(1));
    setText(cell(row, "errors"), c.errorPercentage + " %");
    setText(cell(row, "success"), String(c.rollingCountSuccess));
    setText(cell(row, "failure"), String(c.rollingCountFailure));
    setText(cell(row, "timeout"), String(c.rollingCountTimeout));
    setText(cell(row, "shortCircuited"), String(c.rollingCountShortCircuited));
    setText(cell(row, "rejected"), String(c.rollingCountSemaphoreRejected));
    setText(cell(row, "fallback"), String(c.rollingCountFallbackSuccess));
    setText(cell(row, "cache"), String(c.rollingCountResponsesFromCache));
    setText(cell(row, "concurrent"), c.currentConcurrentExecutionCount + " / " +
      c.propertyValue_executionIsolationSemaphoreMaxConcurrentRequests);
    setText(cell(row, "queued"), String(c.currentQueuedExecutionCount));
    const p = c.latencyExecute;
    setText(cell(row, "p50"), p["50"] + " ms");
    setText(cell(row, "p90"), p["90"] + " ms");
    setText(cell(row, "p99"), p["99"] + " ms");
    setText(cell(row, "p995"), p["99.5"] + " ms");
    setText(cell(row, "max"), p["100"] + " ms");
  }

  function td(text) {
    const element = document.createElement("td");
    element.textContent = text;
    return element;
  }

  function showInstances(event) {
    const body = document.querySelector("#instances tbody");
    const rows = event.instances.map(function (i) {
      const row = document.createElement("tr");
      const id = document.createElement("th");
      id.scope = "row";
      id.textContent = i.id;
      row.appendChild(id);
      row.appendChild(td(i.url));
      const state = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = "instance instance-" + i.state;
      badge.textContent = i.state + (i.ejected_for_secs ? " (" + i.ejected_for_secs + " s)" : "");
      state.appendChild(badge);
      row.appendChild(state);
      row.appendChild(td(String(i.in_flight)));
      row.appendChild(td(i.ewma_ms + " ms"));
      row.appendChild(td(String(i.consecutive_failures)));
      row.appendChild(td(String(i.ejections)));
      row.appendChild(td(String(i.requests)));
      row.appendChild(td(String(i.failures)));
      return row;
    });
    if (rows.length === 0) {
      const row = document.createElement("tr");
      const empty = td("No middle tier is registered.");
      empty.colSpan = 9;
      empty.className = "empty";
      row.appendChild(empty);
      rows.push(row);
    }
    body.replaceChildren.apply(body, rows);
    setText(document.getElementById("retries-refused"), String(event.retriesRefused));
  }

  function connect(url, onEvent) {
    const source = new EventSource(url);
    source.onopen = function () {
      live.className = "live live-on";
      setText(live, "Live: updated every half second.");
    };
    source.onmessage = function (message) {
      try {
        onEvent(JSON.parse(message.data));
      } catch (error) {
        console.warn("dashboard: bad event", error);
      }
    };
    // EventSource reconnects by itself after a dropped connection, but gives up on an error
    // status (503 when too many streams are open): then try again a little later.
    source.onerror = function () {
      live.className = "live";
      setText(live, "Reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(function () { connect(url, onEvent); }, 5000);
      }
    };
  }

  connect("/hystrix.stream", function (data) {
    if (data.type === "HystrixCommand") showCommand(data);
  });
  connect("/dashboard/instances.stream", function (data) {
    if (data.type === "Instances") showInstances(data);
  });
})();
