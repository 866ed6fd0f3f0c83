import { useState } from "preact/hooks";
import { useQuery, useServices } from "../lib/context";
import { label, num, time } from "../lib/format";
import { ErrorNote, Loading, StatusPill, TableHead } from "./shared";

interface Run {
  workflowId: string;
  scheduledAt: string;
  startedAt: string;
  status: string | null;
  url: string;
}

interface Schedule {
  scheduleId: string;
  workflow: string;
  taskQueue: string;
  every: string;
  note: string | null;
  paused: boolean;
  runs: number;
  nextRuns: string[];
  recent: Run[];
}

interface Automation {
  enabled: boolean;
  dryRun: boolean;
  updatedBy: string | null;
  updatedAt: string | null;
  cycleMinutes: number;
  schedules: Schedule[];
  schedulesError: string | null;
  temporalUi: string;
}

interface Decision {
  id: string;
  cycleId: string;
  dcId: string;
  decidedAt: string;
  policy: string;
  soc: number | null;
  priceNow: number | null;
  requestedKw: number;
  kw: number;
  action: string | null;
  changes: { rule: string; reason: string; kwBefore: number; kwAfter: number }[];
  expectedSaving: number;
  dryRun: boolean;
  dispatchId: string | null;
}

const AUTOMATION_FIELDS = `enabled dryRun updatedBy updatedAt cycleMinutes schedulesError temporalUi
  schedules { scheduleId workflow taskQueue every note paused runs nextRuns recent { workflowId scheduledAt startedAt status url } }`;
const AUTOMATION = `query { automation { ${AUTOMATION_FIELDS} } }`;
const DECISIONS = `query($first: Int!, $dcId: ID, $actingOnly: Boolean!) {
  decisions(first: $first, dcId: $dcId, actingOnly: $actingOnly) { edges { node { id cycleId dcId decidedAt policy soc priceNow
    requestedKw kw action changes { rule reason kwBefore kwAfter } expectedSaving dryRun dispatchId } } pageInfo { hasNextPage } } }`;
// Decisions shown at first and added by "Show more", up to the API's page limit.
const DECISION_PAGE = 40;
const MAX_DECISIONS = 500;
const SET = `mutation($enabled: Boolean, $dryRun: Boolean) { setAutomation(enabled: $enabled, dryRun: $dryRun) { ${AUTOMATION_FIELDS} } }`;
const PAUSE = `mutation($id: ID!, $paused: Boolean!) { pauseSchedule(scheduleId: $id, paused: $paused) { ${AUTOMATION_FIELDS} } }`;
const RUN = `mutation($id: ID!) { runSchedule(scheduleId: $id) { ${AUTOMATION_FIELDS} } }`;

export function AutomationPage() {
  const { api, auth, navigate } = useServices();
  const admin = auth.can("admin");
  const state = useQuery<{ automation: Automation }>(AUTOMATION, {}, [], 10_000);
  // The node id as typed, applied on Enter or when the box loses focus.
  const [nodeDraft, setNodeDraft] = useState("");
  const [nodeFilter, setNodeFilter] = useState("");
  const [actingOnly, setActingOnly] = useState(false);
  const [shown, setShown] = useState(DECISION_PAGE);
  const decisions = useQuery<{ decisions: { edges: { node: Decision }[]; pageInfo: { hasNextPage: boolean } } }>(
    DECISIONS,
    { first: shown, dcId: nodeFilter || null, actingOnly },
    [shown, nodeFilter, actingOnly],
    15_000,
  );
  const filter = (apply: () => void) => {
    apply();
    setShown(DECISION_PAGE);
  };
  const [changed, setChanged] = useState<Automation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const a = changed && state.data && changed.updatedAt && changed.updatedAt >= (state.data.automation.updatedAt ?? "") ? changed : state.data?.automation;

  const act = async (query: string, variables: Record<string, unknown>, key: string) => {
    setBusy(true);
    setError(null);
    try {
      const data = await api.query<Record<string, Automation>>(query, variables);
      setChanged(data[key] ?? null);
      state.reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  // An error (a bad node id, say) hides the rows of the filter before it.
  const rows = decisions.error ? [] : (decisions.data?.decisions.edges.map((e) => e.node) ?? []);
  return (
    <section>
      <h1>Automation</h1>
      <ErrorNote error={state.error ? `Automation not available: ${state.error}` : error} />
      {!a ? (
        state.error ? null : <Loading what="the automation" />
      ) : (
        <>
          <div class="facts" data-testid="automation-state">
            <span>
              Automation is <strong>{a.enabled ? "on" : "off"}</strong>
              {a.enabled && a.dryRun ? " in dry run (it decides and stores, and dispatches nothing)" : ""}; a cycle every {a.cycleMinutes} min.
            </span>
            {a.updatedBy ? (
              <span>
                last changed by {a.updatedBy} at {time(a.updatedAt)}
              </span>
            ) : null}
            <span>
              <a href={a.temporalUi} target="_blank" rel="noopener">
                every workflow in the Temporal UI
              </a>
            </span>
          </div>
          {admin ? (
            <div class="toolbar" data-testid="automation-controls">
              <button class={a.enabled ? "danger" : "primary"} disabled={busy} onClick={() => void act(SET, { enabled: !a.enabled }, "setAutomation")}>
                {a.enabled ? "Switch automation off" : "Switch automation on"}
              </button>
              <label class="check">
                <input type="checkbox" checked={a.dryRun} disabled={busy} onChange={(e) => void act(SET, { dryRun: e.currentTarget.checked }, "setAutomation")} /> Dry run
              </label>
            </div>
          ) : (
            <p class="muted small">Switching the automation needs the admin role.</p>
          )}
          <h2>Schedules</h2>
          <ErrorNote error={a.schedulesError} />
          {a.schedules.length === 0 ? (
            a.schedulesError ? null : (
              <p class="muted" data-testid="no-schedules">
                No schedule in Temporal yet: <code>vpp schedules apply</code> creates them (<code>make run</code> does).
              </p>
            )
          ) : (
            <div class="table-wrap">
              <table class="table" data-testid="schedules">
                <thead>
                  <tr>
                    <th>Schedule</th>
                    <th>Every</th>
                    <th>State</th>
                    <th>Last runs</th>
                    <th>Next</th>
                    {admin ? <th /> : null}
                  </tr>
                </thead>
                <tbody>
                  {a.schedules.map((s) => (
                    <tr key={s.scheduleId}>
                      <td>
                        {s.scheduleId}
                        <div class="muted small">
                          {s.workflow} on {s.taskQueue}
                          {s.note ? ` · ${s.note}` : ""}
                        </div>
                      </td>
                      <td>{s.every}</td>
                      <td>{s.paused ? <span class="pill st-offline">Paused</span> : <span class="pill st-online">Active</span>}</td>
                      <td>
                        {s.recent.length === 0 ? <span class="muted">none yet</span> : null}
                        {s.recent.slice(0, 3).map((r) => (
                          <div key={r.workflowId}>
                            <a href={r.url} target="_blank" rel="noopener">
                              {time(r.startedAt)}
                            </a>{" "}
                            {r.status ? <StatusPill status={r.status.toUpperCase()} /> : null}
                          </div>
                        ))}
                        <span class="muted small">{s.runs} runs</span>
                      </td>
                      <td>{s.nextRuns[0] ? time(s.nextRuns[0]) : "–"}</td>
                      {admin ? (
                        <td>
                          <button class="ghost" disabled={busy} onClick={() => void act(PAUSE, { id: s.scheduleId, paused: !s.paused }, "pauseSchedule")}>
                            {s.paused ? "Resume" : "Pause"}
                          </button>{" "}
                          <button class="ghost" disabled={busy} onClick={() => void act(RUN, { id: s.scheduleId }, "runSchedule")}>
                            Run now
                          </button>
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
      <h2>Decisions</h2>
      <ErrorNote error={decisions.error ? `Decisions not available: ${decisions.error}` : null} />
      {decisions.data === null && !decisions.error ? <Loading what="decisions" /> : null}
      <div class="toolbar">
        <input
          type="search"
          placeholder="Node id, e.g. node-00004"
          value={nodeDraft}
          onInput={(e) => setNodeDraft(e.currentTarget.value)}
          onChange={(e) => filter(() => setNodeFilter(e.currentTarget.value.trim()))}
          aria-label="Decisions of one node"
          data-testid="decisions-node"
        />
        <label class="check">
          <input type="checkbox" checked={actingOnly} onChange={(e) => filter(() => setActingOnly(e.currentTarget.checked))} data-testid="decisions-acting" /> only
          those that sent a command
        </label>
      </div>
      {decisions.data && !decisions.error && rows.length === 0 ? (
        <p class="muted">
          {nodeFilter || actingOnly
            ? `No decision ${nodeFilter ? `for ${nodeFilter} ` : ""}${actingOnly ? "that sent a command " : ""}yet.`
            : "No decision yet: the optimisation cycle has not run."}
        </p>
      ) : null}
      {rows.length ? (
        <div class="table-wrap">
          <table class="table" data-testid="decisions">
            <TableHead cols={["When", "Node", "Policy", "SOC", "Asked", "After guard", "Guard", "Saving", "Sent"]} numeric={["SOC", "Asked", "After guard", "Saving"]} />
            <tbody>
              {rows.map((d) => (
                <tr key={d.id}>
                  <td>{time(d.decidedAt)}</td>
                  <td>{d.dcId}</td>
                  <td>{d.policy}</td>
                  <td class="num">{num(d.soc, 0, "%")}</td>
                  <td class="num">{num(d.requestedKw, 1)}</td>
                  <td class="num">{num(d.kw, 1)}</td>
                  <td>
                    {d.changes.length === 0 ? <span class="muted">–</span> : null}
                    {d.changes.map((c) => (
                      <div key={c.rule + c.reason} class="small">
                        <strong>{label(c.rule)}</strong>: {c.reason} ({num(c.kwBefore, 1)} → {num(c.kwAfter, 1)} kW)
                      </div>
                    ))}
                  </td>
                  <td class="num">{num(d.expectedSaving, 2)}</td>
                  <td>
                    {d.dispatchId ? (
                      <a href={`/dispatch/${encodeURIComponent(d.dispatchId)}`} onClick={(e) => (e.preventDefault(), navigate(`/dispatch/${encodeURIComponent(d.dispatchId!)}`))}>
                        {d.action ? label(d.action.toUpperCase()) : "dispatch"}
                      </a>
                    ) : d.dryRun ? (
                      "dry run"
                    ) : (
                      <span title="No command: a home battery runs for self-consumption on its own">no command</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {decisions.data?.decisions.pageInfo.hasNextPage && shown < MAX_DECISIONS ? (
            <button onClick={() => setShown(Math.min(shown + DECISION_PAGE, MAX_DECISIONS))} data-testid="decisions-more">
              Show more
            </button>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
