// The console's one script: live updates of the audit, deployment and job pages from the server's
// Server-Sent Events. The pages work without it (they just do not update). It writes text
// only (textContent), never HTML, so nothing a user typed can become markup or script.
"use strict";

(function () {
  const AUDIT_COLUMNS = ["actor", "action", "project", "resource", "reason", "access"];
  const SHOWN = 100; // rows the audit page keeps, as the server lists

  function cell(tag, text) {
    const element = document.createElement(tag);
    element.textContent = text;
    return element;
  }

  function follow(url, status, handlers) {
    const source = new EventSource(url);
    source.addEventListener("open", function () {
      status.textContent = "Live: updates appear as they happen.";
    });
    source.addEventListener("error", function (event) {
      if (event.data) {
        status.textContent = "Live updates interrupted: " + JSON.parse(event.data).message;
      } else if (source.readyState === EventSource.CLOSED) {
        status.textContent = "Live updates stopped; reload the page to resume.";
      } else {
        status.textContent = "Live updates interrupted; reconnecting…";
      }
    });
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (event) {
        handlers[name](JSON.parse(event.data), source);
      });
    });
  }

  function auditTail(rows, status) {
    follow(rows.dataset.liveAudit, status, {
      audit: function (event) {
        if (rows.querySelector('tr[data-event="' + Number(event.id) + '"]')) {
          return; // already listed (a reconnection replays from the last id)
        }
        const row = document.createElement("tr");
        row.dataset.event = String(event.id);
        const when = cell("time", event.shown_time);
        when.setAttribute("datetime", event.time);
        const first = document.createElement("td");
        first.appendChild(when);
        row.appendChild(first);
        AUDIT_COLUMNS.forEach(function (key) {
          row.appendChild(cell("td", event[key]));
        });
        rows.insertBefore(row, rows.firstChild);
        while (rows.children.length > SHOWN) {
          rows.removeChild(rows.lastChild);
        }
      },
    });
  }

  // The section's element marked data-live="NAME".
  function finder(section) {
    return function (name) {
      return section.querySelector('[data-live="' + name + '"]');
    };
  }

  // Shows ``now[key]`` as the text of each field named by ``keys``, and the state badge.
  function showFields(field, now, stateClass, keys) {
    const state = field("state");
    state.textContent = now.state;
    state.className = "state " + stateClass;
    keys.forEach(function (key) {
      field(key).textContent = String(now[key]);
    });
  }

  function deploymentStatus(section, status) {
    const field = finder(section);
    follow(section.dataset.liveDeployment, status, {
      deployment: function (now) {
        const keys = ["status_message", "ready", "revision", "version"];
        showFields(field, now, "state-" + now.state.toLowerCase(), keys);
        if (now.version_href.charAt(0) === "/") {
          field("version").setAttribute("href", now.version_href);
        }
        const replicas = field("replicas");
        replicas.replaceChildren();
        now.replicas.forEach(function (replica) {
          const row = document.createElement("tr");
          row.dataset.replica = replica.id;
          ["id", "revision", "state", "endpoint", "restarts", "message"].forEach(function (key) {
            const value = row.appendChild(cell("td", String(replica[key])));
            if (typeof replica[key] === "number") {
              value.className = "num";
            }
          });
          replicas.appendChild(row);
        });
        const endpoints = field("endpoints");
        endpoints.replaceChildren();
        now.endpoints.forEach(function (endpoint) {
          endpoints.appendChild(cell("li", endpoint));
        });
      },
      end: function (end, source) {
        source.close();
        status.textContent = end.message;
      },
    });
  }

  function jobProgress(section, status) {
    const field = finder(section);
    follow(section.dataset.liveJob, status, {
      job: function (now) {
        const keys = ["rows_done", "rows_total", "chunks_done", "chunks_total", "error"];
        showFields(field, now, now.state_class, keys);
        const bar = field("bar");
        bar.max = Math.max(now.rows_total, 1);
        bar.value = now.rows_total ? now.rows_done : 0;
        bar.textContent = now.percent + "%";
        const cancel = document.querySelector("[data-live-cancel]");
        if (cancel && now.finished) {
          cancel.hidden = true; // a finished job cannot be cancelled
        }
        if (now.output_href.charAt(0) === "/") {
          field("output").textContent = now.output_version;
          field("output").setAttribute("href", now.output_href);
        }
      },
      end: function (end, source) {
        source.close();
        status.textContent = end.message + " Reload the page for its final details.";
      },
    });
  }

  const status = document.querySelector("[data-live-status]");
  const rows = document.querySelector("[data-live-audit]");
  const section = document.querySelector("[data-live-deployment]");
  const job = document.querySelector("[data-live-job]");
  if (!status || typeof EventSource === "undefined") {
    return;
  }
  if (rows) {
    auditTail(rows, status);
  }
  if (section) {
    deploymentStatus(section, status);
  }
  if (job) {
    jobProgress(job, status);
  }
})();
