// The reader's enhancements, served by the edge at /static/reader.js (the CSP allows scripts
// from this origin only, never inline). Every page works without it: the forms post and
// redirect back, and links navigate. With it:
// - keyboard shortcuts: j/k next/previous item, o or Enter read it here, v open the original,
//   m read/unread, s star, ? help; in the reading view (/items/N) j/k go to the next and
//   previous item of the list it was opened from, u back to that list;
// - the read and star forms are sent with fetch and the item updates in place (no reload);
// - on a phone, the "Feeds list" link opens and closes the sidebar;
// - "/" goes to the search box in the header (not while typing in a field).
"use strict";

(function () {
  const items = () => Array.from(document.querySelectorAll("article[data-item]"));
  // The reading view's one item: always the current one.
  const reading = document.querySelector("article[data-reading]");
  let current = -1;

  function select(index) {
    const all = items();
    if (all.length === 0) return;
    index = Math.max(0, Math.min(index, all.length - 1));
    if (all[current]) all[current].classList.remove("current");
    current = index;
    const item = all[current];
    item.classList.add("current");
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest" });
  }

  function currentItem() {
    if (reading) return reading;
    const all = items();
    // An item the reader tabbed into counts as the current one.
    const focused = document.activeElement && document.activeElement.closest("article[data-item]");
    if (focused) current = all.indexOf(focused);
    return all[current] || null;
  }

  // Adds `delta` to the unread count shown in `element` (a link or the heading), adding or
  // removing the count as it leaves or reaches zero, as the server renders it.
  function adjustCount(element, delta) {
    if (!element) return;
    let count = element.querySelector(":scope > .count");
    const now = (count ? parseInt(count.firstChild.textContent, 10) || 0 : 0) + delta;
    if (now <= 0) {
      if (count) count.remove();
      return;
    }
    if (!count) {
      count = document.createElement("span");
      count.className = "count";
      count.append(document.createTextNode(""));
      const label = document.createElement("span");
      label.className = "visually-hidden";
      label.textContent = " unread";
      count.append(label);
      element.append(" ", count);
    }
    count.firstChild.textContent = String(now);
  }

  // The item became read (delta -1) or unread (+1): the page's counts follow.
  function countRead(item, delta) {
    adjustCount(document.getElementById("view-title"), delta);
    const sidebar = document.getElementById("sidebar");
    if (!sidebar) return;
    adjustCount(sidebar.querySelector(".sidebar-all"), delta);
    const feed = item.querySelector(".item-feed");
    const link = feed && Array.from(sidebar.querySelectorAll(".sidebar-group li a"))
      .find((a) => a.getAttribute("href") === feed.getAttribute("href"));
    if (link) {
      adjustCount(link, delta);
      adjustCount(link.closest(".sidebar-group").querySelector(".category a"), delta);
    }
  }

  // Shows the item's new state; `read`/`starred` are undefined when unchanged.
  function showState(item, read, starred) {
    if (read !== undefined && read !== item.classList.contains("item-read")) {
      countRead(item, read ? -1 : 1);
    }
    if (read !== undefined) {
      item.classList.toggle("item-read", read);
      item.querySelector(".state-unread").hidden = read;
      const form = item.querySelector('form[data-action="read"]');
      form.querySelector('input[name="read"]').value = String(!read);
      form.querySelector("button").textContent = read ? "Mark unread" : "Mark read";
    }
    if (starred !== undefined) {
      item.querySelector(".state-starred").hidden = !starred;
      const form = item.querySelector('form[data-action="star"]');
      form.querySelector('input[name="starred"]').value = String(!starred);
      form.querySelector("button").textContent = starred ? "Unstar" : "Star";
    }
  }

  // Sends an item's form with fetch; if that fails, falls back to the plain form post, which
  // shows the reason on the page.
  async function send(form) {
    const item = form.closest("article[data-item]");
    const body = new URLSearchParams(new FormData(form));
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(String(response.status));
      const state = await response.json();
      showState(item, state.read === null ? undefined : state.read,
        state.starred === null ? undefined : state.starred);
    } catch (_) {
      form.submit();
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.action) return;
    event.preventDefault();
    send(form);
  });

  // Opening an item marks it read on the server (the link goes through /items/open, or the
  // reading view marks it); show it here too, for when the reader comes back to this page.
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element &&
      event.target.closest("a[data-open], a[data-read-view]");
    if (link) showState(link.closest("article[data-item]"), true, undefined);
  });

  // Follows the link `selector` finds in `scope`, showing the item read first if it is one
  // that marks it read.
  function follow(scope, selector) {
    const link = scope && scope.querySelector(selector);
    if (!link) return;
    const item = link.closest("article[data-item]");
    if (item && (link.matches("[data-open]") || link.matches("[data-read-view]"))) {
      showState(item, true, undefined);
    }
    window.location.assign(link.href);
  }

  const dialog = document.getElementById("shortcuts");
  const helpButton = document.querySelector("[data-shortcuts]");
  function showHelp() {
    if (dialog && !dialog.open) dialog.showModal();
  }
  if (helpButton && dialog) {
    helpButton.hidden = false;
    helpButton.addEventListener("click", showHelp);
  }

  const sidebarLink = document.querySelector(".sidebar-link");
  const sidebar = document.getElementById("sidebar");
  if (sidebarLink && sidebar) {
    sidebarLink.setAttribute("role", "button");
    sidebarLink.setAttribute("aria-controls", "sidebar");
    sidebarLink.setAttribute("aria-expanded", "false");
    sidebarLink.addEventListener("click", (event) => {
      event.preventDefault();
      const open = sidebar.classList.toggle("open");
      sidebarLink.setAttribute("aria-expanded", String(open));
      if (open) sidebar.querySelector("a").focus();
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (dialog && dialog.open) return; // the dialog handles Escape itself
    const target = event.target;
    if (target instanceof HTMLElement &&
        (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) {
      return;
    }
    let item;
    switch (event.key) {
      case "j":
        if (reading) follow(document, "a[data-next]");
        else select(currentItem() ? current + 1 : 0);
        break;
      case "k":
        if (reading) follow(document, "a[data-previous]");
        else select(currentItem() ? current - 1 : 0);
        break;
      case "u":
        if (!reading) return;
        follow(document, "a[data-list]");
        break;
      case "o":
      case "Enter":
        item = currentItem();
        if (reading || !item) return;
        // Enter on a link or button keeps its own meaning.
        if (event.key === "Enter" && target !== item) return;
        follow(item, item.querySelector("a[data-read-view]") ? "a[data-read-view]" : "a[data-open]");
        break;
      case "v":
        follow(currentItem(), "a[data-open]");
        break;
      case "m":
        item = currentItem();
        if (item) send(item.querySelector('form[data-action="read"]'));
        break;
      case "s":
        item = currentItem();
        if (item) send(item.querySelector('form[data-action="star"]'));
        break;
      case "?":
        showHelp();
        break;
      case "/": {
        const search = document.querySelector("input[data-search]");
        if (!search) return;
        search.focus();
        search.select();
        break;
      }
      default:
        return;
    }
    event.preventDefault();
  });
})();
