/// The live dashboard that breakerd serves at `GET /`: one self-contained HTML page, with its CSS and JavaScript
/// inline, so that it works offline and under the port's Content-Security-Policy (no external scripts, fonts or
/// images). It holds no data: it asks for a token (kept in the page's memory only), then reads `/api/*` and
/// follows `/events` with `fetch()`, since `EventSource` cannot send the `Authorization` header.
///
/// The pieces live in extensions: `style` (DashboardPage+Style.swift), `script` (DashboardPage+Script.swift:
/// session, table, listing) and `liveScript` (DashboardPage+LiveScript.swift: refresh, pager, events,
/// transitions, actions), so that no file is over 400 lines.
/// Element ids and classes the browser test relies on: `tr[data-resource]` rows with a `.state` cell; buttons
/// `.force-open`, `.force-closed`, `.release`, `.reset`; `#token`, `#use-token`, `#role`, `#status`, `#prefix`,
/// `#transitions`; the force form's `#force-reason`, `#force-ttl` (seconds) and `#force-submit`.
enum DashboardPage {
    /// The page as served (`text/html; charset=utf-8`).
    static let html: [UInt8] = Array(
        [
            head, style, "</style>\n</head>\n<body>", markup, "<script>", script, liveScript,
            "</script>\n</body>\n</html>\n",
        ]
        .joined(separator: "\n").utf8
    )

    /// Everything before the stylesheet's rules.
    private static let head = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Highway Breaker</title>
        <link rel="icon" href="data:,">
        <style>
        """#

    /// The body's elements, before the script.
    private static let markup = #"""
        <header>
            <h1>Highway Breaker</h1>
            <span id="version"></span>
            <div id="counts"></div>
            <span class="spacer"></span>
            <span id="live">not connected</span>
            <span id="role"></span>
        </header>
        <form id="auth" hidden autocomplete="off">
            <label for="token">Token</label>
            <input id="token" type="password" placeholder="client or admin token" autocomplete="off" spellcheck="false">
            <button id="use-token" class="primary" type="submit">Use token</button>
            <small>Kept in this page's memory only: a reload asks again.</small>
        </form>
        <div id="status" role="status" aria-live="polite"></div>
        <main>
            <div id="panels">
                <section>
                    <h2><span>Latest transitions</span><small id="transitions-count"></small></h2>
                    <div class="scroll">
                        <table><tbody id="transitions"></tbody></table>
                        <div id="transitions-none" class="none">None seen since this page opened.</div>
                    </div>
                </section>
                <section id="history" hidden>
                    <h2>
                        <span id="history-title">History</span>
                        <button id="history-close" type="button">Close</button>
                    </h2>
                    <div class="scroll">
                        <table><tbody id="history-rows"></tbody></table>
                        <div id="history-none" class="none" hidden>No transitions recorded.</div>
                    </div>
                </section>
            </div>
            <div>
                <div class="toolbar">
                    <input id="prefix" type="search" placeholder="Filter by prefix, e.g. db/" spellcheck="false"
                        autocomplete="off" maxlength="200" aria-label="Filter by prefix">
                    <span id="shown"></span>
                    <button id="page-prev" type="button" hidden>‹ Previous 1,000</button>
                    <button id="page-next" type="button" hidden>Next 1,000 ›</button>
                </div>
                <table id="breakers">
                    <thead>
                        <tr>
                            <th>Resource</th><th class="c-state">State</th><th class="c-ratio">Failures</th>
                            <th class="num c-calls">Calls</th><th class="c-remaining">Retry / force ends</th>
                            <th class="c-forced">Forced: reason, by</th><th class="num c-gen">Gen</th>
                            <th class="c-since">Since</th><th class="c-actions"></th>
                        </tr>
                    </thead>
                    <tbody id="rows"></tbody>
                </table>
                <div id="empty" hidden></div>
            </div>
        </main>
        <div id="force-dialog" hidden>
            <form id="force-form" autocomplete="off" novalidate>
                <h2 id="force-title">Force</h2>
                <label for="force-reason">Reason <small>(optional; shown here and in the audit log)</small></label>
                <input id="force-reason" type="text" maxlength="1024" placeholder="e.g. provider outage">
                <label for="force-ttl">Ends by itself after <small>(empty: until released)</small></label>
                <div class="row">
                    <input id="force-ttl" type="number" min="0" step="any" placeholder="no TTL">
                    <select id="force-unit" aria-label="TTL unit">
                        <option value="1000" selected>seconds</option>
                        <option value="60000">minutes</option>
                        <option value="3600000">hours</option>
                    </select>
                </div>
                <div class="buttons">
                    <button id="force-cancel" type="button">Cancel</button>
                    <button id="force-submit" class="primary" type="submit">Force</button>
                </div>
            </form>
        </div>
        """#

}
