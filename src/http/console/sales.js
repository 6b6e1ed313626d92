// The sales list with its search, and the panel of one sale: settle at the counter,
// void and refund (managers only; the API refuses them to anyone else as well).

import { get, post } from "./api.js";
import { litres, money, t, when } from "./i18n.js";

/** The query of `GET /api/sales` from the search form. */
export function searchQuery(form) {
  const data = new FormData(form);
  const query = new URLSearchParams({ limit: "100" });
  for (const key of ["position", "attendant", "reference", "status"]) {
    const value = String(data.get(key) ?? "").trim();
    if (value) query.set(key, value);
  }
  for (const key of ["from", "to"]) {
    const value = String(data.get(key) ?? "");
    if (value) query.set(key, new Date(value).toISOString());
  }
  return query.toString();
}

/** Runs the search and fills `table`; `open(sale)` shows a sale. */
export async function search(form, table, open) {
  const sales = await get(`/api/sales?${searchQuery(form)}`);
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const sale of sales) {
    const tr = document.createElement("tr");
    tr.dataset.sale = String(sale.id);
    tr.dataset.status = sale.status;
    const cells = [
      when(sale.completed_at),
      String(sale.position),
      sale.attendant ?? "—",
      sale.external_reference,
      litres(sale.volume),
      money(sale.amount),
      t(`status.${sale.status}`),
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.addEventListener("click", () => open(sale));
    body.append(tr);
  }
  table.classList.toggle("empty", sales.length === 0);
}

function line(label, value) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value;
  return [dt, dd];
}

/**
 * Fills the sale dialog for `sale` and wires its buttons. `done()` runs after a change,
 * `fail(error)` after a refusal, `ask(text)` confirms.
 */
export function showSale(dialog, sale, role, done, fail, ask) {
  dialog.querySelector("h2").textContent = t("sale.heading", { n: sale.position });
  const figures = dialog.querySelector("dl");
  figures.replaceChildren(
    ...line(t("sale.amount"), money(sale.amount)),
    ...line(t("sale.volume"), litres(sale.volume)),
    ...line(t("sale.price"), money(sale.unit_price)),
    ...line(t("sale.reference"), sale.external_reference),
    ...line(t("sales.status"), t(`status.${sale.status}`)),
  );
  const ready = sale.status === "ready";
  dialog.querySelector(".waiting").hidden = !ready;
  const act = async (path, body) => {
    try {
      await post(path, body);
      dialog.close();
      done();
    } catch (e) {
      fail(e);
    }
  };
  const buttons = dialog.querySelector(".actions");
  buttons.replaceChildren();
  const add = (key, cls, handler, managerOnly = false) => {
    if (managerOnly && role !== "manager") return;
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.dataset.action = key;
    b.textContent = t(`sale.${key}`);
    b.addEventListener("click", handler);
    buttons.append(b);
  };
  if (ready) {
    add("cash", "primary", () => act(`/api/sales/${sale.id}/settle`, { note: "cash" }));
    add("card", "primary", () => act(`/api/sales/${sale.id}/settle`, { note: "card" }));
    add(
      "void",
      "danger",
      async () => (await ask(t("sale.void_confirm", { ref: sale.external_reference }))) && act(`/api/sales/${sale.id}/void`, {}),
      true,
    );
  }
  if (sale.status === "paid") {
    add(
      "refund",
      "danger",
      () => {
        const amount = prompt(t("sale.refund_amount"), "");
        if (amount === null) return;
        act(`/api/sales/${sale.id}/refund`, amount.trim() ? { amount: amount.trim().replace(",", ".") } : {});
      },
      true,
    );
  }
  if (!dialog.open) dialog.showModal();
}
