// GraphQL: queries and mutations over HTTP (fetch), subscriptions over one WebSocket
// (graphql-transport-ws, through graphql-ws). The token travels in the Authorization
// header and in connection_init's payload. The socket is reopened after each token
// refresh, and every live subscription is re-issued on the new one.

import { createClient, type Client } from "graphql-ws";
import type { Auth } from "./auth";

export interface ErrorItem {
  message: string;
  extensions?: { code?: string; fields?: { field: string; message: string }[] };
}

/** A GraphQL error answer, with its code (BAD_USER_INPUT, FORBIDDEN, ...). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly fields: { field: string; message: string }[] = [],
  ) {
    super(message);
  }

  static of(errors: readonly ErrorItem[]): ApiError {
    const first = errors[0];
    return new ApiError(first?.message ?? "unknown error", first?.extensions?.code, first?.extensions?.fields ?? []);
  }
}

type Vars = Record<string, unknown>;

interface LiveSub {
  query: string;
  variables: Vars;
  next: (data: unknown) => void;
  error: (error: ApiError) => void;
  stop?: () => void;
}

export type LinkState = "connecting" | "live" | "down";

export class Api {
  private client: Client | null = null;
  private subs = new Set<LiveSub>();
  private stateListeners = new Set<(s: LinkState) => void>();
  private reconnectListeners = new Set<() => void>();
  private reconnecting = false;
  state: LinkState = "connecting";

  constructor(
    private readonly auth: Auth,
    private readonly path: string,
  ) {
    auth.onRefresh(() => this.reconnect());
  }

  async query<T>(query: string, variables: Vars = {}, retried = false): Promise<T> {
    const token = await this.auth.token();
    const response = await fetch(this.path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    if (response.status === 401 && !retried) {
      await this.auth.recover();
      return this.query<T>(query, variables, true);
    }
    const body = (await response.json().catch(() => null)) as { data?: T; errors?: ErrorItem[] } | null;
    if (!body) throw new ApiError(`the API answered HTTP ${response.status}`, "HTTP_ERROR");
    if (body.errors?.length) throw ApiError.of(body.errors);
    if (body.data === undefined) throw new ApiError("the API sent no data", "NO_DATA");
    return body.data;
  }

  /** A live subscription; call the returned function to end it. */
  subscribe<T>(query: string, variables: Vars, next: (data: T) => void, error?: (e: ApiError) => void): () => void {
    const sub: LiveSub = {
      query,
      variables,
      next: next as (data: unknown) => void,
      error: error ?? ((e) => console.warn("subscription error", e.message)),
    };
    this.subs.add(sub);
    this.start(sub);
    return () => {
      this.subs.delete(sub);
      sub.stop?.();
    };
  }

  onState(listener: (s: LinkState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** After the socket is reopened: what was pushed meanwhile may be missed, so re-read. */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  private setState(state: LinkState): void {
    this.state = state;
    this.stateListeners.forEach((l) => l(state));
  }

  private socket(): Client {
    if (this.client) return this.client;
    const url = new URL(this.path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const client = createClient({
      url: url.toString(),
      lazy: true,
      keepAlive: 15_000,
      retryAttempts: 1_000,
      shouldRetry: () => true,
      connectionParams: async () => ({ Authorization: `Bearer ${await this.auth.token()}` }),
      on: {
        connecting: () => this.setState("connecting"),
        connected: () => this.setState("live"),
        closed: (event) => {
          if (this.client !== client) return;
          this.setState("down");
          // 4403: connection_init refused (the token): refresh it, or log in again
          if ((event as CloseEvent | undefined)?.code === 4403) void this.auth.recover();
        },
      },
    });
    this.client = client;
    return client;
  }

  private start(sub: LiveSub): void {
    sub.stop = this.socket().subscribe(
      { query: sub.query, variables: sub.variables },
      {
        next: (result) => {
          if (result.errors?.length) {
            const error = ApiError.of(result.errors as ErrorItem[]);
            if (error.code === "UNAUTHENTICATED") {
              void this.auth.recover(); // a refresh reconnects and re-subscribes
              return;
            }
            sub.error(error);
          } else if (result.data) {
            sub.next(result.data);
          }
        },
        error: (error) => {
          if (Array.isArray(error)) sub.error(ApiError.of(error as ErrorItem[]));
          else if (error instanceof Error) sub.error(new ApiError(error.message, "SOCKET"));
        },
        complete: () => undefined,
      },
    );
  }

  /** A new socket (with the current token) carrying every live subscription. */
  reconnect(): void {
    if (this.reconnecting) return;
    this.reconnecting = true;
    const old = this.client;
    this.client = null;
    for (const sub of this.subs) sub.stop?.();
    void old?.dispose();
    for (const sub of this.subs) this.start(sub);
    this.reconnecting = false;
    this.reconnectListeners.forEach((l) => l());
  }
}
