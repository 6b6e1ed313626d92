// Grades on the console: the names a card shows and the grade choices of the authorize
// dialog. Names come from `/api/positions` (each position's `grades`, as configured);
// the limit travels as grade numbers in `POST /api/positions/{n}/authorize`.

import { t } from "./i18n.js";

function nameOf(p, grade) {
  const g = (p.grades ?? []).find((x) => x.grade === grade);
  return g ? g.name : t("pos.grade", { g: grade });
}

/**
 * The card's grade line as `[label, value]`, or null: the grade of the sale awaiting
 * payment (or just paid), else of the nozzle out, else the grades the dispatch is
 * limited to.
 */
export function gradeLine(p, grade) {
  if (grade !== null && grade !== undefined) return [t("pos.product"), nameOf(p, grade)];
  if (p.nozzle_out) {
    const g = (p.grades ?? []).find((x) => x.nozzles.includes(p.nozzle_out));
    return [t("pos.product"), g ? g.name : t("pos.nozzle", { n: p.nozzle_out })];
  }
  const limit = p.dispatch?.grades ?? [];
  if (limit.length > 0) return [t("pos.only"), limit.map((g) => nameOf(p, g)).join(", ")];
  return null;
}

/** Offers the position's grades as checkboxes in `box` (none checked: any grade). */
export function showGradeChoices(box, p) {
  const list = box.querySelector(".choices");
  const grades = p.grades ?? [];
  box.hidden = grades.length < 2;
  list.replaceChildren(
    ...grades.map((g) => {
      const input = document.createElement("input");
      input.type = "checkbox";
      input.name = "grade";
      input.value = String(g.grade);
      const name = document.createElement("span");
      name.textContent = g.name;
      const label = document.createElement("label");
      label.dataset.grade = String(g.grade);
      label.append(input, name);
      return label;
    }),
  );
}

/** The grade numbers checked in `form`; empty for any grade. */
export function chosenGrades(form) {
  return new FormData(form).getAll("grade").map(Number);
}
