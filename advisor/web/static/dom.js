// DOM building shared by the pages' scripts: nodes and text only, never HTML strings, so nothing anyone
// wrote becomes markup. Loaded (deferred) before app.js and runs.js, which call `el`.
"use strict";

// el("p", {class: "muted"}, "text", child, ...): an element with attributes and children; null, undefined
// and false children are skipped, arrays are flattened.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}
