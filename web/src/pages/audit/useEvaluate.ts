import { useState } from "react";
import { errorMessage } from "../../api/client";
import { endpoints } from "../../api/endpoints";
import type { EvaluateResult } from "../../api/types";
import { useBusy } from "../../lib/useBusy";
import type { EvaluateBody } from "../../state/explain";

/** Ask a running proxy's policy engine what it would decide (a dry run: nothing is logged). */
export function useEvaluate(proxyName: string) {
  const [result, setResult] = useState<EvaluateResult | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const { busy, run } = useBusy();
  const evaluate = (body: EvaluateBody) => {
    setProblem(null);
    void run(async () => setResult(await endpoints.evaluate(proxyName, body)), (error) => setProblem(errorMessage(error)));
  };
  return { result, setResult, problem, setProblem, busy, evaluate };
}
