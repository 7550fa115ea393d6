/** What stopped a save, as an alert; nothing when there is no problem. */
export function ProblemList({ problems, title }: { problems: string[]; title?: string }) {
  if (problems.length === 0) return null;
  return (
    <div className="callout callout-error" role="alert">
      {title && <strong>{title}</strong>}
      <ul className="plain-list">
        {problems.map((problem) => (
          <li key={problem}>{problem}</li>
        ))}
      </ul>
    </div>
  );
}
