// Words and number formats of the console: Spanish (Argentina) first, English second.
// Money and volumes are formatted from the API's exact decimal strings; the number is
// only ever displayed, never computed with.

const WORDS = {
  es: {
    title: "Playa",
    "login.heading": "Ingresar",
    "login.user": "Playero (número) o usuario",
    "login.secret": "PIN o contraseña",
    "login.submit": "Ingresar",
    "login.recent": "Usuarios recientes",
    "login.failed": "Usuario o clave incorrectos",
    "login.throttled": "Demasiados intentos; esperá un momento",
    "nav.forecourt": "Playa",
    "nav.sales": "Ventas",
    "nav.pending": "Pendientes",
    "nav.flagged": "Pagos observados",
    "top.switch": "Cambiar usuario",
    "top.logout": "Salir",
    "top.estop": "PARADA DE EMERGENCIA",
    "top.manager": "encargado",
    "top.attendant": "playero",
    "conn.live": "En vivo",
    "conn.lost": "Conexión perdida — reconectando…",
    "state.offline": "Sin conexión",
    "state.idle": "Libre",
    "state.calling": "Pico levantado",
    "state.authorized": "Autorizado",
    "state.filling": "Cargando",
    "state.awaiting_payment": "Esperando pago",
    "state.paid": "Pagado",
    "state.settled": "Cobrado",
    "state.not_programmed": "Sin precios",
    "state.stopped": "Detenido",
    "pos.title": "Surtidor {n}",
    "pos.grade": "Producto {g}",
    "pos.product": "Producto",
    "pos.only": "Solo",
    "pos.nozzle": "Pico {n}",
    "pos.preset": "Límite",
    "pos.full": "Tanque lleno",
    "pos.attendant": "Playero",
    "pos.qr": "El QR responde",
    "qr.payable": "cobrar {amount}",
    "qr.in_process": "carga en curso",
    "qr.unavailable": "nada para cobrar",
    "qr.timeout": "sin surtidor",
    "act.authorize": "Autorizar",
    "act.stop": "Detener",
    "act.cancel": "Cancelar despacho",
    "act.sale": "Cobro",
    "auth.heading": "Autorizar surtidor {n}",
    "auth.amount": "Por importe ($)",
    "auth.volume": "Por volumen (l)",
    "auth.full": "Tanque lleno",
    "auth.submit": "Autorizar",
    "auth.value": "Valor",
    "auth.grades": "Productos",
    "auth.grades_all": "Sin marcar: cualquier producto",
    "common.cancel": "Cancelar",
    "common.close": "Cerrar",
    "common.confirm": "Confirmar",
    "estop.confirm": "¿Detener TODOS los surtidores ahora?",
    "estop.done": "Parada enviada: {stopped} detenidos, {failed} sin respuesta",
    "cancel.confirm": "¿Cancelar el despacho del surtidor {n}? Solo si el surtidor no responde.",
    "sale.heading": "Venta del surtidor {n}",
    "sale.amount": "Importe",
    "sale.volume": "Volumen",
    "sale.price": "Precio",
    "sale.reference": "Referencia",
    "sale.waiting_mp": "Esperando el pago con Mercado Pago (QR del surtidor).",
    "sale.cash": "Cobrado en efectivo",
    "sale.card": "Cobrado con tarjeta",
    "sale.void": "Anular venta",
    "sale.refund": "Devolver",
    "sale.refund_amount": "Importe a devolver (vacío: todo)",
    "sale.void_confirm": "¿Anular la venta {ref}? No se cobrará.",
    "sales.position": "Surtidor",
    "sales.attendant": "Playero",
    "sales.reference": "Referencia",
    "sales.status": "Estado",
    "sales.from": "Desde",
    "sales.to": "Hasta",
    "sales.search": "Buscar",
    "sales.any": "Todos",
    "sales.time": "Hora",
    "sales.none": "No hay ventas que coincidan.",
    "status.ready": "Por cobrar",
    "status.paid": "Pagada (MP)",
    "status.settled_other": "Cobrada en caja",
    "status.voided": "Anulada",
    "alerts.none": "Sin alertas",
    "alert.line_down": "Línea {line} caída: surtidores {positions} sin respuesta",
    "alert.pump_offline": "Surtidor {position} sin conexión",
    "alert.unpaid_sale": "Surtidor {position}: venta de {amount} sin pagar hace {minutes} min",
    "alert.mercadopago_unreachable": "Mercado Pago no responde desde {since}",
    "alert.mercadopago_token_refused": "Mercado Pago rechaza el token de acceso: avisá al encargado",
    "alert.attention_open": "Surtidor {position}: despacho sin verificar, revisar en Pendientes",
    "alert.journal_unavailable": "El registro de ventas no responde",
    "alert.chain_backlog": "Sin enlace con la central hace {minutes} min: {count} eventos esperan (se envían al volver)",
    "attention.heading": "Despachos sin verificar",
    "attention.none": "Nada pendiente.",
    "attention.book": "Registrar venta",
    "attention.dismiss": "Descartar",
    "attention.book_confirm": "¿Se cargó combustible? Se registra como venta por cobrar.",
    "flagged.heading": "Pagos observados",
    "flagged.none": "No hay pagos observados.",
    "flagged.payment": "Pago",
    "flagged.reason": "Motivo",
    "flagged.todo": "Qué hacer",
    "todo.mismatch": "El importe no coincide: cobrar la diferencia o devolver el pago.",
    "todo.duplicate": "Pago repetido: devolver el segundo pago.",
    "todo.after": "Pagó también en caja: devolver el pago de Mercado Pago o el efectivo.",
    "todo.dispute": "Contracargo o reclamo: revisar en Mercado Pago y guardar el ticket.",
    "todo.unknown": "Pago sin venta conocida: revisar en Mercado Pago.",
    "todo.refunded": "Devuelto: nada que hacer si fue a pedido.",
    "error.generic": "No se pudo: {message}",
    "error.forbidden": "No tenés permiso para esto",
  },
  en: {
    title: "Forecourt",
    "login.heading": "Sign in",
    "login.user": "Attendant (number) or user",
    "login.secret": "PIN or password",
    "login.submit": "Sign in",
    "login.recent": "Recent users",
    "login.failed": "Wrong user or secret",
    "login.throttled": "Too many attempts; wait a moment",
    "nav.forecourt": "Forecourt",
    "nav.sales": "Sales",
    "nav.pending": "Pending",
    "nav.flagged": "Flagged payments",
    "top.switch": "Switch user",
    "top.logout": "Sign out",
    "top.estop": "EMERGENCY STOP",
    "top.manager": "manager",
    "top.attendant": "attendant",
    "conn.live": "Live",
    "conn.lost": "Connection lost — reconnecting…",
    "state.offline": "Offline",
    "state.idle": "Idle",
    "state.calling": "Nozzle up",
    "state.authorized": "Authorized",
    "state.filling": "Filling",
    "state.awaiting_payment": "Awaiting payment",
    "state.paid": "Paid",
    "state.settled": "Settled",
    "state.not_programmed": "No prices",
    "state.stopped": "Stopped",
    "pos.title": "Pump {n}",
    "pos.grade": "Grade {g}",
    "pos.product": "Grade",
    "pos.only": "Only",
    "pos.nozzle": "Nozzle {n}",
    "pos.preset": "Preset",
    "pos.full": "Full tank",
    "pos.attendant": "Attendant",
    "pos.qr": "QR answers",
    "qr.payable": "pay {amount}",
    "qr.in_process": "dispatch in progress",
    "qr.unavailable": "nothing to pay",
    "qr.timeout": "pump unreachable",
    "act.authorize": "Authorize",
    "act.stop": "Stop",
    "act.cancel": "Cancel dispatch",
    "act.sale": "Payment",
    "auth.heading": "Authorize pump {n}",
    "auth.amount": "By amount ($)",
    "auth.volume": "By volume (l)",
    "auth.full": "Full tank",
    "auth.submit": "Authorize",
    "auth.value": "Value",
    "auth.grades": "Grades",
    "auth.grades_all": "None checked: any grade",
    "common.cancel": "Cancel",
    "common.close": "Close",
    "common.confirm": "Confirm",
    "estop.confirm": "Stop ALL pumps now?",
    "estop.done": "Stop sent: {stopped} stopped, {failed} not reached",
    "cancel.confirm": "Cancel the dispatch of pump {n}? Only when the pump does not answer.",
    "sale.heading": "Sale of pump {n}",
    "sale.amount": "Amount",
    "sale.volume": "Volume",
    "sale.price": "Price",
    "sale.reference": "Reference",
    "sale.waiting_mp": "Waiting for the Mercado Pago payment (the pump's QR).",
    "sale.cash": "Paid in cash",
    "sale.card": "Paid by card",
    "sale.void": "Void sale",
    "sale.refund": "Refund",
    "sale.refund_amount": "Amount to refund (empty: all)",
    "sale.void_confirm": "Void sale {ref}? Nothing will be charged.",
    "sales.position": "Pump",
    "sales.attendant": "Attendant",
    "sales.reference": "Reference",
    "sales.status": "Status",
    "sales.from": "From",
    "sales.to": "To",
    "sales.search": "Search",
    "sales.any": "Any",
    "sales.time": "Time",
    "sales.none": "No matching sales.",
    "status.ready": "To be paid",
    "status.paid": "Paid (MP)",
    "status.settled_other": "Paid at the counter",
    "status.voided": "Voided",
    "alerts.none": "No alerts",
    "alert.line_down": "Line {line} down: pumps {positions} not answering",
    "alert.pump_offline": "Pump {position} offline",
    "alert.unpaid_sale": "Pump {position}: sale of {amount} unpaid for {minutes} min",
    "alert.mercadopago_unreachable": "Mercado Pago unreachable since {since}",
    "alert.mercadopago_token_refused": "Mercado Pago refuses the access token: tell the manager",
    "alert.attention_open": "Pump {position}: unverified dispatch, see Pending",
    "alert.journal_unavailable": "The sales journal does not answer",
    "alert.chain_backlog": "No link to headquarters for {minutes} min: {count} events waiting (sent once it is back)",
    "attention.heading": "Unverified dispatches",
    "attention.none": "Nothing pending.",
    "attention.book": "Book as sale",
    "attention.dismiss": "Dismiss",
    "attention.book_confirm": "Was fuel dispensed? It is booked as a sale to be paid.",
    "flagged.heading": "Flagged payments",
    "flagged.none": "No flagged payments.",
    "flagged.payment": "Payment",
    "flagged.reason": "Reason",
    "flagged.todo": "What to do",
    "todo.mismatch": "Amount differs: charge the difference or refund the payment.",
    "todo.duplicate": "Second payment: refund it.",
    "todo.after": "Also paid at the counter: refund the Mercado Pago payment or the cash.",
    "todo.dispute": "Chargeback or dispute: check in Mercado Pago and keep the receipt.",
    "todo.unknown": "Payment for no known sale: check in Mercado Pago.",
    "todo.refunded": "Refunded: nothing to do if it was asked for.",
    "error.generic": "Could not do it: {message}",
    "error.forbidden": "You are not allowed to do this",
  },
};

const LOCALES = { es: "es-AR", en: "en-US" };

let lang = localStorage.getItem("forecourtd.lang") === "en" ? "en" : "es";

/** The language in use, `es` or `en`. */
export function language() {
  return lang;
}

/** Switches the language (remembered on this device). */
export function setLanguage(next) {
  lang = next === "en" ? "en" : "es";
  localStorage.setItem("forecourtd.lang", lang);
  document.documentElement.lang = LOCALES[lang];
}

/** Adds a panel's words (`{es: {...}, en: {...}}`), kept with the panel's code. */
export function addWords(words) {
  for (const [code, table] of Object.entries(words)) Object.assign(WORDS[code], table);
}

/** The text of `key`, with `{name}` replaced from `vars`. */
export function t(key, vars = {}) {
  const text = WORDS[lang][key] ?? WORDS.es[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : ""));
}

/** Fills every `[data-t]` element under `root` with its text. */
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-t]")) {
    el.textContent = t(el.dataset.t);
  }
}

function number(value) {
  const n = typeof value === "number" ? value : Number.parseFloat(value);
  return Number.isFinite(n) ? n : null;
}

/** `$ 8.000,00` (es-AR), from the API's decimal. */
export function money(value) {
  const n = number(value);
  if (n === null) return "—";
  return new Intl.NumberFormat(LOCALES[lang], {
    style: "currency",
    currency: "ARS",
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  }).format(n);
}

/** `12,345 l` (es-AR), from the API's decimal. */
export function litres(value) {
  const n = number(value);
  if (n === null) return "—";
  const text = new Intl.NumberFormat(LOCALES[lang], {
    minimumFractionDigits: 3,
    maximumFractionDigits: 3,
  }).format(n);
  return `${text} l`;
}

/** A local date and time. */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(LOCALES[lang], { dateStyle: "short", timeStyle: "medium" }).format(d);
}

setLanguage(lang);
