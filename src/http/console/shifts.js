// The shift panel: the open shift (who opened it, when), open and close buttons for the
// roles `[shifts] open_close` allows, and a shift's report: sales by attendant, grade and
// payment method, each nozzle's totalizer movement against its journaled sales with any
// difference flagged, a CSV download and a print button (the print stylesheet leaves only
// the report). Managers also pick any past shift; reports are theirs (the API says so).

import { get, post } from "./api.js";
import { addWords, litres, money, t, when } from "./i18n.js";
import { el, table } from "./prices.js";

addWords({
  es: {
    "nav.shifts": "Turnos",
    "shift.heading": "Turno",
    "shift.open_now": "Turno {code} abierto por {by} el {at}",
    "shift.none_open": "No hay turno abierto",
    "shift.open": "Abrir turno",
    "shift.close": "Cerrar turno",
    "shift.close_confirm": "¿Cerrar el turno {code}? Se leen los totalizadores de cada surtidor.",
    "shift.opened": "Turno {code} abierto",
    "shift.past": "Turnos anteriores",
    "shift.report": "Informe del turno {code} (n.º {id})",
    "shift.span": "Abierto por {opened_by} el {opened_at} · cerrado por {closed_by} el {closed_at}",
    "shift.still_open": "Abierto por {opened_by} el {opened_at} · sigue abierto",
    "shift.total": "Total",
    "shift.by_attendant": "Por playero",
    "shift.by_grade": "Por producto",
    "shift.by_method": "Por medio de pago",
    "shift.key": "",
    "shift.sales": "Ventas",
    "shift.nozzles": "Totalizadores por pico",
    "shift.position": "Surtidor",
    "shift.nozzle": "Pico",
    "shift.open_volume": "Al abrir",
    "shift.close_volume": "Al cerrar",
    "shift.totalizer": "Diferencia de totalizador",
    "shift.sales_volume": "Ventas registradas",
    "shift.difference": "Diferencia",
    "shift.ok": "Cuadra",
    "shift.flagged": "Hay diferencias entre totalizadores y ventas: revisar",
    "shift.clean": "Los totalizadores cuadran con las ventas",
    "shift.csv": "Descargar CSV",
    "shift.print": "Imprimir",
    "flag.unrecorded_dispense": "Combustible sin venta registrada",
    "flag.sales_exceed_totals": "Ventas mayores que el totalizador",
    "flag.not_compared": "Sin comparar",
    "method.mercadopago_qr": "Mercado Pago QR",
    "method.cash": "Efectivo",
    "method.card": "Tarjeta",
    "method.other": "Otro",
    "method.unpaid": "Sin cobrar",
    "method.voided": "Anulada",
  },
  en: {
    "nav.shifts": "Shifts",
    "shift.heading": "Shift",
    "shift.open_now": "Shift {code} opened by {by} on {at}",
    "shift.none_open": "No shift is open",
    "shift.open": "Open shift",
    "shift.close": "Close shift",
    "shift.close_confirm": "Close shift {code}? Every pump's totalizers are read.",
    "shift.opened": "Shift {code} opened",
    "shift.past": "Past shifts",
    "shift.report": "Report of shift {code} (no. {id})",
    "shift.span": "Opened by {opened_by} on {opened_at} · closed by {closed_by} on {closed_at}",
    "shift.still_open": "Opened by {opened_by} on {opened_at} · still open",
    "shift.total": "Total",
    "shift.by_attendant": "By attendant",
    "shift.by_grade": "By grade",
    "shift.by_method": "By payment method",
    "shift.key": "",
    "shift.sales": "Sales",
    "shift.nozzles": "Totalizers per nozzle",
    "shift.position": "Pump",
    "shift.nozzle": "Nozzle",
    "shift.open_volume": "At open",
    "shift.close_volume": "At close",
    "shift.totalizer": "Totalizer difference",
    "shift.sales_volume": "Journaled sales",
    "shift.difference": "Difference",
    "shift.ok": "Reconciles",
    "shift.flagged": "Totalizers and sales differ: check",
    "shift.clean": "Totalizers reconcile with the sales",
    "shift.csv": "Download CSV",
    "shift.print": "Print",
    "flag.unrecorded_dispense": "Fuel without a journaled sale",
    "flag.sales_exceed_totals": "Sales exceed the totalizer",
    "flag.not_compared": "Not compared",
    "method.mercadopago_qr": "Mercado Pago QR",
    "method.cash": "Cash",
    "method.card": "Card",
    "method.other": "Other",
    "method.unpaid": "Unpaid",
    "method.voided": "Voided",
  },
});

const panel = { root: null, role: "", fail: null, ask: null, notice: null };

const RANK = { attendant: 1, manager: 2 };

function tallyTable(id, heading, rows, label) {
  return el(
    "section",
    { class: "tally" },
    el("h3", { text: t(heading) }),
    table(
      id,
      ["shift.key", "shift.sales", "sale.volume", "sale.amount"],
      rows.map((r) =>
        el(
          "tr",
          { "data-key": r.key },
          el("td", { text: label(r.key) }),
          el("td", { class: "num", text: String(r.sales) }),
          el("td", { class: "num", "data-volume": r.volume, text: litres(r.volume) }),
          el("td", { class: "num", "data-amount": r.amount, text: money(r.amount) }),
        ),
      ),
    ),
  );
}

function nozzleRows(report) {
  return report.nozzles.map((n) =>
    el(
      "tr",
      {
        "data-position": n.position,
        "data-nozzle": n.nozzle,
        "data-flag": n.flag ?? "",
        class: n.flag ? "flagged" : null,
      },
      el("td", { text: String(n.position) }),
      el("td", { text: String(n.nozzle) }),
      el("td", { class: "num", text: litres(n.open_volume) }),
      el("td", { class: "num", text: litres(n.close_volume) }),
      el("td", { class: "num totalizer", "data-volume": n.totalizer_volume ?? "", text: litres(n.totalizer_volume) }),
      el("td", { class: "num sales", "data-volume": n.sales_volume, text: `${litres(n.sales_volume)} (${n.sales})` }),
      el("td", { class: "num difference", "data-volume": n.difference ?? "", text: litres(n.difference) }),
      el("td", { text: n.flag ? t(`flag.${n.flag}`) + (n.note ? ` — ${n.note}` : "") : t("shift.ok") }),
    ),
  );
}

/** Draws a report (what `GET /api/shifts/{id}/report` answers). */
export function showReport(report) {
  const s = report.shift;
  const box = panel.root.querySelector("#shift-report");
  const span = s.closed_at
    ? t("shift.span", { opened_by: s.opened_by, opened_at: when(s.opened_at), closed_by: s.closed_by, closed_at: when(s.closed_at) })
    : t("shift.still_open", { opened_by: s.opened_by, opened_at: when(s.opened_at) });
  box.dataset.shift = String(s.id);
  box.replaceChildren(
    el("h2", { text: t("shift.report", { code: s.code, id: s.id }) }),
    el("p", { class: "muted", text: span }),
    el(
      "p",
      { class: report.flagged ? "verdict flagged" : "verdict", "data-flagged": String(report.flagged) },
      report.flagged ? t("shift.flagged") : t("shift.clean"),
    ),
    el(
      "dl",
      { class: "totals" },
      el("dt", { text: t("shift.total") }),
      el("dd", { id: "shift-total-amount", "data-amount": report.total.amount, text: money(report.total.amount) }),
      el("dt", { text: t("sale.volume") }),
      el("dd", { id: "shift-total-volume", "data-volume": report.total.volume, text: litres(report.total.volume) }),
      el("dt", { text: t("shift.sales") }),
      el("dd", { text: String(report.total.sales) }),
    ),
    el(
      "div",
      { class: "tallies" },
      tallyTable("shift-by-attendant", "shift.by_attendant", report.by_attendant, (k) => k),
      tallyTable("shift-by-grade", "shift.by_grade", report.by_grade, (k) => k),
      tallyTable("shift-by-method", "shift.by_method", report.by_method, (k) => t(`method.${k}`)),
    ),
    el("h3", { text: t("shift.nozzles") }),
    el(
      "div",
      { class: "table-wrap" },
      table(
        "shift-nozzles",
        ["shift.position", "shift.nozzle", "shift.open_volume", "shift.close_volume", "shift.totalizer", "shift.sales_volume", "shift.difference", ""],
        nozzleRows(report),
      ),
    ),
    el(
      "div",
      { class: "actions" },
      // Reports are the manager's: the close answers one to an attendant, not the CSV.
      panel.role === "manager"
        ? el("a", { class: "button", id: "shift-csv", href: `/api/shifts/${s.id}/report.csv`, download: `shift-${s.id}.csv`, text: t("shift.csv") })
        : null,
      el("button", { type: "button", class: "primary", id: "shift-print", text: t("shift.print"), onclick: () => window.print() }),
    ),
  );
  box.hidden = false;
  box.scrollIntoView({ block: "start" });
}

async function openReport(id) {
  try {
    showReport(await get(`/api/shifts/${id}/report`));
  } catch (e) {
    panel.fail(e);
  }
}

async function openShift() {
  try {
    const shift = await post("/api/shifts/open", {});
    panel.notice(t("shift.opened", { code: shift.code }));
    await loadShifts();
  } catch (e) {
    panel.fail(e);
  }
}

async function closeShift(shift) {
  if (!(await panel.ask(t("shift.close_confirm", { code: shift.code })))) return;
  try {
    const report = await post("/api/shifts/close", {});
    await loadShifts();
    showReport(report);
  } catch (e) {
    panel.fail(e);
  }
}

function currentBox(answer) {
  const shift = answer.shift;
  const allowed = (RANK[panel.role] ?? 0) >= (RANK[answer.open_close] ?? RANK.manager);
  const button = shift
    ? el("button", { type: "button", class: "danger", id: "shift-close", text: t("shift.close"), onclick: () => closeShift(shift) })
    : el("button", { type: "button", class: "primary", id: "shift-open", text: t("shift.open"), onclick: openShift });
  return el(
    "section",
    { class: "card panel", id: "shift-current", "data-open": shift ? String(shift.id) : "" },
    el("h2", { text: t("shift.heading") }),
    el(
      "p",
      { class: "shift-state" },
      shift ? t("shift.open_now", { code: shift.code, by: shift.opened_by, at: when(shift.opened_at) }) : t("shift.none_open"),
    ),
    allowed ? el("div", { class: "actions" }, button) : null,
  );
}

function pastBox(shifts) {
  return el(
    "section",
    { class: "card panel manager-only", id: "shift-list" },
    el("h2", { text: t("shift.past") }),
    el(
      "div",
      { class: "table-wrap" },
      table(
        "shifts",
        ["shift.heading", "shift.open_volume", "shift.close_volume"],
        shifts.map((s) =>
          el(
            "tr",
            { "data-shift": s.id, onclick: () => openReport(s.id) },
            el("td", { text: `${s.code} (${s.id})` }),
            el("td", { text: `${when(s.opened_at)} · ${s.opened_by}` }),
            el("td", { text: s.closed_at ? `${when(s.closed_at)} · ${s.closed_by}` : "—" }),
          ),
        ),
      ),
    ),
  );
}

/**
 * Opens the panel in `root` for a caller of `role` (or reloads it with no arguments).
 * `fail(error)` reports a refusal, `ask(text)` confirms, `notice(text)` tells what
 * happened.
 */
export async function loadShifts(root, role, fail, ask, notice) {
  if (root) {
    // Opened afresh: nothing of an earlier visit (or user) stays clickable meanwhile.
    Object.assign(panel, { root, role, fail, ask, notice });
    root.replaceChildren();
  }
  const current = await get("/api/shifts/current");
  const shifts = panel.role === "manager" ? await get("/api/shifts") : [];
  const report = panel.root.querySelector("#shift-report");
  // A report shown stays under the refreshed boxes (after a close, it is the answer).
  const boxes = [currentBox(current)];
  if (panel.role === "manager") boxes.push(pastBox(shifts));
  boxes.push(report ?? el("section", { class: "card panel report", id: "shift-report", hidden: true }));
  panel.root.replaceChildren(...boxes);
}
