// Live recipient count on the notice form (no framework; the page works without it).
(function () {
  var form = document.getElementById("compose");
  if (!form) { return; }
  var output = document.getElementById("audience-count");
  function update() {
    var kind = form.elements["audience"].value;
    var value = kind === "topic" ? form.elements["topic"].value
      : kind === "community" ? form.elements["community"].value : "";
    var url = "/notices/audience?kind=" + encodeURIComponent(kind) + "&value=" + encodeURIComponent(value);
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) { output.textContent = data.text; })
      .catch(function () { output.textContent = "人数暂时无法获取"; });
  }
  ["audience", "topic", "community"].forEach(function (name) {
    form.elements[name].addEventListener("change", update);
  });
  update();
})();

// Work-log form: the decision number and opinion belong to legality reviews only.
(function () {
  var kind = document.querySelector("[data-review-toggle]");
  var block = document.querySelector("[data-review-only]");
  if (!kind || !block) { return; }
  function update() { block.hidden = kind.value !== "review"; }
  kind.addEventListener("change", update);
  update();
})();
