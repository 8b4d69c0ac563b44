// The flow builder's few helps: show only what applies, put a variable where the cursor is.
(function () {
  "use strict";
  const form = document.getElementById("skillbase_form");
  if (!form) return;
  const builder = document.getElementById("flow-builder");
  const json = form.querySelector("fieldset.json-editor");

  function editor() {
    const chosen = form.querySelector("input[name=editor]:checked");
    return chosen ? chosen.value : "builder";
  }
  function showEditor() {
    const useJson = editor() === "json";
    if (builder) builder.hidden = useJson;
    if (json) json.hidden = !useJson;
  }
  form.querySelectorAll("input[name=editor]").forEach((radio) => radio.addEventListener("change", showEditor));
  showEditor();

  function showStep(step) {
    const end = step.querySelector(".step-end").checked;
    step.classList.toggle("is-end", end);
  }
  form.querySelectorAll(".builder-step").forEach((step) => {
    step.querySelector(".step-end").addEventListener("change", () => showStep(step));
    showStep(step);
  });

  const provider = form.querySelector(".llm-provider");
  function showModel() {
    form.querySelectorAll(".llm-only").forEach((label) => { label.hidden = provider.value === "flow"; });
  }
  if (provider) { provider.addEventListener("change", showModel); showModel(); }

  form.addEventListener("click", (event) => {
    const chip = event.target.closest(".builder-step .chip");
    if (!chip) return;
    const box = chip.closest(".builder-step").querySelector(".step-say");
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? start;
    box.value = box.value.slice(0, start) + chip.dataset.insert + box.value.slice(end);
    box.focus();
    box.selectionStart = box.selectionEnd = start + chip.dataset.insert.length;
  });

  // Every list that says "go to a step" offers the steps as they are named now.
  function stepIds() {
    return Array.from(form.querySelectorAll(".builder-step .step-id"))
      .filter((input) => !input.closest(".builder-step").querySelector("[name$=-delete]:checked"))
      .map((input) => input.value.trim()).filter(Boolean);
  }
  function refreshStepChoices() {
    const ids = stepIds();
    form.querySelectorAll("select.step-choice").forEach((select) => {
      const chosen = select.value;
      const keep = Array.from(select.options).filter((o) => o.dataset.fixed !== undefined);
      select.replaceChildren(...keep);
      ids.forEach((id) => select.add(new Option(id, id, false, id === chosen)));
      if (chosen && !ids.includes(chosen)) select.add(new Option(chosen, chosen, false, true));
    });
  }
  form.addEventListener("change", (event) => {
    if (event.target.matches(".step-id, [name$=-delete]")) refreshStepChoices();
  });

  // More rows than the page came with: a copy of the last one, numbered on, emptied.
  function renumber(node, pattern, replacement) {
    node.querySelectorAll("[name]").forEach((field) => { field.name = field.name.replace(pattern, replacement); });
  }
  function emptied(node) {
    node.querySelectorAll("input, textarea, select").forEach((field) => {
      if (field.type === "checkbox") field.checked = field.name.endsWith("-required");
      else if (field.tagName === "SELECT") field.selectedIndex = 0;
      else field.value = "";
    });
    node.querySelectorAll(".errornote").forEach((note) => note.remove());
    return node;
  }
  form.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-add]");
    if (!button) return;
    event.preventDefault();
    if (button.dataset.add === "step") {
      const steps = form.querySelectorAll(".builder-step");
      const last = steps[steps.length - 1];
      const row = Math.max(...Array.from(steps, (s) => Number(s.dataset.row))) + 1;
      const copy = emptied(last.cloneNode(true));
      copy.dataset.row = row;
      copy.classList.add("blank");
      copy.classList.remove("has-errors", "is-end");
      copy.querySelectorAll(".step-delete").forEach((label) => label.remove());
      renumber(copy, /^step-\d+-/, `step-${row}-`);
      last.after(copy);
      copy.querySelector(".step-end").addEventListener("change", () => showStep(copy));
      copy.querySelector(".step-id").focus();
    } else {
      const body = button.closest(".builder-step").querySelector(`table.${button.dataset.add} tbody`);
      const rows = body.querySelectorAll("tr");
      const last = rows[rows.length - 1];
      const copy = emptied(last.cloneNode(true));
      const kind = button.dataset.add === "step-transitions" ? "t" : "c";
      renumber(copy, new RegExp(`-${kind}-\\d+-`), `-${kind}-${rows.length}-`);
      last.after(copy);
    }
  });
})();
