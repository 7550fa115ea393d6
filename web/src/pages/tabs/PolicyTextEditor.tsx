import { useEffect, useRef, useState } from "react";
import { errorList } from "../../api/client";
import { endpoints } from "../../api/endpoints";
import type { PolicyDocument, ProxyDetail, ReplayReport, TextProblem } from "../../api/types";
import { BusyButton } from "../../components/BusyButton";
import { ProblemList } from "../../components/ProblemList";
import { useBusy } from "../../lib/useBusy";
import { problemsByLine } from "../../state/policyText";
import { PolicyPreview } from "./PolicyPreview";

const CHECK_DELAY_MS = 400;

interface Props {
  proxy: ProxyDetail;
  /** The text the editor opens with (the file as it is, when it is broken). */
  initial: string;
  /** Its problems, when the server already checked it. */
  initialProblems?: TextProblem[];
  onSaved: () => void;
}

/** The policy as text, with a line-number gutter: every problem the server finds (bad JSON, or what
 * the policy model refuses) is marked at its line and listed below, and checked again as you type.
 * Saving sends the parsed text through the same PUT as every other edit. */
export function PolicyTextEditor({ proxy, initial, initialProblems = [], onSaved }: Props) {
  const [text, setText] = useState(initial);
  const [problems, setProblems] = useState<TextProblem[]>(initialProblems);
  const [saveErrors, setSaveErrors] = useState<string[]>([]);
  const { busy, run } = useBusy();
  // The preview of what the text would change, for that text only (an edit hides it).
  const [preview, setPreview] = useState<{ text: string; report: ReplayReport } | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const checked = useRef(initial);
  useEffect(() => {
    setText(initial);
    setProblems(initialProblems);
    checked.current = initial;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [initial]);

  // Check the text as it is edited, once typing pauses (the server's own validation: the same words as a save).
  useEffect(() => {
    if (text === checked.current) return;
    const timer = setTimeout(() => {
      endpoints.checkPolicyText(proxy.proxy_id, text).then(
        (answer) => {
          checked.current = text;
          setProblems(answer.problems);
        },
        () => undefined, // a failed check says nothing; Save checks again
      );
    }, CHECK_DELAY_MS);
    return () => clearTimeout(timer);
  }, [text, proxy.proxy_id]);

  const lines = text.split("\n");
  const marks = problemsByLine(problems);
  const dirty = text !== initial;

  const goTo = (line: number) => {
    const editor = area.current;
    if (!editor) return;
    const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
    editor.focus();
    editor.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
  };

  const previewChanges = () =>
    run(async () => {
      setSaveErrors([]);
      const { problems: found } = await endpoints.checkPolicyText(proxy.proxy_id, text);
      checked.current = text;
      setProblems(found);
      if (found.length) return;
      const report = await endpoints.previewPolicy(proxy.proxy_id, JSON.parse(text) as PolicyDocument);
      setPreview({ text, report });
    }, (error) => setSaveErrors(errorList(error)));

  const save = () =>
    run(async () => {
      setSaveErrors([]);
      const { problems: found } = await endpoints.checkPolicyText(proxy.proxy_id, text);
      checked.current = text;
      setProblems(found);
      if (found.length) return;
      await endpoints.putPolicy(proxy.proxy_id, JSON.parse(text) as PolicyDocument);
      onSaved();
    }, (error) => setSaveErrors(errorList(error)));

  return (
    <section className="stack">
      <label htmlFor="policy-json" className="label">
        Policy JSON
      </label>
      <div className={`line-editor${dirty ? " dirty" : ""}`}>
        <div className="line-gutter mono" aria-hidden="true">
          {lines.map((_, index) => {
            const here = marks.get(index + 1);
            return (
              <div key={index} className={here ? "line-bad" : undefined} title={here?.join("\n")} data-line={index + 1}>
                {index + 1}
              </div>
            );
          })}
        </div>
        <textarea
          id="policy-json"
          ref={area}
          className="code-editor mono"
          spellCheck={false}
          wrap="off"
          rows={lines.length + 1}
          value={text}
          aria-invalid={problems.length > 0 || undefined}
          aria-describedby={problems.length ? "policy-problems" : undefined}
          onChange={(e) => setText(e.target.value)}
        />
      </div>
      {problems.length > 0 && (
        <div id="policy-problems" className="callout callout-error" role="alert" data-testid="policy-problems">
          <strong>{problems.length === 1 ? "1 problem" : `${problems.length} problems`}:</strong>
          <ul className="plain-list">
            {problems.map((problem, index) => (
              <li key={index} data-line={problem.line}>
                <button type="button" className="link-button mono" onClick={() => goTo(problem.line)}>
                  line {problem.line}
                </button>{" "}
                {problem.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      <ProblemList problems={saveErrors} title="The policy was not saved:" />
      {preview && preview.text === text && <PolicyPreview report={preview.report} />}
      <div className="row gap">
        <BusyButton className="button button-primary" busy={busy} onClick={() => void save()}>
          Save policy
        </BusyButton>
        <BusyButton className="button" busy={busy} onClick={() => void previewChanges()} disabled={!dirty}>
          Preview changes
        </BusyButton>
        <button type="button" className="button" onClick={() => { setText(initial); setProblems(initialProblems); setSaveErrors([]); }} disabled={!dirty}>
          Discard changes
        </button>
        {dirty && <span className="muted small">Unsaved changes</span>}
      </div>
    </section>
  );
}
