// The control page: every action is a call to the documented control API (/__admin) or
// to the API (/api/v1), with the key pair typed into the page. Text from the server is
// only ever set as textContent, never parsed as HTML.
"use strict";

const office = { developer: "", customer: "", token: "", taskOffset: 0, earlier: [] };
const $ = (selector) => document.querySelector(selector);

function say(text, failed = false) {
  const message = $("#message");
  message.textContent = text;
  message.className = failed ? "failed" : "";
}

async function call(method, path, body) {
  const headers = { "Authorization": `ODFHIR ${office.developer}/${office.customer}`,
                    "Content-Type": "application/json", "X-Mock-Client": "page" };
  if (office.token) headers["X-Mock-Admin-Token"] = office.token;
  const response = await fetch(path, { method, headers,
                                       body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${typeof data === "string" ? data : text}`);
  }
  return data;
}

function cell(row, value) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "" : String(value);
  row.appendChild(td);
  return td;
}

function button(row, label, action) {
  const td = document.createElement("td");
  const control = document.createElement("button");
  control.type = "button";
  control.textContent = label;
  control.addEventListener("click", () => run(action));
  td.appendChild(control);
  row.appendChild(td);
}

function fill(table, items, render) {
  const body = $(`${table} tbody`);
  body.replaceChildren(...items.map((item) => {
    const row = document.createElement("tr");
    render(row, item);
    return row;
  }));
}

async function run(action) {
  try {
    await action();
  } catch (error) {
    say(error.message, true);
  }
}

// --- the office --------------------------------------------------------------------

// the key pair and token typed into the page; *fallback* for an empty key
function readKeys(fallback = "") {
  office.developer = $("#developer-key").value.trim() || fallback;
  office.customer = $("#customer-key").value.trim() || fallback;
  office.token = $("#admin-token").value;
}

// back to the first page of tasks, with no task or journal entry open
function startOver() {
  office.taskOffset = 0;
  office.earlier = [];
  $("#task-detail").hidden = true;
  $("#entry-detail").hidden = true;
}

async function showSummary() {
  const summary = await call("GET", "/__admin/office");
  const key = summary.customer_key;
  $("#office-key").textContent = key.length > 12 ? `${key.slice(0, 12)}...` : key;
  $("#office-version").textContent = summary.version;
  $("#office-clock").textContent = `${summary.clock.now} (${summary.clock.frozen ? "frozen" : "running"})`;
  fill("#counts", Object.entries(summary.counts), (row, [kind, count]) => {
    cell(row, kind);
    cell(row, count);
  });
}

async function openOffice() {
  readKeys();
  startOver();
  await showSummary();
  $("#office").hidden = false;
  await Promise.all([showTasks(), showJournal(), showFaults()]);
  say(`Office ${office.customer} opened.`);
}

async function listOffices() {
  readKeys("page");
  const offices = await call("GET", "/__admin/offices");
  const list = $("#offices");
  list.replaceChildren(...offices.map((found) => {
    const item = document.createElement("li");
    const pick = document.createElement("button");
    pick.type = "button";
    pick.textContent = `${found.customer_key} (${found.counts.tasks} tasks, version ${found.version})`;
    pick.addEventListener("click", () => {
      $("#customer-key").value = found.customer_key;
      run(openOffice);
    });
    item.appendChild(pick);
    return item;
  }));
  say(`${offices.length} offices.`);
}

// --- tasks and notes ---------------------------------------------------------------

async function showTasks() {
  const query = new URLSearchParams();
  for (const [name, value] of new FormData($("#task-filters"))) {
    if (value.trim()) query.set(name, value.trim());
  }
  if (office.taskOffset) query.set("Offset", office.taskOffset);
  const tasks = await call("GET", `/api/v1/tasks?${query}`);
  fill("#tasks-table", tasks, (row, task) => {
    for (const name of ["TaskNum", "TaskListNum", "TaskStatus", "ObjectType", "KeyNum",
                        "DateTimeOriginal", "Descript"]) {
      cell(row, task[name]);
    }
    button(row, `Open task ${task.TaskNum}`, () => showTask(task.TaskNum));
  });
  const first = tasks.length ? office.taskOffset + 1 : 0;
  $("#tasks-page").textContent = `(${first} to ${office.taskOffset + tasks.length})`;
  $("#tasks-previous").disabled = office.taskOffset === 0;
  $("#tasks-next").disabled = tasks.length === 0 || tasks.length % 100 !== 0;
  $("#tasks-next").dataset.count = tasks.length;
}

async function showTask(taskNum) {
  const [task, notes] = await Promise.all([
    call("GET", `/api/v1/tasks/${taskNum}`), call("GET", `/api/v1/tasknotes?TaskNum=${taskNum}`)]);
  $("#task-title").textContent = `Task ${taskNum}`;
  $("#task-fields").replaceChildren(...Object.entries(task).flatMap(([name, value]) => {
    const term = document.createElement("dt");
    term.textContent = name;
    const description = document.createElement("dd");
    description.textContent = String(value);
    return [term, description];
  }));
  fill("#notes-table", notes, (row, note) => {
    for (const name of ["TaskNoteNum", "UserNum", "DateTimeNote", "Note"]) cell(row, note[name]);
  });
  $("#task-detail").hidden = false;
}

// --- the request journal -----------------------------------------------------------

function describe(side) {
  return Object.entries(side).map(([name, value]) =>
    `${name}: ${typeof value === "string" ? value : JSON.stringify(value, null, 2)}`).join("\n");
}

function showEntry(entry) {
  $("#entry-title").textContent = `#${entry.id} ${entry.method} ${entry.path}`;
  $("#entry-warnings").replaceChildren(...entry.warnings.map((text) => {
    const item = document.createElement("li");
    const mark = document.createElement("mark");
    mark.textContent = text;
    item.appendChild(mark);
    return item;
  }));
  $("#entry-request").textContent = describe({ query: entry.query, headers: entry.headers,
                                               body: entry.body });
  $("#entry-response").textContent = entry.response === null ? "connection dropped (fault)"
    : describe(entry.response);
  $("#entry-detail").hidden = false;
}

async function showJournal() {
  const entries = await call("GET", "/__admin/requests");
  const hidePage = $("#journal-hide-page").checked;
  const shown = entries.filter((entry) => !(hidePage && entry.headers["X-Mock-Client"] === "page"))
    .reverse();
  fill("#journal-table", shown, (row, entry) => {
    cell(row, entry.id);
    cell(row, entry.time);
    cell(row, entry.method);
    cell(row, entry.path + (Object.keys(entry.query).length ? `?${new URLSearchParams(entry.query)}` : ""));
    cell(row, entry.status === null ? "dropped" : entry.status);
    cell(row, office.customer);
    const warnings = cell(row, entry.warnings.length || "");
    if (entry.warnings.length) warnings.className = "warned";
    button(row, `Open request ${entry.id}`, () => showEntry(entry));
  });
}

function refreshJournal() {
  if ($("#journal-refresh").checked && !$("#office").hidden && !document.hidden) {
    run(showJournal);
  }
}

// --- faults, clock, reset ----------------------------------------------------------

async function showFaults() {
  const faults = await call("GET", "/__admin/faults");
  fill("#faults-table", faults, (row, fault) => {
    for (const name of ["id", "method", "path", "status", "body", "delay_ms", "drop", "times", "hits"]) {
      cell(row, fault[name]);
    }
    button(row, `Remove fault ${fault.id}`, async () => {
      await call("DELETE", `/__admin/faults/${fault.id}`);
      await showFaults();
      say(`Fault ${fault.id} removed.`);
    });
  });
}

async function addFault(form) {
  const fields = new FormData(form);
  const spec = { method: fields.get("method"), path: fields.get("path").trim(),
                 drop: fields.get("drop") === "on" };
  for (const name of ["status", "delay_ms", "times"]) {
    const value = fields.get(name).trim();
    if (value) spec[name] = Number(value);
  }
  if (fields.get("body").trim()) spec.body = fields.get("body");
  const fault = await call("POST", "/__admin/faults", spec);
  await showFaults();
  say(`Fault ${fault.id} added.`);
}

async function changeClock(method, path, body) {
  await call(method, path, body);
  await showSummary();
  say(`Clock: ${$("#office-clock").textContent}.`);
}

async function resetOffice() {
  await call("POST", "/__admin/reset");
  startOver();
  await Promise.all([showSummary(), showTasks(), showJournal(), showFaults()]);
  say("Office reset: it starts again from the fixtures.");
}

function submit(selector, action) {
  $(selector).addEventListener("submit", (event) => {
    event.preventDefault();
    run(() => action(event.target));
  });
}

function click(selector, action) {
  $(selector).addEventListener("click", () => run(action));
}

document.addEventListener("DOMContentLoaded", () => {
  submit("#office-form", openOffice);
  click("#list-offices", listOffices);
  submit("#task-filters", () => {
    office.taskOffset = 0;
    office.earlier = [];
    return showTasks();
  });
  click("#tasks-previous", () => {
    office.taskOffset = office.earlier.pop() || 0;
    return showTasks();
  });
  click("#tasks-next", () => {
    office.earlier.push(office.taskOffset);
    office.taskOffset += Number($("#tasks-next").dataset.count);
    return showTasks();
  });
  click("#journal-clear", async () => {
    await call("DELETE", "/__admin/requests");
    await showJournal();
  });
  $("#journal-hide-page").addEventListener("change", () => run(showJournal));
  submit("#fault-form", addFault);
  click("#freeze", () => changeClock("PUT", "/__admin/clock", { frozen: true }));
  click("#release", () => changeClock("PUT", "/__admin/clock", { frozen: false }));
  submit("#clock-set", (form) => changeClock("PUT", "/__admin/clock", { now: form.now.value.trim() }));
  submit("#clock-advance", (form) => {
    const by = form.by.value.trim();
    return changeClock("POST", "/__admin/clock/advance", { by: /^-?\d+$/.test(by) ? Number(by) : by });
  });
  click("#reset-office", resetOffice);
  setInterval(refreshJournal, 2000);
});
