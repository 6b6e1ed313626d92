// The console's glue: sign-in and user switching, tabs, dialogs, and the live feed.
// Everything it does is a documented admin API call (README "Admin listener").
//
// A panel (shifts, prices, …) is three pieces: a `data-tab` button in index.html's nav,
// a `<section id="NAME-view" class="view">` (plus its line in console.css's view list),
// and a loader in `showTab` that calls its API routes; `manager-only` hides either from
// attendants.

import { ApiError, follow, get, login, logout, post, whoami } from "./api.js";
import { language, setLanguage, t, translate } from "./i18n.js";
import { noteClosedSales, render } from "./grid.js";
import { search, showSale } from "./sales.js";
import { loadAttention, loadFlagged, renderAlerts } from "./alerts.js";
// Shift and prices panels.
import { loadPrices, resetPrices, showPrices } from "./prices.js";
import { loadShifts } from "./shifts.js";
import { chosenGrades, showGradeChoices } from "./grades.js";

const $ = (selector) => document.querySelector(selector);

const state = { me: null, positions: [], unfollow: null, tab: "forecourt" };

/** Names signed in on this device lately, for a quick switch on a shared tablet. */
function recentUsers() {
  try {
    return JSON.parse(localStorage.getItem("forecourtd.recent") || "[]").slice(0, 6);
  } catch {
    return [];
  }
}

function remember(name) {
  const list = [name, ...recentUsers().filter((n) => n !== name)].slice(0, 6);
  localStorage.setItem("forecourtd.recent", JSON.stringify(list));
}

function notice(text, bad = false) {
  const p = $("#notice");
  p.textContent = text;
  p.classList.toggle("bad", bad);
  p.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => (p.hidden = true), 6000);
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) return showLogin();
  const text = error instanceof ApiError && error.status === 403 ? t("error.forbidden") : t("error.generic", { message: error.message });
  notice(text, true);
}

/** A confirmation in the page's own dialog. */
function ask(question) {
  const dialog = $("#ask-dialog");
  dialog.querySelector(".question").textContent = question;
  return new Promise((resolve) => {
    const answer = (e) => {
      const yes = e.target.dataset.answer === "yes";
      if (!e.target.dataset.answer) return;
      dialog.removeEventListener("click", answer);
      dialog.close();
      resolve(yes);
    };
    dialog.addEventListener("click", answer);
    dialog.showModal();
  });
}

function showView(view) {
  document.body.dataset.view = view;
}

function renderRecent() {
  const box = $("#recent");
  box.replaceChildren();
  const names = recentUsers();
  if (names.length === 0) return;
  const title = document.createElement("p");
  title.textContent = t("login.recent");
  box.append(title);
  for (const name of names) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "quiet";
    b.textContent = name;
    b.addEventListener("click", () => {
      $("#login-user").value = name;
      $("#login-secret").focus();
    });
    box.append(b);
  }
}

function showLogin() {
  state.unfollow?.();
  state.unfollow = null;
  state.me = null;
  document.body.dataset.role = "";
  $("#who").textContent = "";
  $("#login-secret").value = "";
  renderRecent();
  showView("login");
  $("#login-user").focus();
}

function redrawGrid() {
  render($("#grid"), state.positions, actions);
}

function showWho(me) {
  $("#who").textContent = `${me.name} · ${t(me.role === "manager" ? "top.manager" : "top.attendant")}`;
}

function signedIn(me) {
  state.me = me;
  document.body.dataset.role = me.role;
  showWho(me);
  const managerTab = ["flagged", "prices"].includes(state.tab);
  showTab(managerTab && me.role !== "manager" ? "forecourt" : state.tab);
  state.unfollow?.();
  state.unfollow = follow({
    positions: async (list) => {
      await noteClosedSales(list, (id) => get(`/api/sales/${id}`));
      state.positions = list;
      redrawGrid();
    },
    alerts: (list) => renderAlerts($("#alerts"), list),
    prices: (book) => state.tab === "prices" && showPrices(book),
    connection: (live) => {
      const c = $("#connection");
      c.dataset.live = String(live);
      document.body.dataset.live = String(live);
      c.textContent = t(live ? "conn.live" : "conn.lost");
    },
    ended: showLogin,
  });
}

function showTab(tab) {
  state.tab = tab;
  showView(tab);
  for (const b of document.querySelectorAll("[data-tab]")) b.classList.toggle("current", b.dataset.tab === tab);
  const load = {
    sales: () => search($("#sales-search"), $("#sales"), openSale),
    pending: () => loadAttention($("#attention"), state.me?.role, () => showTab("pending"), failed, ask),
    flagged: () => loadFlagged($("#flagged")),
    // Shift and prices panels.
    shifts: () => loadShifts($("#shifts-view"), state.me?.role, failed, ask, notice),
    prices: () => loadPrices($("#prices-view"), failed, ask, notice),
  }[tab];
  load?.().catch(failed);
}

function openSale(sale) {
  showSale($("#sale-dialog"), sale, state.me?.role, () => state.tab === "sales" && showTab("sales"), failed, ask);
}

const actions = {
  authorize(p) {
    const dialog = $("#authorize-dialog");
    const form = $("#authorize-form");
    form.reset();
    form.dataset.position = String(p.position);
    dialog.querySelector("h2").textContent = t("auth.heading", { n: p.position });
    dialog.querySelector(".error").textContent = "";
    showGradeChoices($("#authorize-grades"), p);
    dialog.showModal();
    $("#authorize-value").focus();
  },
  async stop(p) {
    try {
      await post(`/api/positions/${p.position}/stop`, {});
    } catch (e) {
      failed(e);
    }
  },
  async cancel(p) {
    if (!(await ask(t("cancel.confirm", { n: p.position })))) return;
    try {
      await post(`/api/positions/${p.position}/cancel`, {});
    } catch (e) {
      failed(e);
    }
  },
  sale(p) {
    if (p.payable[0]) openSale(p.payable[0]);
  },
};

async function submitAuthorize(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const mode = data.get("mode");
  // Typed as people write numbers in the language shown: 1.500,50 or 1,500.50.
  const typed = String(data.get("value") ?? "").trim();
  const value = language() === "es" ? typed.replace(/\./g, "").replace(",", ".") : typed.replace(/,/g, "");
  const body = mode === "full" ? {} : { [mode]: value };
  const grades = chosenGrades(form);
  if (grades.length > 0) body.grades = grades;
  const error = form.querySelector(".error");
  if (mode !== "full" && !(Number.parseFloat(value) > 0)) {
    error.textContent = t("auth.value");
    return;
  }
  try {
    await post(`/api/positions/${form.dataset.position}/authorize`, body);
    $("#authorize-dialog").close();
  } catch (e) {
    error.textContent = e.message;
  }
}

async function submitLogin(event) {
  event.preventDefault();
  const user = $("#login-user").value.trim();
  const secret = $("#login-secret").value;
  $("#login-error").textContent = "";
  try {
    const me = await login(user, secret);
    remember(me.user);
    $("#login-secret").value = "";
    signedIn({ name: me.user, role: me.role });
  } catch (e) {
    $("#login-error").textContent = e instanceof ApiError && e.status === 429 ? t("login.throttled") : t("login.failed");
  }
}

async function emergencyStop() {
  if (!(await ask(t("estop.confirm")))) return;
  try {
    const result = await post("/api/positions/stop-all", {});
    notice(t("estop.done", { stopped: result.stopped.length, failed: result.failed.length }), result.failed.length > 0);
  } catch (e) {
    failed(e);
  }
}

function wire() {
  $("#login").addEventListener("submit", submitLogin);
  $("#authorize-form").addEventListener("submit", submitAuthorize);
  $("#authorize-form").addEventListener("change", (e) => {
    if (e.target.name === "mode") $("#authorize-value").disabled = e.target.value === "full";
  });
  $("#sales-search").addEventListener("submit", (e) => {
    e.preventDefault();
    showTab("sales");
  });
  for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  for (const b of document.querySelectorAll("[data-close]")) b.addEventListener("click", () => b.closest("dialog").close());
  $("#estop").addEventListener("click", emergencyStop);
  $("#logout").addEventListener("click", async () => {
    await logout().catch(() => {});
    showLogin();
  });
  // On a shared tablet the next person signs in over the current session.
  $("#switch-user").addEventListener("click", async () => {
    await logout().catch(() => {});
    showLogin();
  });
  const lang = $("#lang");
  lang.value = language();
  lang.addEventListener("change", () => {
    setLanguage(lang.value);
    translate();
    if (state.me) showWho(state.me);
    else renderRecent();
    const c = $("#connection");
    c.textContent = t(c.dataset.live === "true" ? "conn.live" : "conn.lost");
    redrawGrid();
    resetPrices();
    if (["shifts", "prices"].includes(state.tab)) showTab(state.tab);
  });
}

async function start() {
  translate();
  wire();
  try {
    const me = await whoami();
    if (me) signedIn(me);
    else showLogin();
  } catch (e) {
    showLogin();
    failed(e);
  }
}

start();
