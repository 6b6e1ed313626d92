// The forecourt grid: one card per position, redrawn from each `positions` event.
// A card's `data-state` says in one word what the position is doing, so people (and
// the browser tests) read the same thing.

import { litres, money, t } from "./i18n.js";
import { gradeLine } from "./grades.js";

/** Sales that left a position's payable list, by position: shown as paid/settled. */
const closed = new Map();

/** The last payable sale seen per position, to notice when it leaves. */
const lastPayable = new Map();

/** One word for the position's state. */
export function stateOf(p) {
  if (p.order_state === "timeout" || p.pump_status === "offline") return "offline";
  if (p.pump_status === "filling" || p.pump_status === "suspended") return "filling";
  if (p.pump_status === "authorized") return "authorized";
  if (p.pump_status === "calling") return p.dispatch ? "authorized" : "calling";
  if (p.dispatch) return "authorized";
  if (p.payable.length > 0) return "awaiting_payment";
  if (p.pump_status === "not_programmed") return "not_programmed";
  if (p.pump_status === "stopped") return "stopped";
  const done = closed.get(p.position);
  if (done) return done.status === "paid" ? "paid" : "settled";
  return "idle";
}

/**
 * Notes sales that left the payable lists since the last event; `lookup(id)` answers
 * the sale as `GET /api/sales/{id}` does, so a card can say "paid" with the sale's
 * figures. A new dispatch on the position clears it.
 */
export async function noteClosedSales(positions, lookup) {
  const asks = [];
  for (const p of positions) {
    const before = lastPayable.get(p.position);
    const now = p.payable[0];
    lastPayable.set(p.position, now);
    if (p.dispatch || p.running) closed.delete(p.position);
    if (before && (!now || now.id !== before.id)) {
      asks.push(
        lookup(before.id)
          .then((sale) => {
            if (sale.status !== "ready") closed.set(p.position, sale);
          })
          .catch(() => {}),
      );
    }
  }
  await Promise.all(asks);
}

function presetText(preset) {
  if (!preset) return t("pos.full");
  if (preset.amount !== undefined) return money(preset.amount);
  if (preset.volume !== undefined) return litres(preset.volume);
  return "—";
}

function qrText(p) {
  if (p.order_state === "payable" && p.payable[0]) {
    return t("qr.payable", { amount: money(p.payable[0].amount) });
  }
  return t(`qr.${p.order_state}`);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "class") node.className = v;
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function row(label, value, cls = "") {
  return el("div", { class: `row ${cls}` }, el("span", { class: "label" }, label), el("span", { class: "value" }, value));
}

/** The card of each position, kept across events so a tap is never lost to a redraw. */
const cards = new Map();

/** The latest state of each position, read by the buttons when pressed. */
const latest = new Map();

function actionsOf(p, state) {
  const keys = [];
  if (!p.dispatch && state !== "offline" && state !== "filling") keys.push(["authorize", "primary"]);
  if (p.dispatch || state === "filling" || state === "authorized") keys.push(["stop", "danger"]);
  if (p.dispatch && state !== "filling") keys.push(["cancel", "quiet"]);
  if (p.payable[0]) keys.push(["sale", "pay"]);
  return keys;
}

function newCard(position, actions) {
  const title = el("h2", {});
  const badge = el("span", { class: "badge" });
  const amount = el("div", { class: "amount", "data-field": "amount" });
  const volume = el("div", { class: "volume", "data-field": "volume" });
  const figures = el("div", { class: "figures" }, amount, volume);
  const details = el("div", { class: "details" });
  const buttons = el("div", { class: "actions" });
  const node = el("article", { class: "position", "data-position": String(position) }, el("header", {}, title, badge), figures, details, buttons);
  return { node, title, badge, figures, amount, volume, details, buttons, shown: "", actions };
}

function update(c, p) {
  const state = stateOf(p);
  const sale = p.payable[0];
  const done = closed.get(p.position);
  const over = state === "paid" || state === "settled";
  const figures = p.running ?? sale ?? (over ? done : null);
  const grade = sale?.grade ?? (over ? done?.grade : null);
  c.node.className = `position state-${state}`;
  c.node.dataset.state = state;
  c.title.textContent = t("pos.title", { n: p.position });
  c.badge.textContent = t(`state.${state}`);
  c.figures.classList.toggle("none", !figures);
  c.amount.textContent = figures ? money(figures.amount) : "";
  c.volume.textContent = figures ? litres(figures.volume) : "";
  const details = [];
  const product = gradeLine(p, grade);
  if (product) details.push(row(...product, "grade"));
  if (p.dispatch) {
    details.push(row(t("pos.preset"), presetText(p.dispatch.preset)));
    if (p.dispatch.attendant) details.push(row(t("pos.attendant"), p.dispatch.attendant));
  } else if (sale?.attendant) {
    details.push(row(t("pos.attendant"), sale.attendant));
  }
  details.push(row(t("pos.qr"), qrText(p), "qr"));
  c.details.replaceChildren(...details);
  const keys = actionsOf(p, state);
  const shown = keys.map(([k]) => t(`act.${k}`)).join("|");
  if (shown !== c.shown) {
    c.shown = shown;
    c.buttons.replaceChildren(
      ...keys.map(([key, cls]) =>
        el("button", { type: "button", class: cls, "data-action": key, onclick: () => c.actions[key](latest.get(p.position)) }, t(`act.${key}`)),
      ),
    );
  }
}

/** Shows `positions` in `root`, reusing each position's card. */
export function render(root, positions, actions) {
  const order = [];
  for (const p of positions) {
    latest.set(p.position, p);
    let c = cards.get(p.position);
    if (!c) {
      c = newCard(p.position, actions);
      cards.set(p.position, c);
    }
    update(c, p);
    order.push(c.node);
  }
  const same = order.length === root.children.length && order.every((n, i) => root.children[i] === n);
  if (!same) root.replaceChildren(...order);
}
