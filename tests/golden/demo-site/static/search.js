// Search over the pagefind index: a small UI of our own (no inline styles or scripts, so the
// page's Content-Security-Policy stays strict). Results link relative to the site's own URL.
const form = document.getElementById("search-form");
const input = document.getElementById("search-q");
const statusLine = document.getElementById("search-status");
const list = document.getElementById("search-results");
const bundle = new URL(form.dataset.bundle, document.baseURI);
const siteRoot = new URL("../", bundle);
let pagefind = null;

async function engine() {
  if (pagefind === null) {
    pagefind = await import(new URL("pagefind.js", bundle).href);
    await pagefind.options({ excerptLength: 24 });
  }
  return pagefind;
}

// Pagefind marks matches with <mark>; keep only text and those marks (never markup from pages).
function excerptNodes(html) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const out = [];
  for (const node of doc.body.childNodes) {
    if (node.nodeType === Node.ELEMENT_NODE && node.nodeName === "MARK") {
      const mark = document.createElement("mark");
      mark.textContent = node.textContent;
      out.push(mark);
    } else {
      out.push(document.createTextNode(node.textContent));
    }
  }
  return out;
}

async function run(query) {
  list.replaceChildren();
  if (!query.trim()) {
    statusLine.textContent = "";
    return;
  }
  statusLine.textContent = "Searching…";
  let found;
  try {
    found = await (await engine()).search(query);
  } catch (error) {
    statusLine.textContent = "Search is not available here (it needs the site served over http).";
    return;
  }
  const top = await Promise.all(found.results.slice(0, 20).map((r) => r.data()));
  for (const data of top) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = new URL(data.url.replace(/^\/+/, ""), siteRoot).href;
    link.textContent = data.meta && data.meta.title ? data.meta.title : data.url;
    const heading = document.createElement("h2");
    heading.className = "result-title";
    heading.append(link);
    const excerpt = document.createElement("p");
    excerpt.className = "result-excerpt";
    excerpt.append(...excerptNodes(data.excerpt || ""));
    item.append(heading, excerpt);
    list.append(item);
  }
  const n = found.results.length;
  statusLine.textContent = n === 0 ? `No story matches “${query}”.` : `${n} ${n === 1 ? "story matches" : "stories match"} “${query}”.`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const query = input.value;
  const url = new URL(window.location.href);
  url.searchParams.set("q", query);
  window.history.replaceState(null, "", url);
  run(query);
});

const initial = new URLSearchParams(window.location.search).get("q");
if (initial) {
  input.value = initial;
  run(initial);
}
