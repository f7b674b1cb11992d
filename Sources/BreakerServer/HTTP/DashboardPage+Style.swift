extension DashboardPage {
    /// The page's stylesheet. State colours: closed green, open red, half_open amber, forced_open dark red,
    /// forced_closed blue-grey.
    static let style = #"""
        :root {
            --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa; --accent: #0969da;
            --closed: #1a7f37; --open: #cf222e; --half: #bf8700; --fopen: #82071e; --fclosed: #4b5e75;
        }
        * { box-sizing: border-box; }
        [hidden] { display: none !important; }
        body {
            margin: 0; color: var(--fg); background: #fff;
            font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
        }
        header {
            display: flex; flex-wrap: wrap; align-items: center; gap: 8px 20px;
            padding: 10px 20px; background: #1f2328; color: #fff;
        }
        header h1 { margin: 0; font-size: 17px; font-weight: 600; letter-spacing: .2px; }
        #version { color: #9aa4af; font-size: 12px; }
        #counts { display: flex; flex-wrap: wrap; gap: 6px; }
        .chip {
            display: inline-flex; align-items: baseline; gap: 5px; padding: 1px 9px; border-radius: 999px;
            background: #32383f; font-size: 12px; white-space: nowrap;
        }
        .chip b { font-size: 13px; }
        .spacer { flex: 1; }
        #live { font-size: 12px; color: #9aa4af; white-space: nowrap; }
        #live::before {
            content: ""; display: inline-block; width: 8px; height: 8px; margin-right: 6px;
            border-radius: 50%; background: #6e7781;
        }
        #live.on::before { background: #2da44e; box-shadow: 0 0 0 3px rgba(45, 164, 78, .25); }
        #live.off::before { background: var(--half); }
        #role { font-size: 12px; padding: 1px 9px; border-radius: 999px; background: #32383f; }
        #role.admin { background: #8250df; }
        #role.client { background: #0969da; }
        #role:empty { display: none; }
        #auth {
            display: flex; flex-wrap: wrap; align-items: center; gap: 8px; padding: 10px 20px;
            background: var(--panel); border-bottom: 1px solid var(--line);
        }
        #auth label { font-weight: 600; }
        #auth small { color: var(--muted); }
        input, select, button { font: inherit; }
        input, select {
            padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--fg);
        }
        input:focus, select:focus { outline: 2px solid var(--accent); outline-offset: -1px; }
        input.invalid { border-color: var(--open); }
        #token { width: 340px; max-width: 100%; }
        button {
            padding: 3px 10px; border: 1px solid var(--line); border-radius: 6px; background: #f6f8fa;
            color: var(--fg); cursor: pointer; white-space: nowrap;
        }
        button:hover:not(:disabled) { background: #eaeef2; }
        button:disabled { opacity: .45; cursor: default; }
        button.primary { background: #1f883d; border-color: #1a7f37; color: #fff; }
        button.primary:hover:not(:disabled) { background: #1a7f37; }
        #status { min-height: 22px; padding: 3px 20px; font-size: 13px; color: var(--muted); }
        #status.error { background: #ffebe9; color: #82071e; }
        #status.ok { color: var(--closed); }
        main { padding: 4px 20px 24px; }
        #panels { display: grid; grid-template-columns: minmax(0, 1fr); gap: 16px; }
        #panels.two { grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); }
        @media (max-width: 900px) { #panels.two { grid-template-columns: minmax(0, 1fr); } }
        .toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin: 6px 0 10px; }
        #prefix { width: 260px; }
        #shown { color: var(--muted); font-size: 13px; }
        table { width: 100%; border-collapse: collapse; }
        #breakers { table-layout: fixed; }   /* thousands of rows: lay out by the header's widths, not by every cell */
        .c-state { width: 128px; }
        .c-ratio { width: 118px; }
        .c-calls { width: 64px; }
        .c-remaining { width: 150px; }
        .c-forced { width: 21%; }
        .c-gen { width: 52px; }
        .c-since { width: 84px; }
        .c-actions { width: 96px; }
        body.admin .c-actions { width: 390px; }
        th {
            position: sticky; top: 0; z-index: 1; background: #fff; text-align: left; font-size: 12px;
            font-weight: 600; color: var(--muted); border-bottom: 1px solid var(--line); padding: 6px 8px;
        }
        td { padding: 5px 8px; border-bottom: 1px solid #eef1f4; vertical-align: middle; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        td.name {
            font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px;
            overflow-wrap: anywhere;
        }
        td.remaining, td.since { white-space: nowrap; font-variant-numeric: tabular-nums; color: var(--muted); }
        td.forced { color: var(--muted); font-size: 13px; overflow-wrap: anywhere; }
        td.forced small { display: block; font-size: 12px; }
        td.ratio { white-space: nowrap; }
        td.actions { white-space: nowrap; text-align: right; }
        td.actions button { padding: 1px 7px; font-size: 12px; }
        tr.s-open td, tr.s-forced_open td { background: #fff8f8; }
        tr.s-half_open td { background: #fffbeb; }
        tr.flash td { animation: flash 1.2s ease-out; }
        @keyframes flash { from { background: #fff1a8; } }
        .badge {
            display: inline-block; min-width: 84px; padding: 1px 8px; border-radius: 999px; text-align: center;
            color: #fff; font-size: 12px; font-weight: 600;
        }
        .b-closed { background: var(--closed); }
        .b-open { background: var(--open); }
        .b-half_open { background: var(--half); color: #1f2328; }
        .b-forced_open { background: var(--fopen); }
        .b-forced_closed { background: var(--fclosed); }
        .meter { display: inline-flex; align-items: center; gap: 6px; }
        .bar { display: inline-block; width: 54px; height: 6px; border-radius: 3px; background: #eaeef2; }
        .bar i { display: block; height: 100%; border-radius: 3px; background: var(--open); }
        #empty { color: var(--muted); padding: 18px 8px; }
        #panels section { border: 1px solid var(--line); border-radius: 8px; margin: 6px 0 4px; overflow: hidden; }
        #panels h2 {
            display: flex; align-items: center; gap: 8px; margin: 0; padding: 7px 12px; font-size: 13px;
            background: var(--panel); border-bottom: 1px solid var(--line);
        }
        #panels h2 span { flex: 1; }
        #panels table td { font-size: 12px; padding: 4px 8px; }
        #panels .badge { min-width: 0; font-size: 11px; padding: 0 6px; }
        #panels .when { white-space: nowrap; color: var(--muted); font-variant-numeric: tabular-nums; }
        #panels .who { color: var(--muted); overflow-wrap: anywhere; }
        #panels .who span + q { margin-left: 6px; }
        #panels .who q { color: var(--fg); }
        #panels .move, #panels .when, #panels td.name { width: 1%; white-space: nowrap; }
        #panels td.name { font-size: 12px; }
        .scroll { max-height: 190px; overflow-y: auto; }
        .none { color: var(--muted); padding: 10px 12px; font-size: 13px; }
        #force-dialog {
            position: fixed; inset: 0; z-index: 10; display: flex; align-items: flex-start; justify-content: center;
            padding-top: 12vh; background: rgba(31, 35, 40, .35);
        }
        #force-form {
            width: 440px; max-width: calc(100% - 24px); padding: 16px 18px; border-radius: 10px; background: #fff;
            box-shadow: 0 12px 32px rgba(0, 0, 0, .25);
        }
        #force-form h2 { margin: 0 0 12px; font-size: 16px; }
        #force-form label { display: block; margin: 10px 0 4px; font-weight: 600; font-size: 13px; }
        #force-form .row { display: flex; gap: 8px; }
        #force-reason { width: 100%; }
        #force-ttl { width: 140px; }
        #force-form .buttons { display: flex; justify-content: flex-end; gap: 8px; margin-top: 16px; }
        #force-form small { color: var(--muted); }
        """#

}
