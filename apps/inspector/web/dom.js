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

/**
 * Makes `parent`'s children look like `children` (built with {@link h}) while keeping every node
 * that is the same kind of element in the same place, only its attributes and text brought up to
 * date. A redraw that rebuilt the nodes would cancel what the user is doing with them: a click
 * pressed on a node that is then replaced never fires, and a text selection in it is lost.
 * An element whose `data-animation-start` did not change keeps its inline style: its animation
 * already runs, and the delay that placed a new element's animation would move it; one whose
 * animation start changed is replaced, so that the new animation plays from its beginning.
 * Event listeners are not carried over (a kept node keeps its own): for nodes without any.
 */
export function morphChildren(parent, children) {
  const wanted = children.flat(Infinity).filter((child) => child !== undefined && child !== null && child !== false);
  wanted.forEach((child, index) => {
    const next = child instanceof Node ? child : document.createTextNode(String(child));
    const current = parent.childNodes[index];
    if (current === undefined) parent.append(next);
    else if (!morph(current, next)) current.replaceWith(next);
  });
  while (parent.childNodes.length > wanted.length) parent.lastChild.remove();
}

/** Brings `current` up to date with `next` in place; false when it must be replaced (another kind of node, a new animation). */
function morph(current, next) {
  if (current.nodeType !== next.nodeType || current.nodeName !== next.nodeName) return false;
  if (current.nodeType !== Node.ELEMENT_NODE) {
    if (current.nodeValue !== next.nodeValue) current.nodeValue = next.nodeValue;
    return true;
  }
  const start = next.dataset.animationStart;
  // A new animation on an element running another: only a new element starts it from the beginning.
  if (start !== undefined && current.dataset.animationStart !== undefined && start !== current.dataset.animationStart) return false;
  const animating = start !== undefined && start === current.dataset.animationStart;
  for (const name of current.getAttributeNames()) {
    if (!next.hasAttribute(name)) current.removeAttribute(name);
  }
  for (const name of next.getAttributeNames()) {
    const value = next.getAttribute(name);
    if (current.getAttribute(name) === value) continue;
    // Through the CSSOM: the page's Content-Security-Policy refuses style attributes set as text.
    if (name === "style") {
      if (!animating) current.style.cssText = next.style.cssText;
    } else {
      current.setAttribute(name, value);
    }
  }
  morphChildren(current, [...next.childNodes]);
  return true;
}
