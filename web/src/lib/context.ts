import { createContext } from "preact";
import { useContext, useEffect, useRef, useState } from "preact/hooks";
import type { Auth } from "./auth";
import type { AppConfig } from "./config";
import { type Api, ApiError } from "./gql";

export interface Services {
  api: Api;
  auth: Auth;
  config: AppConfig;
  navigate: (path: string) => void;
}

export const ServicesContext = createContext<Services | null>(null);

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error("no services");
  return services;
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  /** the API's code for the error (NOT_FOUND, FORBIDDEN, ...), when it gave one */
  errorCode: string | null;
  loading: boolean;
  reload: () => void;
}

/** What `load` gives, re-read when `deps` change (and every `everyMs`, if given). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; errorCode: string | null; loading: boolean }>({
    data: null,
    error: null,
    errorCode: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  const loader = useRef(load);
  loader.current = load;
  useEffect(() => {
    let alive = true;
    setState((s) => ({ ...s, loading: true }));
    loader
      .current()
      .then((data) => alive && setState({ data, error: null, errorCode: null, loading: false }))
      .catch(
        (e: unknown) =>
          alive &&
          setState((s) => ({
            ...s,
            error: e instanceof Error ? e.message : String(e),
            errorCode: e instanceof ApiError ? (e.code ?? null) : null,
            loading: false,
          })),
      );
    return () => {
      alive = false;
    };
  }, [...deps, tick]);
  useEffect(() => {
    if (!everyMs) return undefined;
    const id = setInterval(() => setTick((t) => t + 1), everyMs);
    return () => clearInterval(id);
  }, [everyMs]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/** A query's answer, re-read when `deps` change (and every `everyMs`, if given). */
export function useQuery<T>(query: string, variables: Record<string, unknown>, deps: unknown[], everyMs?: number): Loaded<T> {
  const { api } = useServices();
  return useLoad(() => api.query<T>(query, variables), deps, everyMs);
}

/** A live subscription for the component's life (re-subscribed when `deps` change). */
export function useSubscription<T>(
  query: string,
  variables: Record<string, unknown>,
  onData: (data: T) => void,
  deps: unknown[],
  onError?: (message: string) => void,
): void {
  const { api } = useServices();
  const handler = useRef(onData);
  handler.current = onData;
  const errors = useRef(onError);
  errors.current = onError;
  useEffect(
    () =>
      api.subscribe<T>(
        query,
        variables,
        (d) => handler.current(d),
        (e) => errors.current?.(e.message),
      ),
    deps,
  );
}

/** The time, re-read every `everyMs`: for what a page says about age as time passes. */
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(id);
  }, [everyMs]);
  return now;
}
