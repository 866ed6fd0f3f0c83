import { useEffect, useMemo, useState } from "preact/hooks";
import { AlertFeed, notificationsSupported } from "./lib/alerts";
import type { Auth } from "./lib/auth";
import type { AppConfig } from "./lib/config";
import { ServicesContext } from "./lib/context";
import type { Api, LinkState } from "./lib/gql";
import { AlertsPage } from "./pages/Alerts";
import { AutomationPage } from "./pages/Automation";
import { DispatchPage } from "./pages/Dispatch";
import { FleetPage } from "./pages/Fleet";
import { ForecastsPage } from "./pages/Forecasts";
import { NodePage, NodesPage } from "./pages/Nodes";

interface Props {
  api: Api;
  auth: Auth;
  config: AppConfig;
}

const NAV: { path: string; label: string }[] = [
  { path: "/", label: "Fleet" },
  { path: "/nodes", label: "Nodes" },
  { path: "/dispatch", label: "Dispatch" },
  { path: "/alerts", label: "Alerts" },
  { path: "/forecasts", label: "Forecasts" },
  { path: "/automation", label: "Automation" },
];

export const alertFeed = new AlertFeed();

function usePath(): [string, (path: string) => void] {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const navigate = (to: string) => {
    if (to !== location.pathname + location.search) history.pushState(null, "", to);
    setPath(new URL(to, location.href).pathname);
    window.scrollTo(0, 0);
  };
  return [path, navigate];
}

function route(path: string) {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined:
      return <FleetPage />;
    case "nodes":
      return parts[1] ? <NodePage dcId={parts[1]} /> : <NodesPage />;
    case "dispatch":
      return <DispatchPage dispatchId={parts[1]} />;
    case "alerts":
      return <AlertsPage feed={alertFeed} />;
    case "forecasts":
      return <ForecastsPage />;
    case "automation":
      return <AutomationPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>No page at {path}.</p>
        </section>
      );
  }
}

export function App({ api, auth, config }: Props) {
  const [path, navigate] = usePath();
  const [link, setLink] = useState<LinkState>(api.state);
  const [unseen, setUnseen] = useState(0);
  const [menu, setMenu] = useState(false);
  const [permission, setPermission] = useState(notificationsSupported() ? Notification.permission : "denied");
  const services = useMemo(() => ({ api, auth, config, navigate }), [api, auth, config]);

  useEffect(() => api.onState(setLink), [api]);
  useEffect(() => {
    alertFeed.start(api);
    return alertFeed.listen(() => setUnseen(alertFeed.unseen));
  }, [api]);
  useEffect(() => {
    if (path === "/alerts") alertFeed.seen();
  }, [path, unseen]);

  const section = "/" + (path.split("/")[1] ?? "");
  const link_ = (to: string, label: string) => (
    <a
      href={to}
      class={section === to ? "active" : ""}
      aria-current={section === to ? "page" : undefined}
      onClick={(e) => {
        e.preventDefault();
        setMenu(false);
        navigate(to);
      }}
    >
      {label}
      {to === "/alerts" && unseen > 0 && path !== "/alerts" ? <span class="badge" data-testid="alert-badge">{unseen}</span> : null}
    </a>
  );

  return (
    <ServicesContext.Provider value={services}>
      <header class="top">
        <button class="menu-button" aria-label="Menu" aria-expanded={menu} onClick={() => setMenu(!menu)}>
          ☰
        </button>
        <span class="brand">⚡ VPP</span>
        <nav class={menu ? "open" : ""}>{NAV.map((n) => link_(n.path, n.label))}</nav>
        <span class={`link link-${link}`} title={`live data: ${link}`} data-testid="link-state">
          ● {link}
        </span>
        {permission === "default" ? (
          <button class="ghost" onClick={() => void Notification.requestPermission().then(setPermission)} title="Notify me of critical alerts" data-testid="notify">
            Notify me
          </button>
        ) : null}
        <span class="user" data-testid="user">
          {auth.username} <small>({auth.roles.join(", ") || "no role"})</small>
        </span>
        <button class="ghost" onClick={() => auth.logout()} data-testid="logout">
          Log out
        </button>
      </header>
      <main class="page">{route(path)}</main>
    </ServicesContext.Provider>
  );
}
