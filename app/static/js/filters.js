// The catalog's small script (no inline handlers: CSP). Four jobs:
// 1. Menus apply a committed choice: a pick with the mouse, Enter, or leaving the menu;
//    not every arrow key (stepping through the genres must not replace the results).
// 2. Screen readers hear the new count after a search or a filter (#announce).
// 3. Back after a long scroll lands where the visitor was, with or without the
//    browser's back/forward cache: the first visible page's URL stays in the address
//    bar and the first visible album in history.state.
// 4. One cover poll per page, not one per tile: a waiting cover joins the page's next
//    poll when it scrolls into view; the answer swaps in every cover that changed.
"use strict";

const hasHtmx = "htmx" in window;
if (hasHtmx) {
  document.documentElement.classList.add("js"); // scrolling replaces the "Next" link
  // htmx sends the menus' current choices with a search; these copies of the choices
  // the page was rendered with would go stale as soon as a menu changes in place.
  for (const copy of document.querySelectorAll("[data-nojs]")) {
    copy.remove();
  }
}

// 1. Menus ------------------------------------------------------------------------
const STEP_KEYS = new Set([
  "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown",
]);
let stepping = false; // the last change came from a key that only moves the choice
let focusAfter = null; // a menu left with Tab: focus the control after it once swapped

function isMenu(target) {
  return target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined;
}

function remember(root) {
  for (const menu of root.querySelectorAll("select[data-autosubmit]")) {
    menu.dataset.committed = menu.value;
  }
}

function commit(menu) {
  if (menu.value === menu.dataset.committed) {
    return;
  }
  menu.dataset.committed = menu.value;
  if (hasHtmx) {
    window.htmx.trigger(menu.form, "commit"); // the form's hx-trigger
  } else {
    menu.form?.submit();
  }
}

remember(document);
document.addEventListener("keydown", (event) => {
  if (!isMenu(event.target)) {
    return;
  }
  if (event.key === "Enter") {
    event.preventDefault(); // no implicit form submission: commit() does it
    commit(event.target);
  } else if (STEP_KEYS.has(event.key) || event.key.length === 1) {
    stepping = true; // arrows and type-ahead move the choice; Enter or Tab commits it
  }
});
document.addEventListener("change", (event) => {
  if (!isMenu(event.target)) {
    return;
  }
  if (stepping) {
    stepping = false;
    return;
  }
  commit(event.target); // a pick from the open list (mouse, or Enter inside it)
});
document.addEventListener("focusout", (event) => {
  if (isMenu(event.target)) {
    stepping = false;
    // Leaving the menu commits what it shows. Focus has moved on already (Tab), maybe
    // into the results about to be replaced: it goes to the control after the menu.
    if (event.target.value !== event.target.dataset.committed) {
      focusAfter = event.target.id;
    }
    commit(event.target);
  }
});

const FOCUSABLE =
  'a[href]:not([tabindex="-1"]), select, input:not([type="hidden"]), button, [tabindex="0"]';

function refocus() {
  const menu = focusAfter && document.getElementById(focusAfter);
  focusAfter = null;
  if (!menu || (document.activeElement && document.activeElement !== document.body)) {
    return; // focus survived the swap (htmx restores it by id): leave it
  }
  const all = [...document.querySelectorAll(FOCUSABLE)].filter((el) => el.offsetParent);
  const next = all[all.indexOf(menu) + 1];
  (next ?? menu).focus();
}

// 2. Announcements ----------------------------------------------------------------
document.addEventListener("htmx:afterSettle", (event) => {
  const results = document.getElementById("results");
  if (!results || !event.target.contains?.(results) && event.target !== results) {
    return;
  }
  remember(results);
  refocus();
  const count = results.querySelector(".result-count__text");
  const live = document.getElementById("announce");
  if (count && live) {
    live.textContent = count.textContent.replace(/\s+/g, " ").trim();
  }
});

// 3. The place in the list ----------------------------------------------------------
// Only the catalog's own pages, not an htmx history snapshot being restored.
const grid = () => document.getElementById("albums");
let saving = 0;

function firstVisibleTile() {
  const tiles = grid()?.querySelectorAll(":scope > .tile[data-album-id]") ?? [];
  for (const tile of tiles) {
    if (tile.getBoundingClientRect().bottom > 0) {
      return tile;
    }
  }
  return null;
}

function pageUrlOf(tile) {
  // The first tile of every loaded page carries its URL; walk back to it.
  for (let node = tile; node; node = node.previousElementSibling) {
    if (node.dataset?.pageUrl) {
      return node.dataset.pageUrl;
    }
  }
  return null;
}

let clicked = null; // the tile whose album the visitor opened: the place to come back to

function savePlace() {
  saving = 0;
  const tile = clicked ?? firstVisibleTile();
  const url = tile && pageUrlOf(tile);
  if (!tile || !url) {
    return;
  }
  const state = {
    ...(history.state || {}),
    catalogAlbum: tile.dataset.albumId,
    catalogTop: Math.round(tile.getBoundingClientRect().top),
  };
  const here = location.pathname + location.search;
  history.replaceState(state, "", url === here ? undefined : url);
}

window.addEventListener(
  "scroll",
  () => {
    if (!saving) {
      saving = window.setTimeout(savePlace, 150);
    }
  },
  { passive: true },
);
window.addEventListener("pagehide", savePlace);
// The page comes back starting at the saved album's page, whose first row may hold other
// albums than the scrolled list's: the album opened is the one to put back in place.
document.addEventListener(
  "click",
  (event) => {
    const link = event.target instanceof Element ? event.target.closest(".tile__link") : null;
    if (link) {
      clicked = link.closest(".tile");
      savePlace();
    }
  },
  true,
);

function restorePlace() {
  const state = history.state;
  if (!state?.catalogAlbum || !grid()) {
    return;
  }
  const tile = grid().querySelector(`.tile[data-album-id="${CSS.escape(state.catalogAlbum)}"]`);
  if (tile) {
    window.scrollBy(0, tile.getBoundingClientRect().top - (state.catalogTop ?? 0));
  }
}

if ("scrollRestoration" in history && grid()) {
  // The page we come back to starts at the first page the visitor saw, so the
  // browser's own offset would be wrong: we put the album back where it was.
  history.scrollRestoration = "manual";
}
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", restorePlace);
} else {
  restorePlace();
}
window.addEventListener("pageshow", (event) => {
  clicked = null;
  if (event.persisted) {
    restorePlace(); // from the back/forward cache: the page is as it was; keep it so
  }
});

// 4. The page's cover poll -------------------------------------------------------------
// Covers that wait carry data-poll ("id" or "id:sid"). Once in view (or nearly) a cover
// joins `asked`; one request asks for all of them (#cover-poller, catalog.covers) and the
// answer swaps in, by id, each cover that is ready or changed how it looks. The server
// says which are still waiting (X-Pending) and when to ask again (X-Next-Poll-Ms: the
// same backoff as a single cover's, and "retrying in N s" for a failing one). Nothing
// gives up while the server still works on a cover.
const asked = new Set();
let pollTimer = 0;
let pollAttempt = 0;

function schedulePoll(ms) {
  if (pollTimer || !asked.size) {
    return;
  }
  pollTimer = window.setTimeout(() => {
    pollTimer = 0;
    const poller = document.getElementById("cover-poller");
    if (poller && asked.size) {
      window.htmx.trigger(poller, "cover-poll");
    }
  }, ms);
}

const inView = "IntersectionObserver" in window
  ? new IntersectionObserver(
      (entries) => {
        let joined = false;
        for (const entry of entries) {
          if (entry.isIntersecting) {
            inView.unobserve(entry.target);
            asked.add(entry.target.dataset.poll);
            joined = true;
          }
        }
        if (joined) {
          pollAttempt = 0; // a cover just in view: the next poll comes soon
          schedulePoll(60);
        }
      },
      { rootMargin: "200px 0px" },
    )
  : null;

function watchCovers(root) {
  for (const cover of root.querySelectorAll("[data-poll]")) {
    if (inView && !asked.has(cover.dataset.poll)) {
      inView.observe(cover);
    }
  }
}

if (hasHtmx) {
  watchCovers(document);
  document.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.elt.id === "cover-poller") {
      event.detail.parameters.ids = [...asked].join(",");
      event.detail.parameters.attempt = String(pollAttempt);
    }
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.elt.id !== "cover-poller") {
      return;
    }
    const xhr = event.detail.xhr;
    if (!event.detail.successful || !xhr) {
      schedulePoll(3000); // the server did not answer: ask again in a while
      return;
    }
    const still = new Set((xhr.getResponseHeader("X-Pending") || "").split(",").filter(Boolean));
    for (const key of [...asked]) {
      if (!still.has(key)) {
        asked.delete(key);
      }
    }
    pollAttempt += 1;
    schedulePoll(Number(xhr.getResponseHeader("X-Next-Poll-Ms")) || 1000);
  });
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.id === "results") {
      asked.clear(); // new results: their covers join as they come into view
      pollAttempt = 0;
    }
    watchCovers(event.target instanceof Element ? event.target : document);
  });
}
