extension DashboardPage {
    /// The first half of the page's script: the token (a variable, never stored), the session, the table of
    /// circuits and its paged listing (`limit=1000`, `after=next`), refreshed every 5 s.
    static let script = #"""
        "use strict";
        // The token lives in this variable only: never in storage, cookies or the URL.
        let token = null;
        let role = null;
        let prefix = "";
        let epoch = 0;            // bumped when the prefix or the token changes: answers for an older one are dropped
        let loadSeq = 0;          // only the newest listing applies its rows
        let pagesWanted = 10;     // pages of PAGE rows read on each refresh; "Load more" adds PAGE_CAP
        let nextAfter = null;     // the listing's `next` when more circuits remain than pagesWanted pages hold
        let refreshTimer = 0;
        const PAGE = 1000;
        const PAGE_CAP = 10;
        const MAX_PAGES = 100;
        const REFRESH_MS = 5000;
        const MAX_TRANSITIONS = 50;
        const STATES = ["closed", "open", "half_open", "forced_open", "forced_closed"];
        const NAME_CHARS = /^[A-Za-z0-9._:\/@-]*$/;
        const rows = new Map();   // resource -> {tr, cells, b (the BREAKER object), at (performance.now() when read)}
        const $ = (id) => document.getElementById(id);
        const enc = encodeURIComponent;

        class ApiError extends Error {
            constructor(status, code, message) {
                super(message);
                this.status = status;
                this.code = code;
            }
        }

        function el(tag, cls, text) {
            const e = document.createElement(tag);
            if (cls) e.className = cls;
            if (text !== undefined && text !== null) e.textContent = String(text);
            return e;
        }

        function authHeaders() {
            return token === null ? {} : { "Authorization": "Bearer " + token };
        }

        async function api(method, path, body) {
            const init = { method, headers: authHeaders(), cache: "no-store" };
            if (body !== undefined) {
                init.headers["Content-Type"] = "application/json";
                init.body = JSON.stringify(body);
            }
            let res;
            try {
                res = await fetch(path, init);
            } catch (e) {
                throw new ApiError(0, "network", "breakerd did not answer (" + e.message + "); is it running?");
            }
            let json = null;
            try { json = await res.json(); } catch (e) { json = null; }
            if (res.ok && json && json.ok === true) return json;
            if (json && json.error) throw new ApiError(res.status, json.error.code, json.error.message);
            throw new ApiError(res.status, "http_" + res.status, "HTTP " + res.status + " " + res.statusText);
        }

        function status(text, kind) {
            const s = $("status");
            s.textContent = text;
            s.className = kind || "";
        }

        function failed(what, e) {
            if (e.status === 401) {
                status(what + ": the token is no longer accepted (401). Enter a valid token.", "error");
                $("auth").hidden = false;
            } else {
                status(what + ": " + e.message, "error");
            }
        }

        function fmtDuration(ms) {
            if (ms < 10000) return (Math.ceil(ms / 100) / 10).toFixed(1) + " s";
            const s = Math.ceil(ms / 1000);
            if (s < 60) return s + " s";
            const m = Math.floor(s / 60);
            if (m < 60) return m + " min " + String(s % 60).padStart(2, "0") + " s";
            const h = Math.floor(m / 60);
            if (h < 48) return h + " h " + String(m % 60).padStart(2, "0") + " min";
            return Math.floor(h / 24) + " d " + (h % 24) + " h";
        }

        function fmtAge(atMs) {
            const s = Math.max(0, Math.floor((Date.now() - atMs) / 1000));
            if (s < 60) return s + " s ago";
            if (s < 3600) return Math.floor(s / 60) + " min ago";
            if (s < 172800) return Math.floor(s / 3600) + " h ago";
            return Math.floor(s / 86400) + " d ago";
        }

        function fmtTime(atMs) {
            const d = new Date(atMs);
            const p = (n, w) => String(n).padStart(w, "0");
            return p(d.getHours(), 2) + ":" + p(d.getMinutes(), 2) + ":" + p(d.getSeconds(), 2) + "." +
                p(d.getMilliseconds(), 3);
        }

        function badge(state) {
            return el("span", "badge b-" + state, state);
        }

        // --- session and token ---

        async function start() {
            try {
                begin(await api("GET", "/api/session"));
            } catch (e) {
                if (e.status === 401) {
                    $("auth").hidden = false;
                    status("This breakerd needs a token: paste a client token (read only) or an admin token.", "");
                    $("token").focus();
                } else {
                    status("Could not open a session: " + e.message + " Retrying in 3 s.", "error");
                    setTimeout(start, 3000);
                }
            }
        }

        async function useToken(ev) {
            ev.preventDefault();
            const t = $("token").value.trim();
            if (t === "") {
                status("Paste a token first.", "error");
                return;
            }
            const previous = token;
            token = t;
            try {
                const s = await api("GET", "/api/session");
                $("token").value = "";
                begin(s);
            } catch (e) {
                token = previous;
                if (e.status === 401) status("That token was refused (401): check it and try again.", "error");
                else status("Could not check the token: " + e.message, "error");
            }
        }

        function begin(session) {
            role = session.role;
            $("role").textContent = role + (session.auth ? "" : " (no token files)");
            $("role").className = role;
            $("auth").hidden = !session.auth;
            status(role === "admin" ? "Signed in as admin: you may force, release and reset circuits."
                : "Signed in with the client role: read only.", "ok");
            epoch++;
            clearRows();
            pagesWanted = PAGE_CAP;
            refresh();
            connect();
        }

        // --- the table ---

        function clearRows() {
            rows.clear();
            $("rows").replaceChildren();
            nextAfter = null;
            updateShown();
        }

        function makeRow(name) {
            const tr = el("tr");
            tr.dataset.resource = name;
            const cells = {};
            const columns = ["name", "state", "ratio", "calls num", "remaining", "forced", "gen num", "since"];
            columns.push("actions");
            for (const c of columns) {
                const td = el("td", c);
                tr.appendChild(td);
                cells[c.split(" ")[0]] = td;
            }
            cells.name.textContent = name;
            cells.state.appendChild(badge("closed"));
            const ratio = el("span", "meter");
            const bar = el("span", "bar");
            bar.appendChild(el("i"));
            ratio.append(bar, el("span"));
            cells.ratio.appendChild(ratio);
            cells.actions.appendChild(el("button", "history", "History"));
            if (role === "admin") {
                cells.actions.append(" ", el("button", "force-open", "Force open"), " ",
                    el("button", "force-closed", "Force closed"), " ", el("button", "release", "Release"), " ",
                    el("button", "reset", "Reset"));
            }
            for (const b of cells.actions.querySelectorAll("button")) b.type = "button";
            return { tr, cells, b: null, at: 0 };
        }

        function insertSorted(tr, name) {
            const body = $("rows");
            const list = body.children;
            let lo = 0;
            let hi = list.length;
            while (lo < hi) {
                const mid = (lo + hi) >> 1;
                if (list[mid].dataset.resource < name) lo = mid + 1;
                else hi = mid;
            }
            body.insertBefore(tr, lo < list.length ? list[lo] : null);
        }

        // Applies a BREAKER object unless the row already shows a later generation (a stale listing).
        function upsert(b) {
            let row = rows.get(b.resource);
            if (!row) {
                row = makeRow(b.resource);
                rows.set(b.resource, row);
                insertSorted(row.tr, b.resource);
            } else if (row.b && b.generation < row.b.generation) {
                return row;
            }
            row.b = b;
            row.at = performance.now();
            paint(row);
            return row;
        }

        function removeRow(name) {
            const row = rows.get(name);
            if (!row) return;
            rows.delete(name);
            row.tr.remove();
        }

        function paint(row) {
            const b = row.b;
            const c = row.cells;
            row.tr.className = "s-" + b.state + (row.tr.classList.contains("flash") ? " flash" : "");
            const bd = c.state.firstChild;
            if (bd.textContent !== b.state) {
                bd.textContent = b.state;
                bd.className = "badge b-" + b.state;
            }
            const w = b.window || { calls: 0, failures: 0 };
            const pct = w.calls > 0 ? (w.failures / w.calls) * 100 : 0;
            const ratio = c.ratio.firstChild;
            ratio.firstChild.firstChild.style.width = Math.min(100, pct).toFixed(1) + "%";
            ratio.lastChild.textContent = (pct === 0 || pct === 100 ? pct.toFixed(0) : pct.toFixed(1)) + " %";
            const policy = b.policy || {};
            ratio.title = w.failures + " failures in " + w.calls + " calls" +
                (policy.failure_threshold ? "; trips at " + policy.failure_threshold : "");
            c.calls.textContent = w.calls;
            const f = b.forced;
            c.forced.replaceChildren();
            if (f) c.forced.append(f.reason || "no reason given", el("small", null, f.by ? "by " + f.by : ""));
            c.gen.textContent = b.generation;
            const release = c.actions.querySelector("button.release");
            if (release) release.disabled = !f;
            tick(row, performance.now());
        }

        function remaining(row, now) {
            const b = row.b;
            if (typeof b.retry_after_ms === "number") {
                const left = Math.max(0, b.retry_after_ms - (now - row.at));
                if (b.state === "open") return left > 0 ? "retry in " + fmtDuration(left) : "cooldown over";
                return left > 0 ? "ends in " + fmtDuration(left) : "ending";
            }
            if (b.forced) return "until released";
            if (b.state === "half_open" && b.half_open) {
                const h = b.half_open;
                return "probing: " + h.permits_out + " out, " + h.successes + " ok, " + h.failures + " failed";
            }
            return "";
        }

        function tick(row, now) {
            const text = remaining(row, now);
            if (row.cells.remaining.textContent !== text) row.cells.remaining.textContent = text;
            const since = typeof row.b.changed_at_ms === "number" ? fmtAge(row.b.changed_at_ms) : "";
            if (row.cells.since.textContent !== since) {
                row.cells.since.textContent = since;
                if (row.b.changed_at_ms) row.cells.since.title = new Date(row.b.changed_at_ms).toLocaleString();
            }
        }

        function updateShown() {
            const n = rows.size;
            $("shown").textContent = n + (n === 1 ? " circuit" : " circuits") +
                (prefix ? " starting with " + prefix : "") + (nextAfter ? " (more remain)" : "");
            $("load-more").hidden = !nextAfter || pagesWanted >= MAX_PAGES;
            const empty = $("empty");
            empty.hidden = n > 0;
            empty.textContent = prefix ? "No circuit's name starts with " + prefix + "." : "No circuits yet.";
        }

        // Reads the list again, page by page, up to pagesWanted pages, and drops rows that are gone.
        async function load() {
            const my = ++loadSeq;
            const ep = epoch;
            const seen = new Set();
            let after = null;
            let last = null;
            let pages = 0;
            try {
                do {
                    const q = "prefix=" + enc(prefix) + "&limit=" + PAGE + (after ? "&after=" + enc(after) : "");
                    const r = await api("GET", "/api/breakers?" + q);
                    if (my !== loadSeq || ep !== epoch) return;
                    for (const b of r.breakers) {
                        seen.add(b.resource);
                        upsert(b);
                    }
                    if (r.breakers.length > 0) last = r.breakers[r.breakers.length - 1].resource;
                    after = r.next || null;
                    pages++;
                } while (after && pages < pagesWanted);
            } catch (e) {
                if (ep === epoch) failed("Could not list the circuits", e);
                return;
            }
            for (const name of [...rows.keys()]) {
                if (!seen.has(name) && (after === null || (last !== null && name <= last))) removeRow(name);
            }
            nextAfter = after;
            updateShown();
            if ($("status").className === "error" && $("status").textContent.startsWith("Could not list")) status("");
        }

        async function loadStats() {
            let s;
            try {
                s = (await api("GET", "/api/stats")).stats;
            } catch (e) {
                return;
            }
            if (!s) return;
            const v = s.version || (s.server && s.server.version);
            $("version").textContent = v ? "breakerd " + v : "";
            const counts = $("counts");
            counts.replaceChildren();
            const by = s.breakers || {};
            const chip = (label, n, state) => {
                const c = el("span", "chip");
                if (state) {
                    const dot = badge(state);
                    dot.textContent = "";
                    dot.style.cssText = "min-width:8px;width:8px;height:8px;padding:0";
                    c.appendChild(dot);
                }
                c.append(el("b", null, n), label);
                counts.appendChild(c);
            };
            chip("circuits", by.total || 0);
            for (const st of STATES) if (by[st] || st === "closed" || st === "open") chip(st, by[st] || 0, st);
            if (typeof s.watchers === "number") chip("watchers", s.watchers);
        }

        async function refresh() {
            clearTimeout(refreshTimer);
            const ep = epoch;
            await Promise.all([load(), loadStats()]);
            if (ep === epoch) refreshTimer = setTimeout(refresh, REFRESH_MS);
        }
        """#

}
