// The template editor: tabs per language, line numbers beside the code fields, merge fields
// inserted at the cursor, and a live preview. Typing fires "editor-changed" on the form, which
// htmx turns (debounced) into a POST of the whole form to the preview URL; the response replaces
// #template-preview, whose iframe then loads the rendered HTML from its own sandboxed URL.
// Without JavaScript every language is shown at once, fields are copied from the list, and the
// Preview button posts the page.
(() => {
  "use strict";

  const form = document.getElementById("template-editor");
  if (!form) return;
  const readonly = form.hasAttribute("data-readonly");
  const panels = Array.from(form.querySelectorAll(".language-panel"));
  const tabList = form.querySelector(".language-tabs");
  const previewLanguage = document.getElementById("preview-language");
  let lastTarget = null;

  const changed = () => form.dispatchEvent(new CustomEvent("editor-changed"));

  // --- Tabs: one language at a time ------------------------------------------------------------
  function showLanguage(language, { preview } = { preview: false }) {
    for (const panel of panels) panel.hidden = panel.dataset.language !== language;
    for (const tab of tabList.querySelectorAll("[role=tab]")) {
      const selected = tab.dataset.language === language;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
    if (preview && previewLanguage && previewLanguage.value !== language) {
      previewLanguage.value = language;
      changed();
    }
  }

  if (tabList && panels.length > 1) {
    for (const panel of panels) {
      const language = panel.dataset.language;
      const tab = document.createElement("button");
      tab.type = "button";
      tab.setAttribute("role", "tab");
      tab.id = `tab-${language}`;
      tab.dataset.language = language;
      tab.setAttribute("aria-controls", panel.id);
      tab.textContent = language;
      tab.addEventListener("click", () => showLanguage(language, { preview: true }));
      tab.addEventListener("keydown", (event) => {
        if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
        const tabs = Array.from(tabList.querySelectorAll("[role=tab]"));
        const next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
        next.focus();
        next.click();
      });
      tabList.append(tab);
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tab.id);
    }
    tabList.hidden = false;
    // Open the first language with a problem, else the one just added, else the first one.
    const withProblem = panels.find((panel) => panel.querySelector(".field-problems"));
    const active = panels.find((panel) => panel.dataset.language === form.dataset.activeLanguage);
    showLanguage((withProblem || active || panels[0]).dataset.language);
  }

  // --- Line numbers ------------------------------------------------------------------------------
  for (const textarea of form.querySelectorAll("textarea.code-editor")) {
    const wrap = document.createElement("div");
    wrap.className = "code-editor-wrap";
    const gutter = document.createElement("div");
    gutter.className = "code-gutter";
    gutter.setAttribute("aria-hidden", "true");
    textarea.parentNode.insertBefore(wrap, textarea);
    wrap.append(gutter, textarea);
    let shown = 0;
    const number = () => {
      const lines = textarea.value.split("\n").length;
      if (lines !== shown) {
        gutter.textContent = Array.from({ length: lines }, (_, i) => String(i + 1)).join("\n");
        shown = lines;
      }
      gutter.scrollTop = textarea.scrollTop;
    };
    textarea.addEventListener("input", number);
    textarea.addEventListener("scroll", () => {
      gutter.scrollTop = textarea.scrollTop;
    });
    number();
  }

  // --- Merge fields at the cursor ------------------------------------------------------------------
  form.addEventListener("focusin", (event) => {
    if (event.target.classList && event.target.classList.contains("merge-target")) lastTarget = event.target;
  });

  function insertTarget() {
    if (lastTarget && !lastTarget.closest("[hidden]")) return lastTarget;
    const visible = panels.find((panel) => !panel.hidden) || panels[0];
    return visible ? visible.querySelector("textarea[name^='html_body__']") : null;
  }

  for (const button of form.querySelectorAll("[data-insert]")) {
    button.addEventListener("click", () => {
      const target = insertTarget();
      if (!target || readonly) return;
      const start = target.selectionStart ?? target.value.length;
      const end = target.selectionEnd ?? start;
      target.setRangeText(button.dataset.insert, start, end, "end");
      target.focus();
      target.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  // --- Live preview ----------------------------------------------------------------------------------
  form.addEventListener("input", (event) => {
    if (event.target.classList && event.target.classList.contains("merge-target")) changed();
  });
  form.addEventListener("change", (event) => {
    const target = event.target;
    if (target.classList.contains("preview-source") || target.name === "default_language") changed();
  });
  // With JavaScript the Preview button refreshes the preview in place instead of posting the page.
  const previewButton = form.querySelector("button[name=action][value=preview]");
  if (previewButton) {
    previewButton.addEventListener("click", (event) => {
      event.preventDefault();
      changed();
    });
  }
})();
