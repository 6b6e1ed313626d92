// Alerts (pushed), unverified dispatches and flagged payments: what needs a person.

import { get, post } from "./api.js";
import { money, t, when } from "./i18n.js";

function alertText(a) {
  const minutes = Math.floor((a.waiting_secs ?? 0) / 60);
  return t(`alert.${a.kind}`, {
    line: a.line ?? "",
    positions: (a.positions ?? []).join(", "),
    position: a.position ?? "",
    amount: a.amount !== undefined ? money(a.amount) : "",
    minutes,
    since: when(a.since),
    count: a.backlog ?? "",
  });
}

/** Shows `alerts` in `root` (an empty list says so). */
export function renderAlerts(root, alerts) {
  root.replaceChildren();
  root.classList.toggle("quiet", alerts.length === 0);
  if (alerts.length === 0) {
    const li = document.createElement("li");
    li.textContent = t("alerts.none");
    root.append(li);
    return;
  }
  for (const a of alerts) {
    const li = document.createElement("li");
    li.dataset.alert = a.kind;
    li.textContent = alertText(a);
    root.append(li);
  }
}

/** What a manager should do about a flagged payment, from its recorded reason. */
export function advice(reason = "") {
  if (reason.includes("amount")) return t("todo.mismatch");
  if (reason.includes("second")) return t("todo.duplicate");
  if (reason.includes("settled")) return t("todo.after");
  if (reason.includes("charged back") || reason.includes("mediation")) return t("todo.dispute");
  if (reason.includes("refunded")) return t("todo.refunded");
  return t("todo.unknown");
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

/** Fills the attention table; books or dismisses on click. */
export async function loadAttention(table, role, done, fail, ask) {
  const items = await get("/api/attention");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const item of items) {
    const tr = document.createElement("tr");
    const c = item.completion ?? {};
    tr.append(cell(when(item.created_at)), cell(String(item.position)), cell(item.reason ?? ""), cell(c.amount !== undefined ? money(c.amount) : "—"));
    const actions = document.createElement("td");
    const button = (key, path, question) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = t(key);
      b.addEventListener("click", async () => {
        if (question && !(await ask(t(question)))) return;
        try {
          await post(path, {});
          done();
        } catch (e) {
          fail(e);
        }
      });
      actions.append(b);
    };
    button("attention.book", `/api/attention/${item.id}/book`, "attention.book_confirm");
    if (role === "manager") button("attention.dismiss", `/api/attention/${item.id}/dismiss`);
    tr.append(actions);
    body.append(tr);
  }
  table.classList.toggle("empty", items.length === 0);
}

/** Fills the flagged payments table (managers). */
export async function loadFlagged(table) {
  const payments = await get("/api/payments/flagged");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const p of payments) {
    const tr = document.createElement("tr");
    tr.append(
      cell(when(p.seen_at)),
      cell(p.payment_id),
      cell(p.external_reference ?? "—"),
      cell(money(p.amount)),
      cell(p.flagged ?? ""),
      cell(advice(p.flagged ?? "")),
    );
    body.append(tr);
  }
  table.classList.toggle("empty", payments.length === 0);
}
