import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useLoad, useQuery, useServices } from "../lib/context";
import { ACTIONS, checkDispatch, duration, label, latency, num, plural, power, TERMINAL, time, type Action, type DispatchForm, type DispatchInput } from "../lib/format";
import { ApiError } from "../lib/gql";
import { allNodes } from "./Fleet";
import { ErrorNote, Loading, Online, StatusPill, TableHead } from "./shared";

interface Counts {
  pending: number;
  sent: number;
  accepted: number;
  completed: number;
  rejected: number;
  expired: number;
  cancelled: number;
  total: number;
}

interface Summary {
  dispatchId: string;
  workflowId: string;
  action: Action;
  params: { kw: number; durationS: number };
  allNodes: boolean;
  issuedBy: string;
  createdAt: string;
  deadline: string;
  status: string;
  nodeCount: number | null;
  counts: Counts;
  reason: string | null;
  problems: string[];
  notes: string[];
  finishedAt: string | null;
}

interface NodeCommand {
  dcId: string;
  status: string;
  attempts: number;
  latencyMs: number | null;
  reason: string | null;
  appliedKw: number | null;
  measuredKw: number | null;
  measuredRatio: number | null;
  measuredNote: string | null;
}

const SUMMARY = `dispatchId workflowId action params { kw durationS } allNodes issuedBy createdAt deadline status nodeCount
  counts { pending sent accepted completed rejected expired cancelled total } reason problems notes finishedAt`;

const DISPATCHES = `query($first: Int!, $status: DispatchStatus, $issuedBy: String) {
  dispatches(first: $first, status: $status, issuedBy: $issuedBy) { edges { node { ${SUMMARY} } } pageInfo { hasNextPage } } }`;
// Dispatches listed at first and added by "Show more", up to the API's page limit.
const DISPATCH_PAGE = 25;
const MAX_DISPATCHES = 500;
const STATUSES = ["RESOLVING", "RUNNING", "COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "REFUSED"];
// Who issued a dispatch: the optimiser's cycles sign theirs "automation".
const AUTOMATION_ISSUER = "automation";
const DISPATCH = `query($id: ID!, $after: String) { dispatch(dispatchId: $id) { ${SUMMARY}
  commands(first: 500, after: $after) { edges { node { dcId status attempts latencyMs reason appliedKw measuredKw measuredRatio measuredNote } }
    pageInfo { hasNextPage endCursor } } } }`;
const PROGRESS = `subscription($id: ID!) { dispatchProgress(dispatchId: $id) { status counts { pending sent accepted completed rejected expired cancelled total }
  nodes { dcId status attempts reason latencyMs } } }`;
const START = `mutation($input: DispatchInput!) { dispatch(input: $input) { dispatchId workflowId nodeCount existing } }`;
const CANCEL = `mutation($id: ID!) { cancelDispatch(dispatchId: $id, reason: "cancelled from the dashboard") { dispatchId status } }`;

export function DispatchPage({ dispatchId }: { dispatchId?: string }) {
  const { auth } = useServices();
  if (dispatchId) return <DispatchView dispatchId={dispatchId} />;
  return (
    <section>
      <h1>Dispatch</h1>
      {auth.can("operator") ? (
        <DispatchFormView />
      ) : (
        <p class="note" data-testid="read-only-note">
          You are signed in as a viewer: you can follow dispatches here, but sending one needs the operator role.
        </p>
      )}
      <PastDispatches />
    </section>
  );
}

function DispatchFormView() {
  const { api, navigate } = useServices();
  const nodes = useLoad(() => allNodes((q, v) => api.query(q, v)), []);
  const [form, setForm] = useState<DispatchForm>({ allNodes: false, targets: [], action: "DISCHARGE", kw: "10", minutes: "15" });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [confirm, setConfirm] = useState<DispatchInput | null>(null);
  const [sending, setSending] = useState(false);
  const [filter, setFilter] = useState("");
  const [serverError, setServerError] = useState<string | null>(null);
  const requestId = useRef(crypto.randomUUID());

  const set = (patch: Partial<DispatchForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    setErrors({});
    setServerError(null);
  };
  const toggle = (id: string) => set({ targets: form.targets.includes(id) ? form.targets.filter((t) => t !== id) : [...form.targets, id] });
  const visible = (nodes.data ?? []).filter((n) => n.dcId.toLowerCase().includes(filter.toLowerCase()) || n.hostname.toLowerCase().includes(filter.toLowerCase()));

  const review = (e: Event) => {
    e.preventDefault();
    const { input, errors: found } = checkDispatch(form);
    setErrors(found);
    if (input) setConfirm(input);
  };

  const send = async () => {
    if (!confirm) return;
    setSending(true);
    try {
      const { dispatch } = await api.query<{ dispatch: { dispatchId: string } }>(START, { input: { ...confirm, requestId: requestId.current } });
      requestId.current = crypto.randomUUID();
      navigate(`/dispatch/${encodeURIComponent(dispatch.dispatchId)}`);
    } catch (error) {
      setConfirm(null);
      if (error instanceof ApiError) {
        const byField: Record<string, string> = {};
        for (const f of error.fields) byField[f.field.replace(/^input\./, "").replace("durationS", "minutes").replace("allNodes", "targets")] = f.message;
        setErrors(byField);
        setServerError(`The dispatch was refused: ${error.message}`);
      } else {
        setServerError(`The dispatch could not be sent: ${error instanceof Error ? error.message : String(error)}`);
      }
    } finally {
      setSending(false);
    }
  };

  const targetText = confirm ? (confirm.allNodes ? "all nodes" : plural(confirm.targets!.length, "node")) : "";
  return (
    <form class="card dispatch-form" onSubmit={review} noValidate data-testid="dispatch-form">
      <h2>New dispatch</h2>
      <fieldset>
        <legend>Targets</legend>
        <label class="check">
          <input type="radio" name="scope" checked={form.allNodes} onChange={() => set({ allNodes: true })} /> All nodes
        </label>
        <label class="check">
          <input type="radio" name="scope" checked={!form.allNodes} onChange={() => set({ allNodes: false })} /> Chosen nodes ({form.targets.length})
        </label>
        {!form.allNodes ? (
          <div class="picker">
            <div class="toolbar">
              <input type="search" placeholder="Filter nodes" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} aria-label="Filter nodes" />
              <button type="button" class="ghost" onClick={() => set({ targets: [...new Set([...form.targets, ...visible.map((n) => n.dcId)])] })}>
                Select shown
              </button>
              <button type="button" class="ghost" onClick={() => set({ targets: [] })}>
                Clear
              </button>
            </div>
            {nodes.data === null ? <Loading what="nodes" /> : null}
            <ul class="node-picks" data-testid="node-picker">
              {visible.map((n) => (
                <li key={n.dcId}>
                  <label class="check">
                    <input type="checkbox" checked={form.targets.includes(n.dcId)} onChange={() => toggle(n.dcId)} data-node={n.dcId} />
                    {n.dcId} <span class="muted small">{power(n.capacityKw)}</span> <Online online={n.live?.online} />
                  </label>
                </li>
              ))}
            </ul>
          </div>
        ) : null}
        {errors["targets"] ? <p class="field-error" role="alert">{errors["targets"]}</p> : null}
      </fieldset>
      <div class="row">
        <label>
          Action
          <select value={form.action} onChange={(e) => set({ action: e.currentTarget.value as Action })} name="action">
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {label(a)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Power per node (kW)
          <input name="kw" inputMode="decimal" value={form.kw} onInput={(e) => set({ kw: e.currentTarget.value })} aria-invalid={errors["kw"] ? true : undefined} />
          {errors["kw"] ? <span class="field-error" role="alert" data-testid="kw-error">{errors["kw"]}</span> : null}
        </label>
        <label>
          Duration (minutes)
          <input name="minutes" inputMode="decimal" value={form.minutes} onInput={(e) => set({ minutes: e.currentTarget.value })} aria-invalid={errors["minutes"] ? true : undefined} />
          {errors["minutes"] ? <span class="field-error" role="alert">{errors["minutes"]}</span> : null}
        </label>
      </div>
      <ErrorNote error={serverError} />
      <button type="submit" class="primary" data-testid="dispatch-review">
        Review dispatch…
      </button>
      {confirm ? (
        <div class="confirm" role="dialog" aria-label="Confirm dispatch" data-testid="dispatch-confirm">
          <p>
            <strong>{label(confirm.action)}</strong> {num(confirm.kw, 1, "kW")} per node on <strong>{targetText}</strong> for {duration(confirm.durationS)}?
          </p>
          <button type="button" class="primary" disabled={sending} onClick={() => void send()} data-testid="dispatch-send">
            {sending ? "Sending…" : "Send dispatch"}
          </button>
          <button type="button" class="ghost" onClick={() => setConfirm(null)}>
            Back
          </button>
        </div>
      ) : null}
    </form>
  );
}

function PastDispatches() {
  const { auth, navigate } = useServices();
  const [status, setStatus] = useState("");
  const [issuer, setIssuer] = useState("");
  const [shown, setShown] = useState(DISPATCH_PAGE);
  const list = useQuery<{ dispatches: { edges: { node: Summary }[]; pageInfo: { hasNextPage: boolean } } }>(
    DISPATCHES,
    { first: shown, status: status || null, issuedBy: issuer || null },
    [shown, status, issuer],
    10_000,
  );
  const rows = list.error ? [] : (list.data?.dispatches.edges.map((e) => e.node) ?? []);
  const filtered = Boolean(status || issuer);
  return (
    <>
      <h2>Past dispatches</h2>
      <div class="toolbar">
        <label>
          Status{" "}
          <select value={status} onChange={(e) => (setStatus(e.currentTarget.value), setShown(DISPATCH_PAGE))} data-testid="dispatches-status">
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {label(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          By{" "}
          <select value={issuer} onChange={(e) => (setIssuer(e.currentTarget.value), setShown(DISPATCH_PAGE))} data-testid="dispatches-issuer">
            <option value="">anyone</option>
            <option value={AUTOMATION_ISSUER}>the automation</option>
            {auth.username && auth.username !== AUTOMATION_ISSUER ? <option value={auth.username}>me ({auth.username})</option> : null}
          </select>
        </label>
      </div>
      <ErrorNote error={list.error} />
      {list.data === null ? (
        <Loading what="dispatches" />
      ) : rows.length === 0 ? (
        list.error ? null : <p class="muted">{filtered ? "No dispatch matches." : "No dispatch yet."}</p>
      ) : (
        <div class="table-wrap">
          <table class="table" data-testid="past-dispatches">
            <TableHead cols={["When", "Action", "kW", "Status", "Done", "By"]} numeric={["kW", "Done"]} />
            <tbody>
              {rows.map((d) => (
                <tr key={d.dispatchId} class="clickable" onClick={() => navigate(`/dispatch/${encodeURIComponent(d.dispatchId)}`)}>
                  <td>{time(d.createdAt)}</td>
                  <td>{label(d.action)}</td>
                  <td class="num">{num(d.params.kw, 1)}</td>
                  <td>
                    <StatusPill status={d.status} />
                  </td>
                  <td class="num">
                    {d.counts.completed} / {d.counts.total || d.nodeCount || 0}
                  </td>
                  <td>{d.issuedBy}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.data?.dispatches.pageInfo.hasNextPage && shown < MAX_DISPATCHES ? (
            <button onClick={() => setShown(Math.min(shown + DISPATCH_PAGE, MAX_DISPATCHES))} data-testid="dispatches-more">
              Show more
            </button>
          ) : null}
        </div>
      )}
    </>
  );
}

async function readDispatch(
  query: <T>(q: string, v: Record<string, unknown>) => Promise<T>,
  id: string,
): Promise<{ summary: Summary; nodes: Map<string, NodeCommand> } | null> {
  const nodes = new Map<string, NodeCommand>();
  let after: string | null = null;
  let summary: Summary | null = null;
  for (;;) {
    const page: { dispatch: (Summary & { commands: { edges: { node: NodeCommand }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }) | null } =
      await query(DISPATCH, { id, after });
    if (!page.dispatch) return null;
    summary ??= page.dispatch;
    for (const e of page.dispatch.commands.edges) nodes.set(e.node.dcId, e.node);
    if (!page.dispatch.commands.pageInfo.hasNextPage) return { summary, nodes };
    after = page.dispatch.commands.pageInfo.endCursor;
  }
}

export function DispatchView({ dispatchId }: { dispatchId: string }) {
  const { api, auth, config, navigate } = useServices();
  const [summary, setSummary] = useState<Summary | null>(null);
  const [nodes, setNodes] = useState<Map<string, NodeCommand>>(new Map());
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reads, setReads] = useState(0);
  const reread = () => setReads((n) => n + 1);

  // The state so far, then every change pushed; re-read after a reconnect and once finished
  useEffect(() => {
    let alive = true;
    readDispatch((q, v) => api.query(q, v), dispatchId)
      .then((found) => {
        if (!alive) return;
        if (!found) return setMissing(true);
        setSummary(found.summary);
        setNodes((old) => {
          const merged = new Map(found.nodes);
          // a pushed change newer than this read stays
          for (const [id, n] of old) if (!merged.has(id)) merged.set(id, n);
          return merged;
        });
      })
      .catch((e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      alive = false;
    };
  }, [dispatchId, reads]);

  useEffect(() => api.onReconnect(reread), [api]);
  const running = summary !== null && !TERMINAL.has(summary.status);
  useEffect(() => {
    // a safety net under the pushed progress: a change between the read and the subscribe
    if (!running) return undefined;
    const id = setInterval(reread, 5_000);
    return () => clearInterval(id);
  }, [running]);

  const done = summary ? TERMINAL.has(summary.status) : false;
  useEffect(() => {
    if (done) return undefined;
    return api.subscribe<{ dispatchProgress: { status: string | null; counts: Counts; nodes: NodeCommand[] } }>(
      PROGRESS,
      { id: dispatchId },
      ({ dispatchProgress: p }) => {
        setSummary((s) => (s ? { ...s, counts: p.counts, status: p.status ?? s.status } : s));
        if (p.nodes.length)
          setNodes((old) => {
            const next = new Map(old);
            for (const n of p.nodes) next.set(n.dcId, { ...(old.get(n.dcId) ?? emptyCommand(n.dcId)), ...n });
            return next;
          });
        if (p.status && TERMINAL.has(p.status)) reread();
      },
      (e) => setError(e.message),
    );
  }, [dispatchId, done]);

  // The measured response lands a moment after the end: read again until it is there
  const measuring = done && [...nodes.values()].some((n) => n.status === "COMPLETED" && n.measuredKw === null && !n.measuredNote);
  useEffect(() => {
    if (!measuring || reads > 12) return undefined;
    const id = setTimeout(reread, 2_500);
    return () => clearTimeout(id);
  }, [measuring, reads]);

  const rows = useMemo(() => [...nodes.values()].sort((a, b) => a.dcId.localeCompare(b.dcId)), [nodes]);
  if (missing) {
    return (
      <section>
        <h1>Dispatch</h1>
        <p class="error" role="alert">No dispatch {dispatchId}.</p>
      </section>
    );
  }
  const total = summary?.counts.total || summary?.nodeCount || rows.length;
  const finished = summary ? summary.counts.completed + summary.counts.rejected + summary.counts.expired + summary.counts.cancelled : 0;
  const measured = rows.filter((r) => r.measuredKw !== null);
  const commanded = summary?.params.kw ?? 0;
  const cancel = async () => {
    try {
      await api.query(CANCEL, { id: dispatchId });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <section>
      <p class="crumbs">
        <a href="/dispatch" onClick={(e) => (e.preventDefault(), navigate("/dispatch"))}>Dispatch</a> / {dispatchId}
      </p>
      <h1>
        Dispatch {summary ? <StatusPill status={summary.status} /> : null}
      </h1>
      <ErrorNote error={error} />
      {!summary ? (
        <Loading what="the dispatch" />
      ) : (
        <>
          <div class="facts" data-testid="dispatch-summary" data-status={summary.status}>
            <span>
              <strong>{label(summary.action)}</strong> {num(summary.params.kw, 1, "kW")} per node for {duration(summary.params.durationS)}
            </span>
            <span>{summary.allNodes ? "all nodes" : `${total} nodes`} · by {summary.issuedBy} · {time(summary.createdAt)}</span>
            <span>
              <a href={`${config.temporalUi.replace(/\/workflows$/, "")}/workflows/${encodeURIComponent(summary.workflowId)}`} target="_blank" rel="noopener">
                workflow in the Temporal UI
              </a>
            </span>
            {summary.reason ? <span class="error">{summary.reason}</span> : null}
            {summary.problems.map((p) => (
              <span key={p} class="error">
                {p}
              </span>
            ))}
          </div>
          <div class="progress" aria-label="progress">
            <div class="bar" style={{ width: `${total ? (100 * finished) / total : 0}%` }} />
          </div>
          <p class="counts" data-testid="dispatch-counts">
            {finished} of {total} finished · {summary.counts.completed} completed · {summary.counts.accepted} accepted · {summary.counts.sent} sent ·{" "}
            {summary.counts.pending} pending · {summary.counts.rejected} rejected · {summary.counts.expired} expired · {summary.counts.cancelled} cancelled
          </p>
          {!done && auth.can("operator") ? (
            <button class="ghost danger" onClick={() => void cancel()}>
              Cancel dispatch
            </button>
          ) : null}
          {done && measured.length ? (
            <p data-testid="measured-response">
              Measured response: {power(measured.reduce((s, r) => s + (r.measuredKw ?? 0), 0))} from {measured.length} node(s) against{" "}
              {power(commanded * measured.length)} commanded (
              {num((100 * measured.reduce((s, r) => s + (r.measuredRatio ?? 0), 0)) / measured.length, 0, "%")} on average).
            </p>
          ) : done ? (
            <p class="muted">{measuring ? "Measuring the response from telemetry…" : "No measured response."}</p>
          ) : null}
          <div class="table-wrap">
            <table class="table" data-testid="dispatch-nodes">
              <TableHead cols={["Node", "Status", "Attempts", "Latency", "Applied", "Measured"]} numeric={["Attempts", "Latency", "Applied", "Measured"]} />
              <tbody>
                {rows.map((n) => (
                  <tr key={n.dcId} data-node={n.dcId} data-status={n.status}>
                    <td>{n.dcId}</td>
                    <td>
                      <StatusPill status={n.status} /> {n.reason ? <span class="muted small">{n.reason}</span> : null}
                    </td>
                    <td class="num">{n.attempts}</td>
                    <td class="num">{latency(n.latencyMs)}</td>
                    <td class="num">{power(n.appliedKw)}</td>
                    <td class="num" title={n.measuredNote ?? ""}>
                      {power(n.measuredKw)}
                      {n.measuredRatio !== null ? <span class="muted small"> ({num(100 * n.measuredRatio, 0, "%")})</span> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function emptyCommand(dcId: string): NodeCommand {
  return { dcId, status: "PENDING", attempts: 0, latencyMs: null, reason: null, appliedKw: null, measuredKw: null, measuredRatio: null, measuredNote: null };
}
