// Building the page's elements safely, shared by the inspector page (app.js) and its dead-letter
// panel (deadLetters.js).

/**
 * Builds an element; string children become text nodes (never HTML), so untrusted text (names,
 * keys, reasons, bodies) can be passed as it is. Attributes that are undefined or false are left
 * out, true ones are set empty; `class` and `style` set the class name and the inline style.
 */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
