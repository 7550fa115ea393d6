import type { ProxyDetail } from "../../api/types";
import { DryRunForm } from "../audit/DryRunForm";
import { IntegrityPanel } from "../audit/IntegrityPanel";
import { LogViewer } from "../audit/LogViewer";

interface Props {
  proxy: ProxyDetail;
  status: "running" | "inactive";
  onIntegrity: (hasIssues: boolean) => void;
}

export function AuditTab({ proxy, status, onIntegrity }: Props) {
  const running = status === "running";
  return (
    <div className="audit-layout">
      <div className="stack-lg audit-main">
        <LogViewer proxy={proxy} running={running} />
      </div>
      <aside className="stack-lg audit-side">
        <IntegrityPanel proxy={proxy} onIntegrity={onIntegrity} />
        <DryRunForm proxy={proxy} running={running} />
      </aside>
    </div>
  );
}
