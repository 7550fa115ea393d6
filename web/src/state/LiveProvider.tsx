import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from "react";
import { ApiError } from "../api/client";
import { endpoints, onUnauthorized, type DecisionVerb } from "../api/endpoints";
import { notify, toastError, toastSuccess } from "../lib/notify";
import { playErrorSound } from "../lib/sound";
import { STORAGE_KEYS, readStorage, writeStorage } from "./filters";
import { initialLiveState, liveReducer, MAX_SSE_ERRORS, notificationsFor, pendingSnapshot, resyncPendingAfter, type LiveAction, type LiveState, type PendingEntry, type SseEvent } from "./live";
import { documentTitle } from "./pending";

interface LiveContextValue {
  state: LiveState;
  dispatch: (action: LiveAction) => void;
  signedOut: boolean;
  retry: () => void;
  decide: (entry: PendingEntry, verb: DecisionVerb) => Promise<void>;
  unreadIncidents: number;
  markIncidentsSeen: (lastSeen: string) => void;
}

const LiveContext = createContext<LiveContextValue | null>(null);

const DECIDED: Record<DecisionVerb, string> = { approve: "Allowed", "allow-once": "Allowed once", deny: "Denied" };

export function LiveProvider({ children }: { children: ReactNode }) {
  const [state, dispatch] = useReducer(liveReducer, initialLiveState);
  const [signedOut, setSignedOut] = useState(false);
  const [generation, setGeneration] = useState(0);
  const [unreadIncidents, setUnread] = useState(0);
  const errors = useRef(0);

  useEffect(() => onUnauthorized(() => setSignedOut(true)), []);

  // The event stream. EventSource reconnects by itself; we count failures so the banner can
  // say "Disconnected" after MAX_SSE_ERRORS, and stop then until the user asks to retry.
  useEffect(() => {
    if (signedOut) return;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    errors.current = 0;

    const connect = () => {
      source = new EventSource("/api/events", { withCredentials: true });
      source.onopen = () => {
        errors.current = 0;
        dispatch({ kind: "sse_open" });
      };
      source.onmessage = (message) => {
        let event: SseEvent;
        try {
          event = JSON.parse(message.data) as SseEvent;
        } catch {
          return;
        }
        if (!event || typeof event.type !== "string") return;
        dispatch({ kind: "event", event, now: Date.now() });
        for (const notice of notificationsFor(event)) notify(notice);
        const resync = resyncPendingAfter(event);
        if (resync) {
          endpoints.pendingList(resync).then(
            (approvals) => {
              const snapshot = pendingSnapshot(resync, event.proxy_id, approvals);
              if (snapshot && !stopped) dispatch({ kind: "event", event: snapshot, now: Date.now() });
            },
            () => undefined, // no session left: nothing waits
          );
        }
      };
      source.onerror = () => {
        if (stopped) return;
        errors.current += 1;
        dispatch({ kind: "sse_error" });
        if (errors.current === 1) {
          // A stream refused with 401 looks like any other error: ask a plain endpoint why.
          endpoints.managerStatus().catch(() => undefined);
        }
        if (errors.current >= MAX_SSE_ERRORS) {
          source?.close();
          playErrorSound();
          return;
        }
        if (source?.readyState === EventSource.CLOSED) {
          source.close();
          timer = setTimeout(connect, Math.min(8000, 500 * 2 ** errors.current));
        }
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      source?.close();
    };
  }, [generation, signedOut]);

  const retry = useCallback(() => {
    dispatch({ kind: "sse_retry" });
    setGeneration((g) => g + 1);
  }, []);

  const pendingCount = Object.keys(state.pending).length;
  useEffect(() => {
    document.title = documentTitle(pendingCount);
  }, [pendingCount]);

  // Unread incidents: those after the last visit of the incidents page.
  const refreshUnread = useCallback(() => {
    const since = readStorage(STORAGE_KEYS.incidentsLastSeen) ?? undefined;
    endpoints
      .incidentsSummary(since)
      .then((summary) => setUnread(summary.new_count ?? 0))
      .catch(() => undefined);
  }, []);
  useEffect(() => {
    if (!signedOut) refreshUnread();
  }, [state.versions.incidents, signedOut, refreshUnread]);

  const markIncidentsSeen = useCallback((lastSeen: string) => {
    writeStorage(STORAGE_KEYS.incidentsLastSeen, lastSeen);
    setUnread(0);
  }, []);

  const decide = useCallback(async (entry: PendingEntry, verb: DecisionVerb) => {
    try {
      await endpoints.decide(entry.proxy_name, entry, verb);
      dispatch({ kind: "remove_pending", id: entry.id, closed: { outcome: "decided", decision: verb.replace("-", "_") }, now: Date.now() });
      toastSuccess(`${DECIDED[verb]}: ${entry.tool_name} on '${entry.proxy_name}'`);
    } catch (error) {
      if (error instanceof ApiError && error.code === "APPROVAL_NOT_FOUND") {
        dispatch({ kind: "remove_pending", id: entry.id });
      }
      toastError(error, `Could not ${verb === "deny" ? "deny" : "allow"} ${entry.tool_name}`);
    }
  }, []);

  const value = useMemo(
    () => ({ state, dispatch, signedOut, retry, decide, unreadIncidents, markIncidentsSeen }),
    [state, signedOut, retry, decide, unreadIncidents, markIncidentsSeen],
  );
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveContextValue {
  const value = useContext(LiveContext);
  if (!value) throw new Error("useLive must be used inside <LiveProvider>");
  return value;
}

/** A clock for countdowns, ticking every `interval` ms while mounted. */
export function useNow(interval = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), interval);
    return () => clearInterval(timer);
  }, [interval]);
  return now;
}

export { MAX_SSE_ERRORS };
