extension DashboardPage {
    /// The first half of the page's script: the token (a variable, never stored), the session, the table of
    /// circuits and the listing of the page shown (`limit=1000`, `after=` the previous page's `next`).
    static let script = #"""
        "use strict";
        // The token lives in this variable only: never in storage, cookies or the URL.
        let token = null;
        let role = null;
        let prefix = "";
        let epoch = 0;            // bumped when the prefix or the token changes: answers for an older one are dropped
        let loadSeq = 0;          // only the newest listing applies its rows
        let pageStarts = [null];  // the `after` of each page found so far: page i lists the ones after pageStarts[i]
        let pageIndex = 0;        // the page shown; the table holds one page of at most PAGE circuits
        let pageNext = null;      // the shown page's `next` (its last circuit) when more pages follow
        let refreshTimer = 0;
        const PAGE = 1000;
        const REFRESH_MS = 5000;
        const MAX_TRANSITIONS = 50;
        const STATES = ["closed", "open", "half_open", "forced_open", "forced_closed"];
        const NAME_CHARS = /^[A-Za-z0-9._:\/@-]*$/;
        const rows = new Map();   // resource -> {tr, cells, b (the BREAKER object), at (performance.now() when read)}
        const order = [];         // the resources in table order (byte order, as `list` sorts them)
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
            if (method === "POST") {
                // The server takes actions only as JSON (a cross-site form cannot send that without asking).
                init.headers["Content-Type"] = "application/json";
                init.body = JSON.stringify(body === undefined ? {} : body);
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
            document.body.classList.toggle("admin", role === "admin");
            status(role === "admin" ? "Signed in as admin: you may force, release and reset circuits."
                : "Signed in with the client role: read only.", "ok");
            epoch++;
            clearRows();
            firstPage();
            refresh();
            connect();
        }

        // --- the table ---

        function clearRows() {
            rows.clear();
            order.length = 0;
            $("rows").replaceChildren();
            updateShown();
        }

        function firstPage() {
            pageStarts = [null];
            pageIndex = 0;
            pageNext = null;
        }

        // Whether a circuit's name falls in the page shown (an unknown one in a transition event is added only then).
        function inPage(name) {
            const after = pageStarts[pageIndex];
            return (after === null || name > after) && (pageNext === null || name <= pageNext);
        }

        function makeRow(name) {
            const tr = el("tr");
            tr.dataset.resource = name;
            tr.addEventListener("animationend", () => tr.classList.remove("flash"));
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
            cells.release = cells.actions.querySelector("button.release");
            return { tr, cells, b: null, at: 0 };
        }

        function position(name) {
            let lo = 0;
            let hi = order.length;
            if (hi > 0 && order[hi - 1] < name) return hi;   // listings arrive in order: append
            while (lo < hi) {
                const mid = (lo + hi) >> 1;
                if (order[mid] < name) lo = mid + 1;
                else hi = mid;
            }
            return lo;
        }

        function insertSorted(tr, name) {
            const at = position(name);
            const before = at < order.length ? rows.get(order[at]).tr : null;
            order.splice(at, 0, name);
            $("rows").insertBefore(tr, before);
        }

        // Applies a BREAKER object unless the row already shows a later generation (a stale listing).
        function upsert(b) {
            let row = rows.get(b.resource);
            if (!row) {
                row = makeRow(b.resource);
                insertSorted(row.tr, b.resource);
                rows.set(b.resource, row);
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
            order.splice(position(name), 1);
            row.tr.remove();
        }

        function setText(node, text) {
            text = String(text);
            if (node.textContent !== text) node.textContent = text;
        }

        // Writes the row's cells from row.b, touching only what changed (a refresh repaints thousands of rows).
        function paint(row) {
            const b = row.b;
            const c = row.cells;
            const cls = "s-" + b.state;
            if (!row.tr.classList.contains(cls)) {
                row.tr.classList.remove(...STATES.map((s) => "s-" + s));
                row.tr.classList.add(cls);
            }
            const bd = c.state.firstChild;
            if (bd.textContent !== b.state) {
                bd.textContent = b.state;
                bd.className = "badge b-" + b.state;
            }
            const w = b.window || { calls: 0, failures: 0 };
            const pct = w.calls > 0 ? (w.failures / w.calls) * 100 : 0;
            const meter = c.ratio.firstChild;
            const width = Math.min(100, pct).toFixed(1) + "%";
            if (meter.firstChild.firstChild.style.width !== width) meter.firstChild.firstChild.style.width = width;
            setText(meter.lastChild, (pct === 0 || pct === 100 ? pct.toFixed(0) : pct.toFixed(1)) + " %");
            const policy = b.policy || {};
            const title = w.failures + " failures in " + w.calls + " calls" +
                (policy.failure_threshold ? "; trips at " + policy.failure_threshold : "");
            if (meter.title !== title) meter.title = title;
            setText(c.calls, w.calls);
            const f = b.forced;
            const forced = f ? (f.reason || "no reason given") + "\n" + (f.by ? "by " + f.by : "") : "";
            if (c.forced.dataset.text !== forced) {
                c.forced.dataset.text = forced;
                c.forced.replaceChildren();
                if (f) c.forced.append(f.reason || "no reason given", el("small", null, f.by ? "by " + f.by : ""));
            }
            setText(c.gen, b.generation);
            if (c.release) c.release.disabled = !f;
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
            setText(row.cells.remaining, remaining(row, now));
            const since = typeof row.b.changed_at_ms === "number" ? fmtAge(row.b.changed_at_ms) : "";
            if (row.cells.since.textContent !== since) {
                row.cells.since.textContent = since;
                if (row.b.changed_at_ms) row.cells.since.title = new Date(row.b.changed_at_ms).toLocaleString();
            }
        }

        function updateShown() {
            const n = rows.size;
            const first = pageIndex * PAGE;
            let text = n === 0 ? "" : pageIndex === 0 && !pageNext ? n + (n === 1 ? " circuit" : " circuits")
                : "circuits " + (first + 1).toLocaleString("en") + "–" + (first + n).toLocaleString("en");
            if (prefix && n > 0) text += " starting with " + prefix;
            setText($("shown"), text);
            const pager = pageIndex > 0 || pageNext !== null;
            $("page-prev").hidden = !pager;
            $("page-next").hidden = !pager;
            $("page-prev").disabled = pageIndex === 0;
            $("page-next").disabled = pageNext === null;
            const empty = $("empty");
            empty.hidden = n > 0;
            empty.textContent = prefix ? "No circuit's name starts with " + prefix + "." : "No circuits yet.";
        }

        // Reads the page shown again (one request of at most PAGE circuits) and drops the rows that left it.
        async function load() {
            const my = ++loadSeq;
            const ep = epoch;
            const started = performance.now();
            const after = pageStarts[pageIndex];
            let r;
            try {
                const q = "prefix=" + enc(prefix) + "&limit=" + PAGE + (after !== null ? "&after=" + enc(after) : "");
                r = await api("GET", "/api/breakers?" + q);
            } catch (e) {
                if (ep === epoch) failed("Could not list the circuits", e);
                return;
            }
            if (my !== loadSeq || ep !== epoch) return;
            if (r.breakers.length === 0 && pageIndex > 0) {   // this page emptied (deletions): show the one before
                pageIndex--;
                pageStarts.length = pageIndex + 1;
                return load();
            }
            const seen = new Set();
            for (const b of r.breakers) {
                seen.add(b.resource);
                upsert(b);
            }
            for (const [name, row] of [...rows]) if (!seen.has(name) && row.at < started) removeRow(name);
            pageNext = r.next || null;
            pageStarts.length = pageIndex + 1;
            if (pageNext !== null) pageStarts.push(pageNext);
            updateShown();
            if ($("status").className === "error" && $("status").textContent.startsWith("Could not list")) status("");
        }
        """#

}
