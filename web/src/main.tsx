import { render } from "preact";
import { App } from "./app";
import { Auth } from "./lib/auth";
import { loadConfig } from "./lib/config";
import { Api } from "./lib/gql";
import "./styles.css";

(window as unknown as { __vppStart: number }).__vppStart = performance.now();

async function boot(): Promise<void> {
  const root = document.getElementById("app")!;
  try {
    const config = await loadConfig();
    const auth = new Auth(config.keycloak);
    await auth.handleCallback();
    if (!auth.loggedIn) {
      await auth.login();
      return;
    }
    await auth.token(); // refreshed now if the stored one is stale
    auth.schedule();
    const api = new Api(auth, config.graphqlPath);
    root.textContent = "";
    render(<App api={api} auth={auth} config={config} />, root);
  } catch (error) {
    root.textContent = "";
    render(
      <main class="boot-error">
        <h1>The dashboard could not start</h1>
        <p role="alert">{error instanceof Error ? error.message : String(error)}</p>
        <button onClick={() => location.assign("/")}>Try again</button>
      </main>,
      root,
    );
  }
}

void boot();

if ("serviceWorker" in navigator && location.protocol !== "file:") {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch((e: unknown) => console.warn("service worker", e));
  });
}
