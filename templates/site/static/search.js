// Search over the pagefind index: a small UI of our own (no inline styles or scripts, so the
// page's Content-Security-Policy stays strict). Results link relative to the site's own URL.
//
// Words, not characters. The index holds whole words (Chinese cut by jieba when the site was
// built); a query is cut the same way, with the index's own Chinese vocabulary (zh-words.json).
// Each word, and each "quoted phrase", must occur: a word is looked up whole (English stemmed,
// so "arrests" finds "arrested"), then as the start of longer words ("censor" finds
// "censorship"); never the other way round, so "xinjiang" cannot match "Xin" and 微软 cannot
// match the 微 of 微博.
const form = document.getElementById("search-form");
const input = document.getElementById("search-q");
const statusLine = document.getElementById("search-status");
const list = document.getElementById("search-results");
const bundle = new URL(form.dataset.bundle, document.baseURI);
const siteRoot = new URL("../", bundle);
const SHOWN = 20;
const CHECKED = 60; // prefix matches checked one by one (each check loads a small fragment)
const HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/u;
const HAN_RUN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/gu;
const CJK = "[\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff\\u3000-\\u303f\\uff00-\\uff65\\u2018\\u2019\\u201c\\u201d]";
let pagefind = null;
let vocabulary = null;
let longest = 1;

async function engine() {
  if (pagefind === null) {
    pagefind = await import(new URL("pagefind.js", bundle).href);
    await pagefind.options({ excerptLength: 24 });
  }
  return pagefind;
}

async function chineseWords() {
  if (vocabulary === null) {
    vocabulary = new Set();
    try {
      const response = await fetch(new URL("zh-words.json", bundle));
      if (response.ok) {
        for (const word of await response.json()) {
          vocabulary.add(word);
          longest = Math.max(longest, [...word].length);
        }
      }
    } catch (error) {
      // No vocabulary: Chinese queries are looked up as typed.
    }
  }
  return vocabulary;
}

// A run of Chinese cut into the index's words, longest first; characters that start no known
// word of two or more stay together, so an unknown word is looked up whole (and not found).
function cutChinese(run, words) {
  const chars = [...run];
  const out = [];
  let unknown = "";
  let i = 0;
  while (i < chars.length) {
    let found = 0;
    for (let n = Math.min(longest, chars.length - i); n >= 2; n--) {
      if (words.has(chars.slice(i, i + n).join(""))) {
        found = n;
        break;
      }
    }
    if (found === 0) {
      unknown += chars[i];
      i += 1;
      continue;
    }
    if (unknown) {
      out.push(unknown);
      unknown = "";
    }
    out.push(chars.slice(i, i + found).join(""));
    i += found;
  }
  if (unknown) out.push(unknown);
  return out;
}

// Spaces between Chinese words and Tibetan syllables, as the index has them.
function spaced(text, words) {
  return text
    .replace(HAN_RUN, (run) => ` ${cutChinese(run, words).join(" ")} `)
    .replace(/([\u0f0b\u0f0c])(?=[\u0f40-\u0fbc])/gu, "$1 ")
    .replace(/[^\p{L}\p{M}\p{N}\s'’-]/gu, " ")
    .split(/\s+/)
    .filter((w) => w)
    .join(" ");
}

// The query's parts: "quoted phrases" and single words (a Chinese run gives its words).
function parts(query, words) {
  const out = [];
  const rest = query.replace(/["“”「」『』]([^"“”「」『』]+)["“”「」『』]/gu, (_, phrase) => {
    const text = spaced(phrase, words);
    if (text) out.push({ text, phrase: text.includes(" ") });
    return " ";
  });
  for (const word of spaced(rest, words).split(" ")) {
    if (word) out.push({ text: word, phrase: false });
  }
  return out;
}

// The pages a part occurs in, best first: {id: result}. A word is looked up whole, then as the
// start of longer indexed words (checked on each page, since pagefind falls back to shorter
// words when no indexed word starts with the query).
async function pagesOf(pf, part) {
  const whole = await pf.search(`"${part.text}"`);
  const shortest = HAN.test(part.text) ? 2 : 3;
  if (whole.results.length || part.phrase || [...part.text].length < shortest) {
    return whole.results;
  }
  const loose = await pf.search(part.text);
  const start = part.text.toLocaleLowerCase();
  const kept = [];
  for (const result of loose.results.slice(0, CHECKED)) {
    const data = await result.data();
    const words = (data.content || "").split(/[\s\u200b]+/);
    const hit = (data.locations || []).some((k) =>
      (words[k] || "").toLocaleLowerCase().normalize("NFD").replace(/\p{M}/gu, "").startsWith(start),
    );
    if (hit) kept.push(result);
  }
  return kept;
}

// Pagefind marks matches with <mark>; keep only text and those marks (never markup from pages),
// and take out the spaces the index put between Chinese words.
function excerptNodes(html) {
  const joined = html.replace(new RegExp(`(${CJK})((?:</mark>)?)\\s+((?:<mark>)?)(?=${CJK})`, "gu"), "$1$2$3");
  const doc = new DOMParser().parseFromString(joined, "text/html");
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

async function search(query) {
  const pf = await engine();
  const words = HAN.test(query) ? await chineseWords() : new Set();
  const wanted = parts(query, words);
  if (!wanted.length) return [];
  let found = null;
  for (const part of wanted) {
    const pages = await pagesOf(pf, part);
    if (found === null) {
      found = pages;
    } else {
      const ids = new Set(pages.map((r) => r.id));
      found = found.filter((r) => ids.has(r.id));
    }
    if (!found.length) break;
  }
  return found;
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
    found = await search(query);
  } catch (error) {
    statusLine.textContent = "Search is not available here (it needs the site served over http).";
    return;
  }
  const top = await Promise.all(found.slice(0, SHOWN).map((r) => r.data()));
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
  const n = found.length;
  // A query already in quotes ("Great Firewall") is shown as typed, not wrapped in a second pair.
  const quoted = /^\s*["“「『].*["”」』]\s*$/u.test(query);
  const shown = quoted ? query.trim() : `“${query}”`;
  statusLine.textContent = n === 0 ? `No story matches ${shown}.` : `${n} ${n === 1 ? "story matches" : "stories match"} ${shown}.`;
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
