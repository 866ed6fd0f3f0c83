export interface AppConfig {
  keycloak: { issuer: string; realm: string; clientId: string };
  graphqlPath: string;
  temporalUi: string;
}

/** The runtime configuration the API serves (no URL is baked into the bundle). */
export async function loadConfig(): Promise<AppConfig> {
  const response = await fetch("/config.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`the API did not serve /config.json (HTTP ${response.status})`);
  const config = (await response.json()) as AppConfig;
  if (!config.keycloak?.issuer || !config.keycloak.clientId) {
    throw new Error("/config.json names no Keycloak issuer or client");
  }
  return config;
}
