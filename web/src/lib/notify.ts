import { toast } from "sonner";
import { errorMessage } from "../api/client";
import { TOAST_DURATION, type Notice } from "../state/live";
import { playChime, playErrorSound } from "./sound";

const SHOW = { success: toast.success, info: toast.info, warning: toast.warning, error: toast.error, critical: toast.error };

export function notify(notice: Notice): void {
  SHOW[notice.level](notice.message, { duration: TOAST_DURATION[notice.level], className: notice.level === "critical" ? "toast-critical" : undefined });
  if (notice.sound === "chime") playChime();
  if (notice.sound === "error" || notice.level === "critical") playErrorSound();
}

export const toastSuccess = (message: string) => notify({ level: "success", message });
export const toastInfo = (message: string) => notify({ level: "info", message });
export const toastWarning = (message: string) => notify({ level: "warning", message });
/** An API failure: the server's own message. */
export const toastError = (error: unknown, prefix?: string) =>
  notify({ level: "error", message: prefix ? `${prefix}: ${errorMessage(error)}` : errorMessage(error) });
