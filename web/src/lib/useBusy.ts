import { useState } from "react";

/** `busy` while a task runs; a failure goes to `onError`. */
export function useBusy() {
  const [busy, setBusy] = useState(false);
  const run = async (task: () => Promise<unknown>, onError: (error: unknown) => void) => {
    setBusy(true);
    try {
      await task();
    } catch (error) {
      onError(error);
    } finally {
      setBusy(false);
    }
  };
  return { busy, run };
}
