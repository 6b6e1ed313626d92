// The prices panel (managers only; the API refuses price changes to anyone else): the
// prices in force with grade names, each pump's confirmation of the set in force, a form
// to change prices now or at a local time, and the sets scheduled for later with a cancel
// button. The feed's `prices` event redraws the tables, so a pump's confirmation shows
// without a reload; the form is left alone while the manager types.

import { get, post } from "./api.js";
import { addWords, language, money, t, when } from "./i18n.js";

addWords({
  es: {
    "nav.prices": "Precios",
    "prices.heading": "Precios",
    "prices.grade": "Producto",
    "prices.price": "Precio vigente",
    "prices.new": "Precio nuevo",
    "prices.set": "Juego de precios {id}",
    "prices.configured": "Precios de la configuración",
    "prices.when": "Cuándo",
    "prices.now": "Ahora",
    "prices.at": "A la hora",
    "prices.submit": "Cambiar precios",
    "prices.none_typed": "Escribí al menos un precio nuevo",
    "prices.no_time": "Elegí la fecha y hora",
    "prices.done_now": "Precios en vigor; cada surtidor los toma cuando está libre",
    "prices.done_at": "Cambio de precios programado para {at}",
    "prices.pumps": "Surtidores",
    "prices.position": "Surtidor",
    "prices.target": "Juego",
    "prices.state": "Estado",
    "prices.confirmed": "Confirmado",
    "prices.pending": "Pendiente",
    "prices.sent": "Enviado, esperando confirmación",
    "prices.failed": "Error: {error}",
    "prices.scheduled": "Cambios programados",
    "prices.scheduled_none": "No hay cambios programados",
    "prices.changes": "Cambios",
    "prices.cancel": "Cancelar cambio",
    "prices.cancel_confirm": "¿Cancelar el cambio de precios {id} de {at}?",
    "prices.cancelled": "Cambio de precios {id} cancelado",
  },
  en: {
    "nav.prices": "Prices",
    "prices.heading": "Prices",
    "prices.grade": "Grade",
    "prices.price": "Price in force",
    "prices.new": "New price",
    "prices.set": "Price set {id}",
    "prices.configured": "Configured prices",
    "prices.when": "When",
    "prices.now": "Now",
    "prices.at": "At",
    "prices.submit": "Change prices",
    "prices.none_typed": "Type at least one new price",
    "prices.no_time": "Choose the date and time",
    "prices.done_now": "Prices in force; each pump takes them when idle",
    "prices.done_at": "Price change scheduled for {at}",
    "prices.pumps": "Pumps",
    "prices.position": "Pump",
    "prices.target": "Set",
    "prices.state": "State",
    "prices.confirmed": "Confirmed",
    "prices.pending": "Pending",
    "prices.sent": "Sent, awaiting confirmation",
    "prices.failed": "Error: {error}",
    "prices.scheduled": "Scheduled changes",
    "prices.scheduled_none": "No changes scheduled",
    "prices.changes": "Changes",
    "prices.cancel": "Cancel change",
    "prices.cancel_confirm": "Cancel price change {id} of {at}?",
    "prices.cancelled": "Price change {id} cancelled",
  },
});

/** `tag` with attributes and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A table with a header row of `heads` (translation keys) and `rows`. */
export function table(id, heads, rows) {
  return el(
    "table",
    { id, class: "list static" },
    el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { text: h ? t(h) : "" })))),
    el("tbody", {}, ...rows),
  );
}

/** A decimal typed the way the language shown writes it (1.500,50 or 1,500.50). */
export function typedDecimal(text) {
  const typed = String(text ?? "").trim();
  return language() === "es" ? typed.replace(/\./g, "").replace(",", ".") : typed.replace(/,/g, "");
}

const panel = { data: null, keys: "", root: null, fail: null, ask: null, notice: null };

function gradeName(key) {
  return panel.data?.grade_names?.[key] ?? key;
}

function bookRows(data) {
  return Object.entries(data.current.grades).map(([key, price]) =>
    el(
      "tr",
      { "data-grade": key },
      el("td", { text: gradeName(key) }),
      el("td", { class: "num", "data-price": price, text: money(price) }),
      el("td", {}, el("input", { name: key, inputmode: "decimal", size: 10, "aria-label": t("prices.new") })),
    ),
  );
}

function pumpRows(data) {
  return data.pumps.map((p) => {
    let state = "pending";
    let text = t("prices.pending");
    if (p.confirmed) [state, text] = ["confirmed", t("prices.confirmed")];
    else if (p.last_error) [state, text] = ["failed", t("prices.failed", { error: p.last_error })];
    else if (p.sent) [state, text] = ["sent", t("prices.sent")];
    return el(
      "tr",
      { "data-position": p.position, "data-price-set": p.price_set ?? "", "data-confirmed": String(p.confirmed) },
      el("td", { text: String(p.position) }),
      el("td", { text: p.price_set === null ? t("prices.configured") : String(p.price_set) }),
      el("td", { class: `pricing-${state}`, text }),
    );
  });
}

function changes(grades) {
  return Object.entries(grades)
    .map(([key, price]) => `${gradeName(key)} ${money(price)}`)
    .join(" · ");
}

function scheduledRows(data) {
  return data.scheduled.map((s) =>
    el(
      "tr",
      { "data-price-set": s.id },
      el("td", { text: String(s.id) }),
      el("td", { text: when(s.at) }),
      el("td", { text: changes(s.grades) }),
      el(
        "td",
        {},
        el("button", { type: "button", class: "danger", "data-cancel": s.id, text: t("prices.cancel"), onclick: () => cancel(s) }),
      ),
    ),
  );
}

async function cancel(set) {
  if (!(await panel.ask(t("prices.cancel_confirm", { id: set.id, at: when(set.at) })))) return;
  try {
    await post(`/api/prices/${set.id}/cancel`, {});
    panel.notice(t("prices.cancelled", { id: set.id }));
    await loadPrices();
  } catch (e) {
    panel.fail(e);
  }
}

async function submit(event) {
  event.preventDefault();
  const form = event.target;
  const error = form.querySelector(".error");
  error.textContent = "";
  const grades = {};
  for (const input of form.querySelectorAll("tbody input")) {
    const value = typedDecimal(input.value);
    if (value) grades[input.name] = value;
  }
  if (Object.keys(grades).length === 0) {
    error.textContent = t("prices.none_typed");
    return;
  }
  const body = { grades };
  if (form.elements.when.value === "at") {
    const local = form.elements.at.value;
    if (!local) {
      error.textContent = t("prices.no_time");
      return;
    }
    body.at = new Date(local).toISOString();
  }
  try {
    const answer = await post("/api/prices", body);
    form.reset();
    panel.notice(answer.in_force ? t("prices.done_now") : t("prices.done_at", { at: when(answer.at) }));
    await loadPrices();
  } catch (e) {
    error.textContent = e.message;
  }
}

function build(data) {
  const form = el(
    "form",
    { id: "price-form", class: "card panel", onsubmit: submit },
    el("h2", { text: t("prices.heading") }),
    el("p", { class: "muted", id: "price-set-current" }),
    el("div", { class: "table-wrap" }, table("price-book", ["prices.grade", "prices.price", "prices.new"], bookRows(data))),
    el(
      "fieldset",
      { class: "when" },
      el("legend", { text: t("prices.when") }),
      el("label", {}, el("input", { type: "radio", name: "when", value: "now", checked: true }), el("span", { text: t("prices.now") })),
      el("label", {}, el("input", { type: "radio", name: "when", value: "at" }), el("span", { text: t("prices.at") })),
      el("input", { type: "datetime-local", name: "at", "aria-label": t("prices.at") }),
    ),
    el("p", { class: "error", role: "alert" }),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary", id: "price-submit", text: t("prices.submit") })),
  );
  panel.root.replaceChildren(
    form,
    el("section", { class: "card panel" }, el("h2", { text: t("prices.pumps") }), el("div", { class: "table-wrap", id: "price-pumps-wrap" })),
    el("section", { class: "card panel" }, el("h2", { text: t("prices.scheduled") }), el("div", { class: "table-wrap", id: "price-scheduled-wrap" })),
  );
}

/** Draws `data` (what `GET /api/prices` answers) into the panel. */
export function showPrices(data) {
  if (!panel.root || !data) return;
  panel.data = data;
  const keys = Object.keys(data.current.grades).join(",");
  if (keys !== panel.keys || !panel.root.querySelector("#price-form")) {
    panel.keys = keys;
    build(data);
  }
  for (const row of panel.root.querySelectorAll("#price-book tbody tr")) {
    const price = data.current.grades[row.dataset.grade];
    const cell = row.children[1];
    cell.dataset.price = price;
    cell.textContent = money(price);
  }
  const current = data.current.price_set;
  panel.root.querySelector("#price-set-current").textContent =
    current === null ? t("prices.configured") : t("prices.set", { id: current });
  panel.root
    .querySelector("#price-pumps-wrap")
    .replaceChildren(table("price-pumps", ["prices.position", "prices.target", "prices.state"], pumpRows(data)));
  const scheduled = table("price-scheduled", ["prices.target", "prices.when", "prices.changes", ""], scheduledRows(data));
  scheduled.classList.toggle("empty", data.scheduled.length === 0);
  panel.root
    .querySelector("#price-scheduled-wrap")
    .replaceChildren(scheduled, el("p", { class: "when-empty", text: t("prices.scheduled_none") }));
}

/**
 * Opens the panel in `root` (or reloads it with no arguments). `fail(error)` reports a
 * refusal, `ask(text)` confirms, `notice(text)` tells what happened.
 */
export async function loadPrices(root, fail, ask, notice) {
  if (root) {
    // Opened afresh: nothing of an earlier visit (or user) stays clickable meanwhile.
    Object.assign(panel, { root, fail, ask, notice, keys: "" });
    root.replaceChildren();
  }
  showPrices(await get("/api/prices"));
}

/** Forgets the panel (sign-out, language change): it is built again when next shown. */
export function resetPrices() {
  panel.keys = "";
  panel.root?.replaceChildren();
}
