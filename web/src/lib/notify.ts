import { toast } from "sonner";
import { errorMessage } from "../api/client";
import { TOAST_DURATION, type Notice } from "../state/live";
import { playChime, playErrorSound } from "./sound";

export function notify(notice: Notice): void {
  const duration = TOAST_DURATION[notice.level];
  switch (notice.level) {
    case "success":
      toast.success(notice.message, { duration });
      break;
    case "info":
      toast.info(notice.message, { duration });
      break;
    case "warning":
      toast.warning(notice.message, { duration });
      break;
    case "error":
      toast.error(notice.message, { duration });
      break;
    case "critical":
      toast.error(notice.message, { duration, className: "toast-critical" });
      break;
  }
  if (notice.sound === "chime") playChime();
  if (notice.sound === "error" || notice.level === "critical") playErrorSound();
}

export const toastSuccess = (message: string) => notify({ level: "success", message });
export const toastInfo = (message: string) => notify({ level: "info", message });
export const toastWarning = (message: string) => notify({ level: "warning", message });
/** An API failure: the server's own message. */
export const toastError = (error: unknown, prefix?: string) =>
  notify({ level: "error", message: prefix ? `${prefix}: ${errorMessage(error)}` : errorMessage(error) });
