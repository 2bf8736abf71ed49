// Starts Swagger UI on /docs from a file of ours, so the page needs no inline script.
(function () {
  "use strict";
  var script = document.currentScript;
  var schema = (script && script.getAttribute("data-openapi")) || "/openapi.json";
  window.ui = SwaggerUIBundle({
    url: schema,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
