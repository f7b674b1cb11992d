extension DashboardPage {
    /// The second half of the page's script: the header's counts, the refresh every 5 s, the pager, the
    /// `/events` stream (parsed by hand, reconnected with backoff), the latest transitions, a circuit's history,
    /// the admin actions and the prefix filter.
    static let liveScript = #"""
        // --- the header's counts, the periodic refresh, the pager ---

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
            chip(by.total === 1 ? "circuit" : "circuits", by.total || 0);
            for (const st of STATES) if (by[st] || st === "closed" || st === "open") chip(st, by[st] || 0, st);
            if (typeof s.watchers === "number") chip(s.watchers === 1 ? "watcher" : "watchers", s.watchers);
        }

        async function refresh() {
            clearTimeout(refreshTimer);
            const ep = epoch;
            await Promise.all([load(), loadStats()]);
            if (ep === epoch) refreshTimer = setTimeout(refresh, REFRESH_MS);
        }

        function turnPage(delta) {
            const to = pageIndex + delta;
            if (to < 0 || to >= pageStarts.length) return;
            pageIndex = to;
            epoch++;
            clearRows();
            refresh();
        }

        // --- live: Server-Sent Events read with fetch(), since EventSource cannot send the Authorization header ---

        let stream = null;        // the AbortController of the current /events request
        let retryMs = 2000;       // the stream's `retry:` field
        let backoff = 0;
        let connectedOnce = false;
        let statsTimer = 0;
        const refetching = new Map(); // resource -> whether another read was asked for while one is in flight

        function setLive(text, cls) {
            const l = $("live");
            l.textContent = text;
            l.className = cls || "";
        }

        async function connect() {
            if (stream) stream.abort();
            const ctl = new AbortController();
            stream = ctl;
            setLive("connecting…", "off");
            try {
                const res = await fetch("/events?prefix=" + enc(prefix), {
                    headers: authHeaders(), signal: ctl.signal, cache: "no-store"
                });
                if (res.status === 401) {
                    failed("Live updates", new ApiError(401, "unauthorized", ""));
                    setLive("not connected", "");
                    return;
                }
                if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
                setLive("live", "on");
                if (connectedOnce) load();   // catch up with what happened while the stream was down
                connectedOnce = true;
                const reader = res.body.getReader();
                const decoder = new TextDecoder();
                let buffer = "";
                let data = [];
                for (;;) {
                    const { value, done } = await reader.read();
                    if (done) break;
                    backoff = 0;
                    buffer += decoder.decode(value, { stream: true });
                    let i;
                    while ((i = buffer.indexOf("\n")) >= 0) {
                        let line = buffer.slice(0, i);
                        buffer = buffer.slice(i + 1);
                        if (line.endsWith("\r")) line = line.slice(0, -1);
                        if (line === "") {
                            if (data.length > 0) dispatch(data.join("\n"));
                            data = [];
                            continue;
                        }
                        if (line.startsWith(":")) continue;
                        const colon = line.indexOf(":");
                        const field = colon < 0 ? line : line.slice(0, colon);
                        let val = colon < 0 ? "" : line.slice(colon + 1);
                        if (val.startsWith(" ")) val = val.slice(1);
                        if (field === "data") data.push(val);
                        else if (field === "retry" && /^[0-9]+$/.test(val)) retryMs = Number(val);
                    }
                }
            } catch (e) {
                if (ctl.signal.aborted) return;
            }
            if (stream !== ctl) return;
            backoff = backoff === 0 ? retryMs : Math.min(backoff * 2, 30000);
            setLive("reconnecting in " + Math.round(backoff / 1000) + " s", "off");
            setTimeout(() => {
                if (stream === ctl) connect();
            }, backoff);
        }

        function dispatch(text) {
            let ev;
            try { ev = JSON.parse(text); } catch (e) { return; }
            if (!ev || typeof ev.resource !== "string") return;
            if (ev.event === "deleted") {
                removeRow(ev.resource);
                updateShown();
                return;
            }
            if (ev.event !== "transition") return;
            addTransition(ev);
            clearTimeout(statsTimer);
            statsTimer = setTimeout(loadStats, 300);   // the header's counts by state, once a burst has passed
            const row = rows.get(ev.resource);
            if (row && row.b && ev.generation > row.b.generation) {
                // Show the new state at once; the numbers come with the read below.
                const b = Object.assign({}, row.b, { state: ev.to, generation: ev.generation });
                b.changed_at_ms = ev.at_ms;
                delete b.retry_after_ms;
                delete b.half_open;
                delete b.forced;
                if (ev.to === "forced_open" || ev.to === "forced_closed") {
                    b.forced = { state: ev.to.slice(7), reason: ev.reason || null, by: ev.by || null };
                }
                row.b = b;
                row.at = performance.now();
                row.tr.classList.remove("flash");
                void row.tr.offsetWidth;
                row.tr.classList.add("flash");
                paint(row);
            }
            if (row || inPage(ev.resource)) refetch(ev.resource);
        }

        // Reads one breaker again (its window, remaining times); an unknown one is added, a missing one removed.
        async function refetch(name) {
            if (refetching.has(name)) {
                refetching.set(name, true);
                return;
            }
            refetching.set(name, false);
            const ep = epoch;
            try {
                const r = await api("GET", "/api/breakers/" + enc(name));
                if (ep === epoch && (rows.has(name) || inPage(name))) {
                    upsert(r.breaker);
                    updateShown();
                }
            } catch (e) {
                if (e.status === 404 && ep === epoch) {
                    removeRow(name);
                    updateShown();
                }
            }
            const again = refetching.get(name);
            refetching.delete(name);
            if (again && ep === epoch) refetch(name);
        }

        function transitionRow(t, withName) {
            const tr = el("tr");
            const when = el("td", "when", fmtTime(t.at_ms));
            when.title = new Date(t.at_ms).toLocaleString();
            tr.appendChild(when);
            if (withName) tr.appendChild(el("td", "name", t.resource));
            const what = el("td", "move");
            what.append(badge(t.from), " → ", badge(t.to));
            tr.appendChild(what);
            tr.appendChild(el("td", "move", t.cause + " · gen " + t.generation));
            const who = el("td", "who");
            if (t.by) who.append(el("span", null, "by " + t.by));
            if (t.reason) who.append(el("q", null, t.reason));
            tr.appendChild(who);
            return tr;
        }

        function addTransition(ev) {
            const list = $("transitions");
            list.insertBefore(transitionRow(ev, true), list.firstChild);
            while (list.children.length > MAX_TRANSITIONS) list.lastChild.remove();
            $("transitions-none").hidden = true;
            $("transitions-count").textContent = list.children.length + " newest";
        }

        async function showHistory(name) {
            try {
                const r = await api("GET", "/api/breakers/" + enc(name) + "/history?limit=50");
                $("history-title").textContent = "History of " + name;
                const body = $("history-rows");
                body.replaceChildren(...r.transitions.map((t) => transitionRow(t, false)));
                $("history-none").hidden = r.transitions.length > 0;
                $("history").hidden = false;
                $("panels").className = "two";
                $("history").scrollIntoView({ block: "nearest" });
            } catch (e) {
                failed("Could not read the history of " + name, e);
            }
        }

        // --- admin actions ---

        let forcing = null;       // {name, state} while the force dialog is open

        function openForce(name, state) {
            forcing = { name, state };
            $("force-title").textContent = "Force " + name + " " + state;
            $("force-submit").textContent = "Force " + state;
            $("force-reason").value = "";
            $("force-ttl").value = "";
            $("force-ttl").classList.remove("invalid");
            $("force-dialog").hidden = false;
            $("force-reason").focus();
        }

        function closeForce() {
            forcing = null;
            $("force-dialog").hidden = true;
        }

        async function submitForce(ev) {
            ev.preventDefault();
            if (!forcing) return;
            const body = { state: forcing.state };
            const reason = $("force-reason").value.trim();
            if (reason !== "") body.reason = reason;
            const ttl = $("force-ttl").value.trim();
            if (ttl !== "") {
                const ms = Math.round(Number(ttl) * Number($("force-unit").value));
                if (!Number.isFinite(ms) || ms < 1) {
                    $("force-ttl").classList.add("invalid");
                    status("The TTL must be a positive number (or empty: until released).", "error");
                    return;
                }
                body.ttl_ms = ms;
            }
            const name = forcing.name;
            if (await act(name, "force", body, "forced " + forcing.state)) closeForce();
        }

        async function act(name, what, body, done) {
            try {
                const r = await api("POST", "/api/breakers/" + enc(name) + "/" + what, body);
                upsert(r.breaker);
                status(name + ": " + done + " (now " + r.breaker.state + ").", "ok");
                return true;
            } catch (e) {
                failed("Could not " + what + " " + name, e);
                return false;
            }
        }

        function confirmReset(button, name) {
            if (button.dataset.confirm === "1") {
                button.dataset.confirm = "";
                button.textContent = "Reset";
                act(name, "reset", undefined, "reset to closed with an empty window");
                return;
            }
            button.dataset.confirm = "1";
            button.textContent = "Confirm reset";
            setTimeout(() => {
                button.dataset.confirm = "";
                button.textContent = "Reset";
            }, 4000);
        }

        function onRowClick(ev) {
            const button = ev.target.closest("button");
            const tr = ev.target.closest("tr");
            if (!button || !tr || !tr.dataset.resource) return;
            const name = tr.dataset.resource;
            if (button.classList.contains("history")) showHistory(name);
            else if (button.classList.contains("force-open")) openForce(name, "open");
            else if (button.classList.contains("force-closed")) openForce(name, "closed");
            else if (button.classList.contains("release")) act(name, "release", undefined, "released");
            else if (button.classList.contains("reset")) confirmReset(button, name);
        }

        // --- the prefix filter ---

        let prefixTimer = 0;

        function applyPrefix() {
            const input = $("prefix");
            const p = input.value.trim();
            if (!NAME_CHARS.test(p) || p.length > 200) {
                input.classList.add("invalid");
                status("A prefix uses only A-Z a-z 0-9 . _ : / @ - (at most 200 characters).", "error");
                return;
            }
            input.classList.remove("invalid");
            if (p === prefix || role === null) return;
            prefix = p;
            epoch++;
            clearRows();
            firstPage();
            refresh();
            connect();
        }

        $("auth").addEventListener("submit", useToken);
        $("rows").addEventListener("click", onRowClick);
        $("force-form").addEventListener("submit", submitForce);
        $("force-cancel").addEventListener("click", closeForce);
        $("force-dialog").addEventListener("click", (ev) => { if (ev.target === $("force-dialog")) closeForce(); });
        document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && forcing) closeForce(); });
        $("history-close").addEventListener("click", () => {
            $("history").hidden = true;
            $("panels").className = "";
        });
        $("page-prev").addEventListener("click", () => turnPage(-1));
        $("page-next").addEventListener("click", () => turnPage(1));
        $("prefix").addEventListener("input", () => {
            clearTimeout(prefixTimer);
            prefixTimer = setTimeout(applyPrefix, 300);
        });
        $("prefix").addEventListener("keydown", (ev) => {
            if (ev.key === "Enter") {
                clearTimeout(prefixTimer);
                applyPrefix();
            }
        });
        setInterval(() => {
            const now = performance.now();
            for (const row of rows.values()) if (row.b) tick(row, now);
        }, 1000);
        start();
        """#

}
