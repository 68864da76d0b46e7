// The segment builder: edits the rule tree held in the form's "rules" textarea as groups and
// conditions, and fires "rules-changed" on the form so htmx posts it for a live count and masked
// sample. Without JavaScript the textarea itself is the editor. Errors from the server name a
// node's path (rules.all[1].value); they are shown beside the node with that path.
(() => {
  "use strict";

  const form = document.getElementById("segment-form");
  const root = document.getElementById("rule-builder");
  const textarea = document.getElementById("segment-rules");
  const catalogueNode = document.getElementById("segment-catalogue");
  if (!form || !root || !textarea || !catalogueNode) return;

  const catalogue = JSON.parse(catalogueNode.textContent);
  const fields = Object.fromEntries(catalogue.fields.map((f) => [f.field, f]));
  const readonly = form.hasAttribute("data-readonly");
  const KINDS = ["all", "any", "none"];
  const KIND_LABELS = { all: "Match all of", any: "Match any of", none: "Match none of" };
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];

  let tree;
  try {
    tree = JSON.parse(textarea.value);
  } catch {
    return; // Leave the JSON editor to the user; the server names the problem.
  }
  if (!tree || typeof tree !== "object" || !KINDS.some((k) => Array.isArray(tree[k]))) return;

  const el = (tag, attrs = {}, children = []) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  };
  const kindOf = (group) => KINDS.find((k) => Array.isArray(group[k]));
  const opsFor = (field) => {
    const info = fields[field];
    if (!info) return [];
    return Object.entries(catalogue.operators[info.kind] || {}).filter(([, op]) => !info.phi || op.phi);
  };

  function changed() {
    textarea.value = JSON.stringify(tree, null, 2);
    form.dispatchEvent(new CustomEvent("rules-changed"));
  }

  function select(label, options, current, onChange) {
    const node = el("select", { "aria-label": label });
    for (const [value, text] of options) {
      const option = el("option", { value: String(value), text });
      if (String(value) === String(current)) option.selected = true;
      node.append(option);
    }
    node.addEventListener("change", () => onChange(node.value));
    return node;
  }

  function input(label, type, current, onChange) {
    const node = el("input", { "aria-label": label, type });
    node.value = current === undefined || current === null ? "" : String(current);
    node.addEventListener("input", () => onChange(node.value));
    return node;
  }

  // One value typed for the field's kind: numbers as numbers, booleans as booleans.
  function typed(info, raw) {
    if (info.kind === "number") return raw === "" || isNaN(Number(raw)) ? raw : Number(raw);
    if (info.kind === "boolean") return raw === "true";
    return raw;
  }

  function scalarInput(info, label, current, onChange) {
    if (info.kind === "choice" || info.kind === "consent") {
      return select(label, [["", "—"], ...info.choices.map((c) => [c, c])], current ?? "", onChange);
    }
    if (info.kind === "boolean") {
      return select(label, [["true", "yes"], ["false", "no"]], current === false ? "false" : "true", onChange);
    }
    const type = info.kind === "number" ? "number" : ["date", "datetime"].includes(info.kind) ? "date" : "text";
    return input(label, type, current, onChange);
  }

  function valueEditor(condition, info, op) {
    const shape = op.value;
    const set = (value) => { condition.value = value; changed(); };
    if (shape === "none") {
      delete condition.value;
      return el("span");
    }
    if (shape === "list") {
      const current = Array.isArray(condition.value) ? condition.value.join(", ") : "";
      return input("Values, separated by commas", "text", current, (raw) =>
        set(raw.split(",").map((part) => part.trim()).filter(Boolean).map((part) => typed(info, part))));
    }
    if (shape === "range") {
      const pair = Array.isArray(condition.value) ? [...condition.value] : ["", ""];
      const side = (n, label) => scalarInput(info, label, pair[n], (raw) => { pair[n] = typed(info, raw); set([...pair]); });
      return el("span", { class: "rule-range" }, [side(0, "From"), el("span", { text: "and" }), side(1, "To")]);
    }
    if (shape === "days") {
      return input("Number of days", "number", condition.value, (raw) => set(raw === "" ? raw : Number(raw)));
    }
    if (shape === "month") {
      if (condition.value === undefined) condition.value = 1;
      return select("Month", MONTHS.map((m, n) => [n + 1, m]), condition.value, (raw) => set(Number(raw)));
    }
    if (shape === "month_day") return input("Day as MM-DD", "text", condition.value, set);
    if (shape === "tag") return input("Tag", "text", condition.value, set);
    return scalarInput(info, "Value", condition.value, (raw) => set(typed(info, raw)));
  }

  function renderCondition(condition, path, remove) {
    const row = el("div", { class: "rule-condition", "data-path": path });
    const info = fields[condition.field];
    const fieldOptions = [["", "Choose a field"], ...catalogue.fields.map((f) => [f.field, f.phi ? `${f.label} (PHI)` : f.label])];
    row.append(select("Field", fieldOptions, condition.field || "", (value) => {
      condition.field = value;
      const first = opsFor(value)[0];
      condition.op = first ? first[0] : "";
      delete condition.value;
      rerender();
    }));
    if (info) {
      const ops = opsFor(condition.field);
      if (!ops.some(([code]) => code === condition.op) && ops.length) condition.op = ops[0][0];
      row.append(select("Operator", ops.map(([code, op]) => [code, op.label]), condition.op, (value) => {
        condition.op = value;
        delete condition.value;
        rerender();
      }));
      const op = catalogue.operators[info.kind][condition.op];
      if (op) row.append(valueEditor(condition, info, op));
    }
    if (!readonly) {
      const button = el("button", { type: "button", class: "button button-small button-ghost", text: "Remove" });
      button.addEventListener("click", remove);
      row.append(button);
    }
    return row;
  }

  function renderGroup(group, path, remove) {
    const kind = kindOf(group);
    const box = el("div", { class: "rule-group", "data-path": path });
    const head = el("div", { class: "rule-group-head" });
    head.append(select("Group", KINDS.map((k) => [k, KIND_LABELS[k]]), kind, (value) => {
      group[value] = group[kind];
      delete group[kind];
      rerender();
    }));
    if (remove && !readonly) {
      const button = el("button", { type: "button", class: "button button-small button-ghost", text: "Remove group" });
      button.addEventListener("click", remove);
      head.append(button);
    }
    box.append(head);
    const children = group[kind];
    children.forEach((child, n) => {
      const childPath = `${path}.${kind}[${n}]`;
      const drop = () => { children.splice(n, 1); rerender(); };
      const isGroup = child && typeof child === "object" && !("field" in child) && kindOf(child);
      box.append(isGroup ? renderGroup(child, childPath, drop) : renderCondition(child, childPath, drop));
    });
    if (!readonly) {
      const actions = el("div", { class: "rule-actions" });
      const addCondition = el("button", { type: "button", class: "button button-small", text: "Add condition" });
      addCondition.addEventListener("click", () => { children.push({ field: "", op: "" }); rerender(); });
      const addGroup = el("button", { type: "button", class: "button button-small", text: "Add group" });
      addGroup.addEventListener("click", () => { children.push({ any: [] }); rerender(); });
      actions.append(addCondition, addGroup);
      box.append(actions);
    }
    return box;
  }

  function rerender() {
    root.replaceChildren(renderGroup(tree, "rules", null));
    if (readonly) for (const control of root.querySelectorAll("select, input")) control.disabled = true;
    changed();
  }

  // Server errors beside the deepest node whose path starts the error's path.
  function showErrors() {
    for (const old of root.querySelectorAll(".rule-error")) old.remove();
    const nodes = [...root.querySelectorAll("[data-path]")];
    for (const item of document.querySelectorAll("#segment-preview [data-rule-path]")) {
      const path = item.getAttribute("data-rule-path");
      const owner = nodes
        .filter((node) => { const p = node.getAttribute("data-path"); return path === p || path.startsWith(`${p}.`); })
        .sort((a, b) => b.getAttribute("data-path").length - a.getAttribute("data-path").length)[0];
      if (owner) {
        const message = item.textContent.replace(/^[^:]*:\s*/, "");
        owner.classList.add("rule-invalid");
        owner.append(el("p", { class: "field-error rule-error", text: message }));
      }
    }
  }

  document.body.addEventListener("htmx:afterSwap", showErrors);
  // The JSON editor stays in step: editing it by hand rebuilds the tree when it parses.
  textarea.addEventListener("input", () => {
    try {
      const parsed = JSON.parse(textarea.value);
      if (parsed && typeof parsed === "object" && KINDS.some((k) => Array.isArray(parsed[k]))) {
        tree = parsed;
        root.replaceChildren(renderGroup(tree, "rules", null));
      }
    } catch { /* keep the last good tree until the JSON parses */ }
    form.dispatchEvent(new CustomEvent("rules-changed"));
  });
  root.replaceChildren(renderGroup(tree, "rules", null));
  if (readonly) for (const control of root.querySelectorAll("select, input")) control.disabled = true;
  showErrors();
})();
